"""A program as the use cases see it: identity, currency and time zone.

What it earns and how is its definition, published as numbered versions (``rules.definition``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

from loyalty.domain.time import zone


@dataclass(frozen=True)
class Program:
    id: str
    name: str
    currency: str
    time_zone: str

    @cached_property
    def tz(self) -> ZoneInfo:
        return zone(self.time_zone)

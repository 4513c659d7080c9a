"""A program as the use cases see it: identity, currency, time zone and its parsed settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

from loyalty.domain.time import zone
from loyalty.rules.settings import ProgramSettings


@dataclass(frozen=True)
class Program:
    id: str
    name: str
    currency: str
    time_zone: str
    settings: ProgramSettings

    @cached_property
    def tz(self) -> ZoneInfo:
        return zone(self.time_zone)

"""Proactive notices: what the program tells a member before the member has to ask.

A notice has a *kind* (points about to expire, close to the next tier, tier about to drop,
lapsed, birthday, a reward back in stock) and an *occasion*: the text that says which
happening of that kind it is about. A member gets one notice per kind and occasion, however
often the notices job runs; a new occasion (another expiry date, another year, a lapse after a
new purchase) is a new notice. The occasion of each kind:

- ``points_expiring``: the last day on which the soonest-expiring points can be used, in the
  program's zone (``2026-03-31``), as the balance shows it;
- ``near_next_tier``: the tier within reach and the qualification period in force
  (``gold:2026-01-01``, the period's first day; ``gold:lifetime`` for lifetime windows);
- ``tier_drop``: the tier the member falls to and the day of the drop (``silver:2027-01-01``);
- ``lapsed``: the day of the member's last purchase (``2025-11-02``);
- ``birthday``: the year, in the program's zone (``2026``);
- ``reward_back_in_stock``: the reward and when the member started waiting for it
  (``coffee:2026-03-10T12:00:00+00:00``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.domain.ledger import last_usable_day


class NoticeKind(StrEnum):
    POINTS_EXPIRING = "points_expiring"
    NEAR_NEXT_TIER = "near_next_tier"
    TIER_DROP = "tier_drop"
    LAPSED = "lapsed"
    BIRTHDAY = "birthday"
    REWARD_BACK_IN_STOCK = "reward_back_in_stock"

    @property
    def event_type(self) -> str:
        """The outbox event that carries a notice of this kind to the webhooks."""
        return f"notice.{self.value}"


@dataclass(frozen=True, slots=True)
class NewNotice:
    member_id: str
    kind: NoticeKind
    occasion: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notice:
    """A notice as read back."""

    id: int
    member_id: str
    kind: NoticeKind
    occasion: str
    created_at: datetime
    payload: dict[str, Any]


def birthday_suffixes(today: date) -> tuple[str, ...]:
    """The ``-MM-DD`` endings of the birth dates (``YYYY-MM-DD``) whose birthday is ``today``.
    A 29 February birthday is kept on 28 February in other years, as birthday events do."""
    found = [f"-{today.month:02d}-{today.day:02d}"]
    if (today.month, today.day) == (2, 28) and not _leap(today.year):
        found.append("-02-29")
    return tuple(found)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def within_reach(threshold: int, percent: int) -> int:
    """The smallest measure that is within ``percent`` % of ``threshold`` (rounded up, so
    that "within 10 % of 500" starts at 450 exactly)."""
    return -(-threshold * (100 - percent) // 100)


@dataclass(frozen=True, slots=True)
class Expiring:
    """The soonest day on which some of a member's points expire, and how many."""

    last_usable_day: date
    expires_at: datetime  # the first instant of that day at which points expire
    points: int


def soonest_expiry(expiries: Iterable[tuple[datetime, int]], tz: ZoneInfo) -> Expiring | None:
    """Of (expiry instant, points) pairs, the points whose last usable day comes first: points
    expiring at several instants of one day are one notice, not several."""
    by_day: dict[date, list[tuple[datetime, int]]] = {}
    for expires_at, points in expiries:
        by_day.setdefault(last_usable_day(expires_at, tz), []).append((expires_at, points))
    if not by_day:
        return None
    day = min(by_day)
    return Expiring(day, min(at for at, _ in by_day[day]), sum(p for _, p in by_day[day]))

"""Builders for the tier tests: ladders in the program's words, instants as clocks show them.

This module holds no tests. It is named ``test_tiers_*`` only because the tier tests may add
files under that name and no other; the tier test modules import from it.

Wall-clock times are written where a member would read them (``in_paris("2025-12-31 23:59")``);
the expected instants are written in UTC (``utc("2025-12-31T23:00Z")``), with the arithmetic
from one to the other in a comment next to each.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from loyalty.domain.money import Money
from loyalty.domain.tiers import DowngradePolicy, Ladder, Level, Measure, WindowKind

PARIS = ZoneInfo("Europe/Paris")  # CET (UTC+1) in winter, CEST (UTC+2) in summer
AUCKLAND = ZoneInfo("Pacific/Auckland")  # NZDT (UTC+13) in the southern summer, NZST (UTC+12)
NEW_YORK = ZoneInfo("America/New_York")  # EST (UTC-5) in winter


def in_zone(wall_clock: str, tz: ZoneInfo) -> datetime:
    """``"2025-12-31 23:59"`` on a clock in ``tz``."""
    return datetime.fromisoformat(wall_clock).replace(tzinfo=tz)


def in_paris(wall_clock: str, *, second_time: bool = False) -> datetime:
    """A Paris wall-clock time; ``second_time`` for the repeated hour of an October night.

    That one is returned as its UTC instant: Python never finds a time of a repeated hour equal
    to a time in another zone (PEP 495), so it would not compare with the expected instants.
    """
    if second_time:
        return in_zone(wall_clock, PARIS).replace(fold=1).astimezone(UTC)
    return in_zone(wall_clock, PARIS)


def utc(text: str) -> datetime:
    """``"2025-12-31T23:00Z"``: an instant written in UTC."""
    return datetime.fromisoformat(text)


def euros(amount: str) -> int:
    """A spend measure or threshold in minor units: ``euros("500.00") == 50_000``."""
    return Money.parse(amount, "EUR").minor


def levels(*steps: tuple[str, int]) -> tuple[Level, ...]:
    """Levels from the lowest up: ``("member", 0), ("silver", 10)``; names are the ids."""
    return tuple(Level(tier_id, tier_id.title(), threshold, rank)
                 for rank, (tier_id, threshold) in enumerate(steps))


# The ladder most tests climb: spend in a calendar year, in EUR.
MEMBER_SILVER_GOLD_PLATINUM = levels(("member", 0), ("silver", euros("500.00")),
                                     ("gold", euros("1500.00")),
                                     ("platinum", euros("5000.00")))


def a_ladder(*steps: tuple[str, int], measure: Measure = Measure.SPEND,
             window: WindowKind = WindowKind.CALENDAR_YEAR, months: int = 12,
             downgrade: DowngradePolicy = DowngradePolicy.PERIOD_END) -> Ladder:
    """A ladder of these levels (member/silver/gold/platinum on spend unless given)."""
    return Ladder(levels=levels(*steps) if steps else MEMBER_SILVER_GOLD_PLATINUM,
                  measure=measure, window=window, months=months, downgrade=downgrade)


def rolling(months: int) -> Ladder:
    return a_ladder(window=WindowKind.ROLLING, months=months)


def a_window(kind: WindowKind) -> Ladder:
    return a_ladder(window=kind)

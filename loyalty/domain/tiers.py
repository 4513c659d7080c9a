"""Tiers: a ladder of levels reached by a qualifying measure over a window, pure.

The *measure* is qualifying spend (minor units), qualifying points, or a number of purchases,
summed over a *window*: the member's whole life, a rolling number of months, the calendar year,
or the membership year (from the enrolment anniversary), in the program's time zone.

Thresholds are inclusive. A member moves up at once when the measure reaches a threshold.
Moving down follows the program's policy, at the end of each *qualification period* (the
calendar or membership year; a month for rolling windows; never for lifetime windows):
``none`` keeps the tier for life; ``period_end`` re-evaluates on the period just ended;
``one_step`` drops at most one level per period; an optional grace delays a drop. A tier set by
an agent with an end date is a floor until then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from loyalty.domain.time import add_months, local_date, start_of_day, utc


class Measure(StrEnum):
    SPEND = "spend"  # minor units of the program's currency
    POINTS = "points"  # qualifying points earned
    PURCHASES = "purchases"


class WindowKind(StrEnum):
    LIFETIME = "lifetime"
    ROLLING = "rolling"  # the last ``months`` months
    CALENDAR_YEAR = "calendar_year"
    MEMBERSHIP_YEAR = "membership_year"


class DowngradePolicy(StrEnum):
    NONE = "none"
    PERIOD_END = "period_end"
    ONE_STEP = "one_step"


class TierChangeReason(StrEnum):
    THRESHOLD = "threshold"  # the measure reached a higher tier
    PERIOD_REVIEW = "period_review"
    MANUAL = "manual"
    RETURN = "return"
    LADDER = "ladder_change"
    MERGE = "merge"  # two members found to be one person


@dataclass(frozen=True, slots=True)
class Level:
    id: str
    name: str
    threshold: int  # in the measure's unit; the lowest level's is 0
    rank: int  # 0 for the lowest level


@dataclass(frozen=True)
class Ladder:
    """Levels ordered from the lowest (threshold 0) up."""

    levels: tuple[Level, ...]
    measure: Measure
    window: WindowKind
    months: int = 12  # for rolling windows
    downgrade: DowngradePolicy = DowngradePolicy.PERIOD_END
    grace_days: int = 0

    def level(self, tier_id: str | None) -> Level:
        for level in self.levels:
            if level.id == tier_id:
                return level
        return self.levels[0]

    def reached(self, measure: int) -> Level:
        """The highest level whose (inclusive) threshold the measure reaches."""
        found = self.levels[0]
        for level in self.levels:
            if measure >= level.threshold:
                found = level
        return found

    def above(self, level: Level) -> Level | None:
        return self.levels[level.rank + 1] if level.rank + 1 < len(self.levels) else None

    # -- windows and periods ------------------------------------------------------------------

    def window_start(self, at: datetime, enrolled_at: datetime, tz: ZoneInfo) -> datetime | None:
        """Where the measure's window starts, for the measure as of ``at`` (None: always)."""
        if self.window is WindowKind.LIFETIME:
            return None
        if self.window is WindowKind.ROLLING:
            return utc(add_months(utc(at).astimezone(tz), -self.months))
        return self.period_bounds(at, enrolled_at, tz)[0]

    def period_bounds(self, at: datetime, enrolled_at: datetime, tz: ZoneInfo
                      ) -> tuple[datetime, datetime]:
        """The qualification period holding ``at``: [start, end) as UTC instants."""
        day = local_date(at, tz)
        if self.window is WindowKind.CALENDAR_YEAR:
            return start_of_day(date(day.year, 1, 1), tz), start_of_day(date(day.year + 1, 1, 1),
                                                                        tz)
        if self.window is WindowKind.MEMBERSHIP_YEAR:
            anniversary = local_date(enrolled_at, tz)
            start = _anniversary(anniversary, day.year)
            if start > day:
                start = _anniversary(anniversary, day.year - 1)
            end = _anniversary(anniversary, start.year + 1)
            return start_of_day(start, tz), start_of_day(end, tz)
        # rolling windows are reviewed each month; lifetime ones never end (a far period)
        first = day.replace(day=1)
        if self.window is WindowKind.LIFETIME:
            return start_of_day(date(1970, 1, 1), tz), start_of_day(date(9999, 1, 1), tz)
        after = (first + timedelta(days=32)).replace(day=1)
        return start_of_day(first, tz), start_of_day(after, tz)

    # -- moving down ----------------------------------------------------------------------------

    def after_review(self, current: Level, measure: int, floor: Level | None) -> Level:
        """The tier a member keeps after the review of a period in which the measure was
        ``measure``: per the downgrade policy, never below the agent's floor, never up here
        (upgrades happen at once, not at reviews)."""
        if self.downgrade is DowngradePolicy.NONE:
            target = current
        else:
            target = self.reached(measure)
            if target.rank > current.rank:
                target = current
            if self.downgrade is DowngradePolicy.ONE_STEP and target.rank < current.rank - 1:
                target = self.levels[current.rank - 1]
        if floor is not None and floor.rank > target.rank:
            target = floor
        return target


def _anniversary(enrolled: date, year: int) -> date:
    """The enrolment anniversary in ``year`` (29 February falls on 28 February)."""
    try:
        return enrolled.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a member stands: what the balance answer shows."""

    tier: Level
    measure: int
    next_tier: Level | None
    needed: int | None  # how much more of the measure reaches the next tier
    requalify_by: datetime | None  # the end of the current qualification period
    would_fall_to: Level | None  # the tier the review would leave, measured as of now
    floor_until: datetime | None = None


def progress(ladder: Ladder, tier: Level, measure: int, *, now: datetime,
             enrolled_at: datetime, tz: ZoneInfo, floor: Level | None = None,
             floor_until: datetime | None = None) -> Progress:
    following = ladder.above(tier)
    needed = max(following.threshold - measure, 0) if following else None
    if ladder.window is WindowKind.LIFETIME or ladder.downgrade is DowngradePolicy.NONE:
        requalify_by, falls_to = None, None
    else:
        requalify_by = ladder.period_bounds(now, enrolled_at, tz)[1]
        active_floor = floor if floor_until is None or floor_until > requalify_by else None
        falls_to = ladder.after_review(tier, measure, active_floor)
    return Progress(tier, measure, following, needed, requalify_by, falls_to, floor_until)

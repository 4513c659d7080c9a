"""The points ledger: entry kinds, earn lots, spending in first-expiring-first-out order, expiry.

The ledger is append-only: every change of a member's points is a new entry that says why it
exists. Each earn creates a *lot* (its points, what remains, when it expires, and, for pending
points, when it becomes available). Spending and expiry take points out of lots; the entries that
do so record how much they took from which lot, so every lot's remainder can be re-derived.

A member's summary (available, pending, lifetime totals) is a cache of the entries, kept in the same
transaction; ``loyalty ledger verify`` proves the cache equals the sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from loyalty.domain.errors import InsufficientPoints
from loyalty.domain.time import add_months, local_date, start_of_day, utc
from loyalty.domain.time import end_of_month as month_end


class EntryKind(StrEnum):
    """Why a ledger entry exists. ``available_delta``/``pending_delta`` say what it moved."""

    EARN = "earn"  # points available at once
    PENDING_EARN = "pending_earn"  # points that wait for the return window
    RELEASE = "release"  # pending points that became available
    REDEEM = "redeem"  # points spent (a debit, a reward, points paid at the till)
    REVERSE = "reverse"  # points taken back by a return or a cancellation
    EXPIRE = "expire"  # what was left of lots past their expiry
    ADJUST = "adjust"  # a goodwill or correcting adjustment by an agent
    TRANSFER = "transfer"  # points moved between members


class LotStatus(StrEnum):
    PENDING = "pending"
    AVAILABLE = "available"


@dataclass(frozen=True, slots=True)
class Lot:
    """What the spending and expiry rules need to know about one earn lot."""

    id: int
    remaining: int
    earned_at: datetime
    expires_at: datetime | None = None

    def is_spendable(self, now: datetime) -> bool:
        return self.remaining > 0 and (self.expires_at is None or self.expires_at > now)

    def is_due_to_expire(self, now: datetime) -> bool:
        return self.remaining > 0 and self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class Allocation:
    """``points`` taken from lot ``lot_id`` by one entry."""

    lot_id: int
    points: int


def fefo_key(lot: Lot) -> tuple[bool, datetime, datetime, int]:
    """Sort key: soonest expiry first, never-expiring lots last, then oldest, then lowest id."""
    return (lot.expires_at is None, lot.expires_at or lot.earned_at, lot.earned_at, lot.id)


def allocate_fefo(lots: Iterable[Lot], points: int, now: datetime) -> list[Allocation]:
    """Take ``points`` from the spendable ``lots``, soonest-expiring first.

    Lots past their expiry are never spent, even if the expiry job has not reached them yet.
    Raises ``InsufficientPoints`` (with ``available`` and ``required``) when they do not cover it.
    """
    if points <= 0:
        raise ValueError("a debit takes a positive number of points")
    spendable = sorted((lot for lot in lots if lot.is_spendable(now)), key=fefo_key)
    available = sum(lot.remaining for lot in spendable)
    if available < points:
        raise InsufficientPoints(
            f"the member has {available} points available and {points} are required",
            available=available,
            required=points,
        )
    allocations: list[Allocation] = []
    still_needed = points
    for lot in spendable:
        taken = min(lot.remaining, still_needed)
        allocations.append(Allocation(lot.id, taken))
        still_needed -= taken
        if still_needed == 0:
            break
    return allocations


class ExpiryMode(StrEnum):
    NEVER = "never"
    AFTER = "after"  # a fixed period after the points were earned
    INACTIVITY = "inactivity"  # all points, a period after the member's last earn or spend


class PeriodUnit(StrEnum):
    DAYS = "days"
    MONTHS = "months"


class ExpiryRounding(StrEnum):
    NONE = "none"  # the exact instant, ``period`` after earning
    END_OF_DAY = "end_of_day"
    END_OF_MONTH = "end_of_month"


@dataclass(frozen=True)
class ExpiryPolicy:
    """When earned points expire, as a program setting.

    ``after`` N days or months from the moment of earning, optionally rounded to the end of that
    day or month in the program's time zone; or ``inactivity``: all of a member's points expire
    N days or months (rounded alike) after the member's last activity (an earn or a spend), so
    any activity keeps every point alive. That day is the *expiry date*; with
    ``usable_through_expiry_date`` (the default) the points can still be spent on it and expire at
    the start of the next day, otherwise they expire at the start of the expiry date itself.
    Without rounding, points expire at the exact instant and the flag has nothing to decide.
    """

    mode: ExpiryMode = ExpiryMode.NEVER
    period: int = 12
    unit: PeriodUnit = PeriodUnit.MONTHS
    rounding: ExpiryRounding = ExpiryRounding.END_OF_MONTH
    usable_through_expiry_date: bool = True

    def __post_init__(self) -> None:
        if self.mode is not ExpiryMode.NEVER and self.period <= 0:
            raise ValueError("an expiry period must be a positive number of days or months")

    def expires_at(self, earned_at: datetime, tz: ZoneInfo) -> datetime | None:
        """The first instant at which points earned at ``earned_at`` are no longer usable
        (``None`` for never, and for inactivity, where it depends on what happens next)."""
        if self.mode is not ExpiryMode.AFTER:
            return None
        return self._after(earned_at, tz)

    def inactive_from(self, last_activity: datetime, tz: ZoneInfo) -> datetime | None:
        """Under the inactivity policy, when a member last active at ``last_activity`` loses
        every point; ``None`` under the other policies."""
        if self.mode is not ExpiryMode.INACTIVITY:
            return None
        return self._after(last_activity, tz)

    def _after(self, start: datetime, tz: ZoneInfo) -> datetime:
        local = utc(start).astimezone(tz)
        if self.rounding is ExpiryRounding.NONE:
            if self.unit is PeriodUnit.MONTHS:
                return utc(add_months(local, self.period))
            return utc(local + timedelta(days=self.period))
        return _rounded_expiry(self, local.date(), tz)


@lru_cache(maxsize=4096)
def _rounded_expiry(policy: ExpiryPolicy, day: date, tz: ZoneInfo) -> datetime:
    """A rounded expiry depends only on the calendar day the period starts (in ``tz``): the
    period is counted in days or months on the calendar, then rounded to its day's or month's
    end. Every posting asks, and most of a day's postings ask about one day (cached)."""
    if policy.unit is PeriodUnit.MONTHS:
        expiry_date = add_months(day, policy.period)
    else:
        expiry_date = day + timedelta(days=policy.period)
    if policy.rounding is ExpiryRounding.END_OF_MONTH:
        expiry_date = month_end(expiry_date)
    if policy.usable_through_expiry_date:
        return start_of_day(expiry_date + timedelta(days=1), tz)
    return start_of_day(expiry_date, tz)


def last_usable_day(expires_at: datetime, tz: ZoneInfo) -> date:
    """The last calendar day (in ``tz``) on which a lot expiring at ``expires_at`` can be spent."""
    return local_date(expires_at - timedelta(microseconds=1), tz)


@dataclass(frozen=True)
class PendingPolicy:
    """When earned points become available: at once, or after a return window of ``days``."""

    days: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.days <= 3650:
            raise ValueError("the pending period is between 0 and 3650 days")

    def available_at(self, earned_at: datetime) -> datetime | None:
        """When points earned at ``earned_at`` become available, or ``None`` for at once."""
        if self.days == 0:
            return None
        return utc(earned_at) + timedelta(days=self.days)


@dataclass(frozen=True, slots=True)
class Balance:
    """A member's summary row: what the ledger entries add up to."""

    available: int = 0
    pending: int = 0
    lifetime_earned: int = 0
    lifetime_redeemed: int = 0
    lifetime_expired: int = 0
    lifetime_reversed: int = 0
    lifetime_adjusted: int = 0
    debt: int = 0  # reversed after being spent (negative-balance policy "allow")


@dataclass(frozen=True, slots=True)
class BalanceChange:
    """What one entry does to the summary row (each field is added to the row)."""

    available: int = 0
    pending: int = 0
    lifetime_earned: int = 0
    lifetime_redeemed: int = 0
    lifetime_expired: int = 0
    lifetime_reversed: int = 0
    lifetime_adjusted: int = 0
    debt: int = 0


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A ledger entry about to be appended; ``reason`` is mandatory, in words."""

    kind: EntryKind
    points: int
    available_delta: int
    pending_delta: int
    occurred_at: datetime
    reason: str
    purchase_id: str | None = None
    lot_id: int | None = None
    external_ref: str | None = None
    rule_id: str | None = None
    rule_version: int | None = None
    rules: tuple[str, ...] | None = None
    event_id: str | None = None
    actor: str | None = None
    explanation: tuple[dict[str, object], ...] | None = None
    approved_by: str | None = None

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("every ledger entry says why it exists")


@dataclass(frozen=True, slots=True)
class Entry:
    """A ledger entry as read back."""

    id: int
    kind: EntryKind
    points: int
    available_delta: int
    pending_delta: int
    occurred_at: datetime
    recorded_at: datetime
    reason: str
    purchase_id: str | None
    external_ref: str | None
    rule_id: str | None
    rule_version: int | None
    rules: tuple[str, ...] | None
    event_id: str | None
    actor: str | None
    explanation: tuple[dict[str, object], ...] | None

"""Instants and calendars.

Instants are timezone-aware UTC ``datetime`` values. Calendar logic ("end of the month", "the
expiry date") happens in the program's IANA time zone and is converted back to UTC at once.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_Day = TypeVar("_Day", bound=date)


def utc(instant: datetime) -> datetime:
    """Return ``instant`` in UTC; a naive datetime is a programming error, never guessed."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("a naive datetime has no meaning as an instant; give it a time zone")
    return instant.astimezone(UTC)


def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; ``ValueError`` if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{name!r} is not an IANA time zone") from error


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar date of ``instant`` on a wall clock in ``tz``."""
    return utc(instant).astimezone(tz).date()


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which ``day`` begins in ``tz`` (midnight, or just after a DST gap)."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def end_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(instant: _Day, months: int) -> _Day:
    """Same day-of-month ``months`` later, clamped to the month's end (Jan 31 + 1 = Feb 28/29):
    of an instant (its wall-clock time kept) or of a date."""
    month_index = instant.month - 1 + months
    year, month = instant.year + month_index // 12, month_index % 12 + 1
    day = min(instant.day, calendar.monthrange(year, month)[1])
    return instant.replace(year=year, month=month, day=day)

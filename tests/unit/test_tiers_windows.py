"""Tier windows and qualification periods: where a measure starts counting, when a period ends.

Every expected instant is worked out by hand from the zone's offsets (Paris is UTC+1 in winter,
UTC+2 in summer; Auckland is UTC+13 in its summer) and written in UTC, as the ladder answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty.domain.tiers import Ladder, WindowKind
from tests.unit.test_tiers_builders import (
    AUCKLAND,
    NEW_YORK,
    PARIS,
    a_window,
    in_paris,
    in_zone,
    rolling,
    utc,
)

CALENDAR_YEAR = a_window(WindowKind.CALENDAR_YEAR)
MEMBERSHIP_YEAR = a_window(WindowKind.MEMBERSHIP_YEAR)
LIFETIME = a_window(WindowKind.LIFETIME)
# Enrolment does not matter to calendar, rolling and lifetime windows.
LONG_AGO = utc("2020-06-15T10:00Z")


def period(ladder: Ladder, at: datetime, *, enrolled_at: datetime = LONG_AGO,
           tz: ZoneInfo = PARIS) -> tuple[datetime, datetime]:
    """The qualification period holding ``at``, on the program's clock in ``tz``."""
    return ladder.period_bounds(at, enrolled_at, tz)


def window_start(ladder: Ladder, at: datetime, *, enrolled_at: datetime = LONG_AGO,
                 tz: ZoneInfo = PARIS) -> datetime | None:
    """Where the measure as of ``at`` starts counting (None: from the beginning)."""
    return ladder.window_start(at, enrolled_at, tz)


def test_midnight_on_new_years_day_in_paris_is_still_new_years_eve_in_utc() -> None:
    # the premise of the year-end tests below: CET is UTC+1
    assert in_paris("2026-01-01 00:00") == utc("2025-12-31T23:00Z")
    assert in_paris("2025-12-31 23:59") == utc("2025-12-31T22:59Z")


def test_period_bounds_are_utc_instants() -> None:
    start, end = period(CALENDAR_YEAR, in_paris("2026-06-15 12:00"))

    assert start.tzinfo is UTC and end.tzinfo is UTC


# -- calendar year ------------------------------------------------------------------------------


def test_the_last_minute_of_the_year_in_paris_belongs_to_that_year() -> None:
    # 2025 runs from 1 Jan 2025 00:00 CET (2024-12-31 23:00 UTC)
    # to 1 Jan 2026 00:00 CET (2025-12-31 23:00 UTC)
    assert period(CALENDAR_YEAR, in_paris("2025-12-31 23:59")) == (
        utc("2024-12-31T23:00Z"), utc("2025-12-31T23:00Z"))


def test_midnight_on_new_years_day_in_paris_starts_the_new_year_while_utc_is_in_the_old() -> None:
    # 1 Jan 2026 00:00 CET is 2025-12-31 23:00 UTC: already 2026 on the program's clock
    new_year = (utc("2025-12-31T23:00Z"), utc("2026-12-31T23:00Z"))

    assert period(CALENDAR_YEAR, in_paris("2026-01-01 00:00")) == new_year
    assert period(CALENDAR_YEAR, utc("2025-12-31T23:30Z")) == new_year


def test_a_calendar_year_window_starts_where_its_period_starts() -> None:
    assert window_start(CALENDAR_YEAR, in_paris("2025-12-31 23:59")) == utc("2024-12-31T23:00Z")
    assert window_start(CALENDAR_YEAR, in_paris("2026-01-01 00:00")) == utc("2025-12-31T23:00Z")


def test_the_calendar_year_turns_at_midnight_in_auckland_eleven_hours_before_utc() -> None:
    # NZDT is UTC+13: 1 Jan 00:00 in Auckland is 31 Dec 11:00 UTC
    assert period(CALENDAR_YEAR, in_zone("2025-12-31 23:59", AUCKLAND), tz=AUCKLAND) == (
        utc("2024-12-31T11:00Z"), utc("2025-12-31T11:00Z"))
    assert period(CALENDAR_YEAR, in_zone("2026-01-01 00:00", AUCKLAND), tz=AUCKLAND) == (
        utc("2025-12-31T11:00Z"), utc("2026-12-31T11:00Z"))
    assert window_start(CALENDAR_YEAR, utc("2025-12-31T11:00Z"), tz=AUCKLAND) == utc(
        "2025-12-31T11:00Z")


def test_new_years_eve_in_new_york_is_still_the_old_year_when_utc_has_turned() -> None:
    # 31 Dec 2025 23:59 EST (UTC-5) is 1 Jan 2026 04:59 UTC, still 2025 on the program's clock
    assert period(CALENDAR_YEAR, utc("2026-01-01T04:59Z"), tz=NEW_YORK) == (
        utc("2025-01-01T05:00Z"), utc("2026-01-01T05:00Z"))


# -- membership year ----------------------------------------------------------------------------

ENROLLED_ON_LEAP_DAY = in_paris("2024-02-29 10:00")


def test_a_leap_day_members_year_runs_from_28_february_in_a_common_year() -> None:
    # the 2025 anniversary falls on 28 Feb: 28 Feb 2025 00:00 CET = 27 Feb 23:00 UTC,
    # and the next on 28 Feb 2026 00:00 CET = 27 Feb 23:00 UTC
    assert period(MEMBERSHIP_YEAR, in_paris("2025-06-15 12:00"),
                  enrolled_at=ENROLLED_ON_LEAP_DAY) == (
        utc("2025-02-27T23:00Z"), utc("2026-02-27T23:00Z"))


def test_a_leap_day_members_first_year_ends_on_28_february() -> None:
    # from 29 Feb 2024 00:00 CET (28 Feb 23:00 UTC) to 28 Feb 2025 00:00 CET
    assert period(MEMBERSHIP_YEAR, in_paris("2025-02-27 23:59"),
                  enrolled_at=ENROLLED_ON_LEAP_DAY) == (
        utc("2024-02-28T23:00Z"), utc("2025-02-27T23:00Z"))
    assert period(MEMBERSHIP_YEAR, in_paris("2025-02-28 00:00"),
                  enrolled_at=ENROLLED_ON_LEAP_DAY)[0] == utc("2025-02-27T23:00Z")


def test_a_leap_day_members_year_turns_on_29_february_in_a_leap_year() -> None:
    # 2028 is a leap year: the year that began on 28 Feb 2027 ends on 29 Feb 2028 00:00 CET
    # (28 Feb 23:00 UTC), and the next one ends on 28 Feb 2029 00:00 CET
    assert period(MEMBERSHIP_YEAR, in_paris("2028-02-28 23:59"),
                  enrolled_at=ENROLLED_ON_LEAP_DAY) == (
        utc("2027-02-27T23:00Z"), utc("2028-02-28T23:00Z"))
    assert period(MEMBERSHIP_YEAR, in_paris("2028-02-29 00:00"),
                  enrolled_at=ENROLLED_ON_LEAP_DAY) == (
        utc("2028-02-28T23:00Z"), utc("2029-02-27T23:00Z"))


def test_the_anniversary_is_the_enrolment_date_on_the_programs_clock_not_in_utc() -> None:
    # enrolled at 00:30 CET on 29 Feb 2024, which is 28 Feb 23:30 UTC: the anniversary is
    # 29 Feb, so in 2028 the year turns at 29 Feb 00:00 CET (28 Feb 23:00 UTC), not a day earlier
    just_after_midnight = in_paris("2024-02-29 00:30")
    assert just_after_midnight == utc("2024-02-28T23:30Z")

    assert period(MEMBERSHIP_YEAR, in_paris("2028-02-28 12:00"),
                  enrolled_at=just_after_midnight)[1] == utc("2028-02-28T23:00Z")


def test_a_membership_year_from_new_years_day_turns_with_the_paris_clock() -> None:
    # enrolled 1 Jan 2025 00:30 CET (31 Dec 2024 23:30 UTC): the year turns at 00:00 CET
    enrolled = in_paris("2025-01-01 00:30")

    assert period(MEMBERSHIP_YEAR, in_paris("2025-12-31 23:59"), enrolled_at=enrolled) == (
        utc("2024-12-31T23:00Z"), utc("2025-12-31T23:00Z"))
    assert period(MEMBERSHIP_YEAR, in_paris("2026-01-01 00:00"), enrolled_at=enrolled) == (
        utc("2025-12-31T23:00Z"), utc("2026-12-31T23:00Z"))


def test_a_membership_year_in_auckland_turns_at_midnight_there() -> None:
    # enrolled 1 Jan 2025 00:30 NZDT, which is 31 Dec 2024 11:30 UTC; NZDT is UTC+13
    enrolled = in_zone("2025-01-01 00:30", AUCKLAND)

    assert period(MEMBERSHIP_YEAR, in_zone("2025-12-31 23:59", AUCKLAND), enrolled_at=enrolled,
                  tz=AUCKLAND) == (utc("2024-12-31T11:00Z"), utc("2025-12-31T11:00Z"))
    assert period(MEMBERSHIP_YEAR, utc("2025-12-31T11:00Z"), enrolled_at=enrolled,
                  tz=AUCKLAND) == (utc("2025-12-31T11:00Z"), utc("2026-12-31T11:00Z"))


def test_a_membership_year_window_starts_on_the_last_anniversary() -> None:
    assert window_start(MEMBERSHIP_YEAR, in_paris("2025-06-15 12:00"),
                        enrolled_at=ENROLLED_ON_LEAP_DAY) == utc("2025-02-27T23:00Z")


def test_a_membership_year_beginning_the_night_clocks_go_forward_is_an_hour_short() -> None:
    # enrolled on Saturday 29 Mar 2025; 29 Mar 2026 is the last Sunday of March, when Paris
    # jumps from 02:00 CET to 03:00 CEST. The year starts at 00:00 CET (28 Mar 23:00 UTC) and
    # ends at 29 Mar 2027 00:00, already CEST then (2027 jumps on 28 Mar): 27 Mar 22:00 UTC.
    enrolled = in_paris("2025-03-29 18:00")

    start, end = period(MEMBERSHIP_YEAR, in_paris("2026-03-29 03:00"), enrolled_at=enrolled)

    assert (start, end) == (utc("2026-03-28T23:00Z"), utc("2027-03-28T22:00Z"))
    assert end - start == timedelta(days=365) - timedelta(hours=1)


def test_the_repeated_hour_of_an_anniversary_night_belongs_to_the_new_membership_year() -> None:
    # enrolled on Saturday 25 Oct 2025; on Sunday 25 Oct 2026 Paris goes back from 03:00 CEST
    # to 02:00 CET. The second 02:30 (CET, 01:30 UTC) is in the year that began at 00:00 CEST
    # (24 Oct 22:00 UTC); it ends on 25 Oct 2027 00:00 CEST (2027 goes back on 31 Oct).
    enrolled = in_paris("2025-10-25 18:00")
    second_half_past_two = in_paris("2026-10-25 02:30", second_time=True)
    assert second_half_past_two == utc("2026-10-25T01:30Z")

    assert period(MEMBERSHIP_YEAR, second_half_past_two, enrolled_at=enrolled) == (
        utc("2026-10-24T22:00Z"), utc("2027-10-24T22:00Z"))
    assert period(MEMBERSHIP_YEAR, in_paris("2026-10-24 23:59"), enrolled_at=enrolled) == (
        utc("2025-10-24T22:00Z"), utc("2026-10-24T22:00Z"))


# -- rolling windows ----------------------------------------------------------------------------


@pytest.mark.parametrize(("months", "expected"), [
    (1, "2026-04-30T10:00Z"),  # 31 Apr does not exist: 30 Apr 12:00 CEST
    (3, "2026-02-28T11:00Z"),  # 31 Feb does not exist: 28 Feb 12:00 CET (UTC+1)
    (12, "2025-05-31T10:00Z"),  # 31 May 2025 12:00 CEST
])
def test_a_rolling_window_from_the_end_of_may_is_clamped_to_the_end_of_shorter_months(
        months: int, expected: str) -> None:
    # 31 May 2026 12:00 CEST is 10:00 UTC
    assert window_start(rolling(months), in_paris("2026-05-31 12:00")) == utc(expected)


def test_three_months_before_the_end_of_may_in_a_leap_year_is_29_february() -> None:
    # 29 Feb 2024 12:00 CET is 11:00 UTC
    assert window_start(rolling(3), in_paris("2024-05-31 12:00")) == utc("2024-02-29T11:00Z")


@pytest.mark.parametrize(("at", "months", "expected"), [
    # 1 Jan 2026 00:00 CET (31 Dec 23:00 UTC) - 1 month = 1 Dec 2025 00:00 CET
    ("2026-01-01 00:00", 1, "2025-11-30T23:00Z"),
    # - 12 months = 1 Jan 2025 00:00 CET
    ("2026-01-01 00:00", 12, "2024-12-31T23:00Z"),
    # 31 Dec 2025 23:59 CET - 1 month = 30 Nov 23:59 CET (31 Nov does not exist)
    ("2025-12-31 23:59", 1, "2025-11-30T22:59Z"),
    # - 3 months = 30 Sep 23:59, summer time then (CEST, UTC+2)
    ("2025-12-31 23:59", 3, "2025-09-30T21:59Z"),
])
def test_a_rolling_window_across_the_year_end_counts_months_on_the_paris_clock(
        at: str, months: int, expected: str) -> None:
    assert window_start(rolling(months), in_paris(at)) == utc(expected)


def test_a_rolling_window_in_auckland_counts_months_on_the_auckland_clock() -> None:
    # 1 Jan 2026 00:00 NZDT (31 Dec 11:00 UTC) - 1 month = 1 Dec 2025 00:00 NZDT
    assert window_start(rolling(1), utc("2025-12-31T11:00Z"), tz=AUCKLAND) == utc(
        "2025-11-30T11:00Z")


def test_a_rolling_start_in_the_night_clocks_go_forward_keeps_the_wall_clock_time() -> None:
    # a month before 29 Apr 2026 is 29 Mar, the night Paris jumps from 02:00 CET to 03:00 CEST
    # 01:30 CEST on 29 Apr -> 01:30 CET on 29 Mar, before the jump: 00:30 UTC
    assert window_start(rolling(1), in_paris("2026-04-29 01:30")) == utc("2026-03-29T00:30Z")
    # 03:30 CEST -> 03:30 CEST, after the jump: 01:30 UTC
    assert window_start(rolling(1), in_paris("2026-04-29 03:30")) == utc("2026-03-29T01:30Z")


def test_a_rolling_start_that_falls_in_the_skipped_hour_is_read_before_the_jump() -> None:
    # 02:30 on 29 Mar 2026 never shows on a Paris clock; Python reads it with the offset from
    # before the jump (PEP 495, fold=0): 02:30 CET = 01:30 UTC, i.e. 03:30 CEST. The window is
    # never earlier than the one of a moment before (01:59 CEST -> 00:59 UTC).
    assert window_start(rolling(1), in_paris("2026-04-29 01:59")) == utc("2026-03-29T00:59Z")
    assert window_start(rolling(1), in_paris("2026-04-29 02:30")) == utc("2026-03-29T01:30Z")


def test_a_rolling_start_in_the_repeated_hour_of_october_is_the_first_of_the_two() -> None:
    # a month before 25 Nov 2026 02:30 CET is 25 Oct 02:30, which a Paris clock shows twice
    # (Paris goes back from 03:00 CEST to 02:00 CET): the first, CEST, 00:30 UTC, so the
    # window holds both
    assert window_start(rolling(1), in_paris("2026-11-25 02:30")) == utc("2026-10-25T00:30Z")


def test_a_rolling_window_is_reviewed_every_calendar_month() -> None:
    # December 2025: 1 Dec 00:00 CET (30 Nov 23:00 UTC) to 1 Jan 00:00 CET (31 Dec 23:00 UTC)
    assert period(rolling(3), in_paris("2025-12-31 23:59")) == (
        utc("2025-11-30T23:00Z"), utc("2025-12-31T23:00Z"))
    # January 2026 starts at 1 Jan 00:00 CET while UTC is on 31 Dec
    assert period(rolling(3), in_paris("2026-01-01 00:00")) == (
        utc("2025-12-31T23:00Z"), utc("2026-01-31T23:00Z"))


def test_a_rolling_windows_review_month_of_february_in_a_leap_year_holds_29_february() -> None:
    assert period(rolling(12), in_paris("2024-02-29 12:00")) == (
        utc("2024-01-31T23:00Z"), utc("2024-02-29T23:00Z"))


def test_a_review_month_with_a_clock_change_starts_and_ends_at_midnight_in_paris() -> None:
    # March 2026 begins at 00:00 CET (28 Feb 23:00 UTC) and ends at 1 Apr 00:00 CEST (31 Mar
    # 22:00 UTC): an hour shorter than 31 days. 29 Mar 03:00 CEST, just after the jump, is in it.
    start, end = period(rolling(1), in_paris("2026-03-29 03:00"))

    assert (start, end) == (utc("2026-02-28T23:00Z"), utc("2026-03-31T22:00Z"))
    assert end - start == timedelta(days=31) - timedelta(hours=1)


def test_a_review_month_with_the_clocks_going_back_is_an_hour_longer() -> None:
    # October 2026: 1 Oct 00:00 CEST (30 Sep 22:00 UTC) to 1 Nov 00:00 CET (31 Oct 23:00 UTC)
    start, end = period(rolling(1), in_paris("2026-10-25 02:30", second_time=True))

    assert (start, end) == (utc("2026-09-30T22:00Z"), utc("2026-10-31T23:00Z"))
    assert end - start == timedelta(days=31) + timedelta(hours=1)


def test_a_rolling_windows_review_month_in_auckland() -> None:
    # January 2026 in Auckland: 1 Jan 00:00 NZDT (31 Dec 11:00 UTC) to 1 Feb 00:00 NZDT
    assert period(rolling(1), utc("2025-12-31T11:00Z"), tz=AUCKLAND) == (
        utc("2025-12-31T11:00Z"), utc("2026-01-31T11:00Z"))


# -- lifetime -----------------------------------------------------------------------------------


@pytest.mark.parametrize("at", ["2025-12-31 23:59", "2026-01-01 00:00", "2026-03-29 03:00"])
def test_a_lifetime_window_has_no_start(at: str) -> None:
    assert window_start(LIFETIME, in_paris(at)) is None
    assert window_start(LIFETIME, in_zone(at, AUCKLAND), tz=AUCKLAND) is None


def test_a_lifetime_window_is_one_far_period_that_a_year_end_does_not_cut() -> None:
    # 1 Jan 1970 00:00 CET (31 Dec 1969 23:00 UTC) to 1 Jan 9999 00:00 CET
    far = (utc("1969-12-31T23:00Z"), utc("9998-12-31T23:00Z"))

    assert period(LIFETIME, in_paris("2025-12-31 23:59")) == far
    assert period(LIFETIME, in_paris("2026-01-01 00:00")) == far


def test_a_lifetime_period_in_auckland_is_as_far() -> None:
    # 1 Jan 1970 in Auckland was NZST (UTC+12; summer time came in 1974); 1 Jan 9999 is NZDT
    # (UTC+13) by the zone's rule
    assert period(LIFETIME, in_zone("2026-01-01 00:00", AUCKLAND), tz=AUCKLAND) == (
        utc("1969-12-31T12:00Z"), utc("9998-12-31T11:00Z"))

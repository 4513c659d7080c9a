"""When earned points expire and when pending points become available, in the program's zone.

Expected instants are written in UTC on purpose: the calendar is the program's, but what is
stored and compared is an instant.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.domain.ledger import (
    ExpiryMode,
    ExpiryPolicy,
    ExpiryRounding,
    PendingPolicy,
    PeriodUnit,
    last_usable_day,
)
from loyalty.domain.time import add_months, end_of_month, start_of_day

PARIS = ZoneInfo("Europe/Paris")
SANTIAGO = ZoneInfo("America/Santiago")


def expires_after(
    period: int,
    unit: str,
    *,
    rounding: str = "none",
    usable_through_expiry_date: bool = True,
) -> ExpiryPolicy:
    """An ``after`` expiry policy, written the way a program's settings say it."""
    return ExpiryPolicy(
        mode=ExpiryMode.AFTER,
        period=period,
        unit=PeriodUnit(unit),
        rounding=ExpiryRounding(rounding),
        usable_through_expiry_date=usable_through_expiry_date,
    )


def in_utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def assert_same_utc_instant(actual: datetime | None, expected: datetime) -> None:
    assert actual is not None
    assert actual.utcoffset() == timedelta(0), "expiry instants are returned in UTC"
    assert actual == expected


# --- never -------------------------------------------------------------------------------------


def test_points_never_expire_by_default():
    assert ExpiryPolicy().expires_at(in_utc(2024, 1, 1), PARIS) is None


def test_points_of_a_never_expiring_program_ignore_the_period():
    policy = ExpiryPolicy(mode=ExpiryMode.NEVER, period=0, rounding=ExpiryRounding.NONE)

    assert policy.expires_at(in_utc(2024, 1, 1), PARIS) is None


@pytest.mark.parametrize("period", [0, -1])
def test_an_expiry_after_no_time_at_all_is_refused(period):
    with pytest.raises(ValueError, match="positive"):
        expires_after(period, "months")


def test_a_naive_earning_time_is_refused():
    with pytest.raises(ValueError, match="naive"):
        expires_after(30, "days").expires_at(datetime(2024, 1, 1, 12, 0), PARIS)


# --- the exact instant (no rounding) -----------------------------------------------------------


def test_points_expire_the_exact_instant_n_days_after_earning():
    expiry = expires_after(30, "days").expires_at(in_utc(2024, 1, 10, 15, 45, 30), UTC)

    assert_same_utc_instant(expiry, in_utc(2024, 2, 9, 15, 45, 30))


def test_points_expire_the_exact_instant_n_months_after_earning():
    expiry = expires_after(12, "months").expires_at(in_utc(2024, 5, 20, 8, 15), UTC)

    assert_same_utc_instant(expiry, in_utc(2025, 5, 20, 8, 15))


def test_one_month_after_january_31st_is_the_last_day_of_february_in_a_leap_year():
    expiry = expires_after(1, "months").expires_at(in_utc(2024, 1, 31, 10, 0), UTC)

    assert_same_utc_instant(expiry, in_utc(2024, 2, 29, 10, 0))


def test_one_month_after_january_31st_is_february_28th_in_a_common_year():
    expiry = expires_after(1, "months").expires_at(in_utc(2023, 1, 31, 10, 0), UTC)

    assert_same_utc_instant(expiry, in_utc(2023, 2, 28, 10, 0))


def test_twelve_months_after_a_leap_day_is_february_28th():
    expiry = expires_after(12, "months").expires_at(in_utc(2024, 2, 29, 10, 0), UTC)

    assert_same_utc_instant(expiry, in_utc(2025, 2, 28, 10, 0))


def test_forty_eight_months_after_a_leap_day_is_a_leap_day_again():
    expiry = expires_after(48, "months").expires_at(in_utc(2024, 2, 29, 10, 0), UTC)

    assert_same_utc_instant(expiry, in_utc(2028, 2, 29, 10, 0))


def test_months_carry_over_into_the_next_year():
    expiry = expires_after(3, "months").expires_at(in_utc(2024, 11, 30, 10, 0), UTC)

    assert_same_utc_instant(expiry, in_utc(2025, 2, 28, 10, 0))


def test_without_rounding_the_usable_through_flag_changes_nothing():
    earned = in_utc(2024, 1, 10, 15, 45)
    through = expires_after(30, "days", usable_through_expiry_date=True).expires_at(earned, PARIS)
    before = expires_after(30, "days", usable_through_expiry_date=False).expires_at(earned, PARIS)

    assert through == before == in_utc(2024, 2, 9, 15, 45)


def test_an_earning_time_given_in_another_zone_is_the_same_instant():
    earned_in_paris = datetime(2024, 1, 10, 16, 45, tzinfo=PARIS)

    expiry = expires_after(30, "days").expires_at(earned_in_paris, UTC)

    assert_same_utc_instant(expiry, in_utc(2024, 2, 9, 15, 45))


# --- rounding to the end of the day or month ---------------------------------------------------


def test_rounded_to_the_end_of_the_day_points_are_usable_through_the_expiry_date():
    earned = datetime(2024, 6, 10, 8, 0, tzinfo=PARIS)

    expiry = expires_after(10, "days", rounding="end_of_day").expires_at(earned, PARIS)

    # Usable all of 20 June in Paris, so gone at midnight starting 21 June (CEST, UTC+2).
    assert_same_utc_instant(expiry, in_utc(2024, 6, 20, 22, 0))


def test_rounded_to_the_end_of_the_day_points_can_expire_at_the_start_of_the_expiry_date():
    earned = datetime(2024, 6, 10, 8, 0, tzinfo=PARIS)
    policy = expires_after(10, "days", rounding="end_of_day", usable_through_expiry_date=False)

    assert_same_utc_instant(policy.expires_at(earned, PARIS), in_utc(2024, 6, 19, 22, 0))


def test_rounded_to_the_end_of_the_month_points_are_usable_through_its_last_day():
    earned = datetime(2024, 1, 15, 10, 0, tzinfo=PARIS)

    expiry = expires_after(1, "months", rounding="end_of_month").expires_at(earned, PARIS)

    # 15 February, rounded to 29 February 2024; gone at midnight starting 1 March (CET, UTC+1).
    assert_same_utc_instant(expiry, in_utc(2024, 2, 29, 23, 0))


def test_rounded_to_the_end_of_the_month_points_can_expire_at_the_start_of_its_last_day():
    earned = datetime(2024, 1, 15, 10, 0, tzinfo=PARIS)
    policy = expires_after(1, "months", rounding="end_of_month", usable_through_expiry_date=False)

    assert_same_utc_instant(policy.expires_at(earned, PARIS), in_utc(2024, 2, 28, 23, 0))


def test_the_default_after_policy_is_twelve_months_to_the_end_of_the_month():
    policy = ExpiryPolicy(mode=ExpiryMode.AFTER)

    expiry = policy.expires_at(datetime(2024, 3, 5, 18, 0, tzinfo=PARIS), PARIS)

    assert_same_utc_instant(expiry, in_utc(2025, 3, 31, 22, 0))


def test_the_calendar_is_the_program_time_zone_not_utc():
    # 23:30 UTC on 31 January is already 00:30 on 1 February in Paris.
    earned = in_utc(2024, 1, 31, 23, 30)
    policy = expires_after(1, "months", rounding="end_of_month")

    in_paris = policy.expires_at(earned, PARIS)
    on_the_utc_calendar = policy.expires_at(earned, UTC)

    assert_same_utc_instant(in_paris, in_utc(2024, 3, 31, 22, 0))
    assert_same_utc_instant(on_the_utc_calendar, in_utc(2024, 3, 1, 0, 0))


def test_the_end_of_the_day_is_the_program_day_for_an_evening_earn():
    # 22:30 UTC on 9 June is 00:30 on 10 June in Paris: the expiry date is counted from 10 June.
    earned = in_utc(2024, 6, 9, 22, 30)

    expiry = expires_after(1, "days", rounding="end_of_day").expires_at(earned, PARIS)

    assert_same_utc_instant(expiry, in_utc(2024, 6, 11, 22, 0))


# --- daylight saving time in Europe/Paris (2024: 31 March and 27 October) ----------------------


def test_one_day_across_the_spring_change_is_the_same_wall_clock_time_23_hours_later():
    earned = datetime(2024, 3, 30, 12, 0, tzinfo=PARIS)  # 11:00 UTC, CET
    expiry = expires_after(1, "days").expires_at(earned, PARIS)

    assert_same_utc_instant(expiry, in_utc(2024, 3, 31, 10, 0))  # 12:00 CEST
    assert expiry - earned == timedelta(hours=23)


def test_one_day_across_the_autumn_change_is_the_same_wall_clock_time_25_hours_later():
    earned = datetime(2024, 10, 26, 12, 0, tzinfo=PARIS)  # 10:00 UTC, CEST
    expiry = expires_after(1, "days").expires_at(earned, PARIS)

    assert_same_utc_instant(expiry, in_utc(2024, 10, 27, 11, 0))  # 12:00 CET
    assert expiry - earned == timedelta(hours=25)


def test_one_month_across_the_spring_change_keeps_the_wall_clock_time():
    earned = datetime(2024, 3, 15, 12, 0, tzinfo=PARIS)  # 11:00 UTC, CET

    expiry = expires_after(1, "months").expires_at(earned, PARIS)

    assert_same_utc_instant(expiry, in_utc(2024, 4, 15, 10, 0))  # 12:00 CEST


@pytest.mark.parametrize(
    ("usable_through_expiry_date", "expected"),
    [
        (True, in_utc(2024, 3, 31, 22, 0)),  # midnight starting 1 April, CEST
        (False, in_utc(2024, 3, 30, 23, 0)),  # midnight starting 31 March, still CET
    ],
)
def test_end_of_day_on_the_spring_change_day(usable_through_expiry_date, expected):
    earned = datetime(2024, 3, 30, 23, 30, tzinfo=PARIS)  # just before the change
    policy = expires_after(
        1, "days", rounding="end_of_day", usable_through_expiry_date=usable_through_expiry_date
    )

    assert_same_utc_instant(policy.expires_at(earned, PARIS), expected)


@pytest.mark.parametrize(
    ("usable_through_expiry_date", "expected"),
    [
        (True, in_utc(2024, 10, 27, 23, 0)),  # midnight starting 28 October, CET
        (False, in_utc(2024, 10, 26, 22, 0)),  # midnight starting 27 October, still CEST
    ],
)
def test_end_of_day_on_the_autumn_change_day(usable_through_expiry_date, expected):
    earned = datetime(2024, 10, 26, 23, 30, tzinfo=PARIS)  # just before the change
    policy = expires_after(
        1, "days", rounding="end_of_day", usable_through_expiry_date=usable_through_expiry_date
    )

    assert_same_utc_instant(policy.expires_at(earned, PARIS), expected)


@pytest.mark.parametrize(
    ("usable_through_expiry_date", "expected"),
    [
        (True, in_utc(2024, 3, 31, 22, 0)),  # 1 April 00:00 CEST
        (False, in_utc(2024, 3, 30, 23, 0)),  # 31 March 00:00 CET
    ],
)
def test_end_of_march_straddles_the_spring_change(usable_through_expiry_date, expected):
    earned = datetime(2024, 2, 10, 9, 0, tzinfo=PARIS)
    policy = expires_after(
        1, "months", rounding="end_of_month", usable_through_expiry_date=usable_through_expiry_date
    )

    assert_same_utc_instant(policy.expires_at(earned, PARIS), expected)


@pytest.mark.parametrize(
    ("usable_through_expiry_date", "expected"),
    [
        (True, in_utc(2024, 10, 31, 23, 0)),  # 1 November 00:00 CET
        (False, in_utc(2024, 10, 30, 23, 0)),  # 31 October 00:00 CET
    ],
)
def test_end_of_october_comes_after_the_autumn_change(usable_through_expiry_date, expected):
    earned = datetime(2024, 9, 10, 9, 0, tzinfo=PARIS)
    policy = expires_after(
        1, "months", rounding="end_of_month", usable_through_expiry_date=usable_through_expiry_date
    )

    assert_same_utc_instant(policy.expires_at(earned, PARIS), expected)


def test_a_day_whose_midnight_does_not_exist_starts_at_the_first_instant_after_the_gap():
    # Santiago moved from 24:00 on 7 September 2024 straight to 01:00 on 8 September (-04 to -03).
    earned = datetime(2024, 9, 7, 12, 0, tzinfo=SANTIAGO)
    policy = expires_after(1, "days", rounding="end_of_day", usable_through_expiry_date=False)

    expiry = policy.expires_at(earned, SANTIAGO)

    assert_same_utc_instant(expiry, in_utc(2024, 9, 8, 4, 0))
    assert expiry.astimezone(SANTIAGO).replace(tzinfo=None) == datetime(2024, 9, 8, 1, 0)


# --- the last usable day -----------------------------------------------------------------------


def test_the_last_usable_day_of_points_expiring_at_midnight_is_the_day_before():
    assert last_usable_day(in_utc(2024, 3, 31, 22, 0), PARIS) == date(2024, 3, 31)


def test_the_last_usable_day_of_points_expiring_during_the_day_is_that_day():
    assert last_usable_day(in_utc(2024, 4, 15, 10, 0), PARIS) == date(2024, 4, 15)


def test_the_last_usable_day_is_read_on_the_program_calendar():
    # 23:30 UTC on 10 May is 01:30 on 11 May in Paris.
    assert last_usable_day(in_utc(2024, 5, 10, 23, 30), PARIS) == date(2024, 5, 11)
    assert last_usable_day(in_utc(2024, 5, 10, 23, 30), UTC) == date(2024, 5, 10)


@pytest.mark.parametrize(
    ("usable_through_expiry_date", "last_day"),
    [(True, date(2024, 10, 31)), (False, date(2024, 10, 30))],
)
def test_the_last_usable_day_matches_the_policy_that_set_the_expiry(
    usable_through_expiry_date, last_day
):
    policy = expires_after(
        1, "months", rounding="end_of_month", usable_through_expiry_date=usable_through_expiry_date
    )
    expiry = policy.expires_at(datetime(2024, 9, 10, 9, 0, tzinfo=PARIS), PARIS)

    assert expiry is not None
    assert last_usable_day(expiry, PARIS) == last_day


# --- pending points ----------------------------------------------------------------------------


def test_points_are_available_at_once_by_default():
    assert PendingPolicy().available_at(in_utc(2024, 1, 1)) is None


def test_pending_points_become_available_after_the_return_window():
    available = PendingPolicy(days=14).available_at(in_utc(2024, 3, 25, 9, 30))

    assert_same_utc_instant(available, in_utc(2024, 4, 8, 9, 30))


def test_the_return_window_is_counted_in_utc_from_an_earning_time_in_any_zone():
    earned = datetime(2024, 3, 25, 10, 30, tzinfo=PARIS)  # 09:30 UTC

    available = PendingPolicy(days=14).available_at(earned)

    assert_same_utc_instant(available, in_utc(2024, 4, 8, 9, 30))


@pytest.mark.parametrize("days", [0, 1, 3650])
def test_a_return_window_from_none_to_ten_years_is_allowed(days):
    assert PendingPolicy(days=days).days == days


@pytest.mark.parametrize("days", [-1, 3651])
def test_a_return_window_outside_zero_to_ten_years_is_refused(days):
    with pytest.raises(ValueError, match="pending period"):
        PendingPolicy(days=days)


def test_a_naive_time_has_no_pending_window():
    with pytest.raises(ValueError, match="naive"):
        PendingPolicy(days=14).available_at(datetime(2024, 3, 25, 9, 30))


def _rounded_from_the_instant(policy: ExpiryPolicy, earned_at: datetime, tz: ZoneInfo
                              ) -> datetime:
    """The rounded expiry worked out from the earning instant itself, step by step on the wall
    clock (the definition the calendar-day shortcut must keep)."""
    local = earned_at.astimezone(UTC).astimezone(tz)
    if policy.unit is PeriodUnit.MONTHS:
        shifted = add_months(local, policy.period)
    else:
        shifted = local + timedelta(days=policy.period)
    expiry_date = shifted.astimezone(UTC).astimezone(tz).date()
    if policy.rounding is ExpiryRounding.END_OF_MONTH:
        expiry_date = end_of_month(expiry_date)
    if policy.usable_through_expiry_date:
        expiry_date += timedelta(days=1)
    return start_of_day(expiry_date, tz)


@settings(max_examples=400)
@given(
    earned_at=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1),
                           timezones=st.just(UTC)),
    zone_name=st.sampled_from(["Europe/Paris", "America/Santiago", "America/Havana",
                               "Asia/Beirut", "America/Asuncion", "Pacific/Apia",
                               "Australia/Lord_Howe", "UTC"]),
    period=st.integers(min_value=1, max_value=40),
    unit=st.sampled_from(list(PeriodUnit)),
    rounding=st.sampled_from([ExpiryRounding.END_OF_DAY, ExpiryRounding.END_OF_MONTH]),
    usable_through_expiry_date=st.booleans(),
)
def test_a_rounded_expiry_is_the_same_whatever_the_time_of_day_of_the_earn(
        earned_at, zone_name, period, unit, rounding, usable_through_expiry_date):
    tz = ZoneInfo(zone_name)
    policy = ExpiryPolicy(ExpiryMode.AFTER, period, unit, rounding, usable_through_expiry_date)
    assert policy.expires_at(earned_at, tz) == _rounded_from_the_instant(policy, earned_at, tz)

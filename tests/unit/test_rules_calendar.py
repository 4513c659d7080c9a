"""Validity windows, weekly schedules and cap periods, on Paris clocks, across daylight saving.

In 2026 Paris moves from UTC+1 to UTC+2 at 02:00 on Sunday 29 March (01:00 UTC; the clock jumps
to 03:00) and back at 03:00 on Sunday 25 October (01:00 UTC; the clock goes back to 02:00).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from loyalty.domain.basket import Basket
from loyalty.rules.definition import DefinitionError, Period, load_definition
from loyalty.rules.engine import period_bounds
from tests.unit.test_rules_builders import (
    PARIS,
    a_member,
    line,
    program,
    program_from_yaml,
    rule,
    utc_instant,
)


def bought_at(instant: datetime) -> Basket:
    return Basket(currency="EUR", occurred_at=instant, lines=(line(),))


def paris_time(wall_clock: str) -> datetime:
    return datetime.fromisoformat(wall_clock).replace(tzinfo=PARIS)


def applies(promotion: dict[str, Any], instant: datetime) -> bool:
    evaluation = program(promotion).evaluate_purchase(bought_at(instant), a_member())
    return evaluation.points == 5


def valid(start: Any = None, end: Any = None) -> dict[str, Any]:
    return rule("promo", window={"start": start, "end": end})


# -- validity windows ------------------------------------------------------------------------------

MAY = valid("2026-05-01", "2026-05-31")


@pytest.mark.parametrize("wall_clock, expected", [
    ("2026-04-30 23:59:59.999999", False),
    ("2026-05-01 00:00:00", True),
    ("2026-05-31 23:59:59.999999", True),
    ("2026-06-01 00:00:00", False),
])
def test_a_date_window_covers_its_first_and_last_days_in_paris(wall_clock: str,
                                                               expected: bool) -> None:
    assert applies(MAY, paris_time(wall_clock)) is expected


def test_a_date_window_opens_at_midnight_in_paris_not_in_utc() -> None:
    # midnight on 1 May in Paris (UTC+2) is 22:00 UTC on 30 April
    assert applies(MAY, utc_instant("2026-04-30T22:00:00+00:00"))
    assert not applies(MAY, utc_instant("2026-04-30T21:59:59+00:00"))
    # the window ends at midnight on 1 June in Paris, 22:00 UTC on 31 May
    assert applies(MAY, utc_instant("2026-05-31T21:59:59+00:00"))
    assert not applies(MAY, utc_instant("2026-05-31T22:00:00+00:00"))


def test_a_window_ending_on_the_day_clocks_go_forward_ends_at_midnight_summer_time() -> None:
    # 29 March ends at midnight CEST (UTC+2): 22:00 UTC, not 23:00 UTC as on the winter morning
    until_the_change = valid("2026-03-01", "2026-03-29")

    assert applies(until_the_change, utc_instant("2026-03-29T21:59:59+00:00"))
    assert not applies(until_the_change, utc_instant("2026-03-29T22:00:00+00:00"))


def test_a_window_starting_on_the_day_clocks_go_forward_starts_at_midnight_winter_time() -> None:
    # 29 March begins at midnight CET (UTC+1): 23:00 UTC on 28 March
    from_the_change = valid("2026-03-29", "2026-04-30")

    assert not applies(from_the_change, utc_instant("2026-03-28T22:59:59+00:00"))
    assert applies(from_the_change, utc_instant("2026-03-28T23:00:00+00:00"))


def test_a_window_ending_on_the_day_clocks_go_back_lasts_its_25_hours() -> None:
    # 25 October ends at midnight CET (UTC+1): 23:00 UTC
    until_the_change = valid("2026-10-01", "2026-10-25")

    assert applies(until_the_change, utc_instant("2026-10-25T22:59:59+00:00"))
    assert not applies(until_the_change, utc_instant("2026-10-25T23:00:00+00:00"))


def test_a_one_day_window_holds_only_that_day() -> None:
    christmas = valid("2026-12-25", "2026-12-25")

    assert applies(christmas, paris_time("2026-12-25 00:00"))
    assert applies(christmas, paris_time("2026-12-25 23:59"))
    assert not applies(christmas, paris_time("2026-12-24 23:59"))
    assert not applies(christmas, paris_time("2026-12-26 00:00"))


def test_a_datetime_window_is_inclusive_at_both_ends_on_a_paris_clock() -> None:
    happy_hours = program_from_yaml("""
        rules:
          - id: promo
            name: Happy hours
            window: {start: 2026-05-04T18:00:00, end: 2026-05-04T20:00:00}
            effect: {type: fixed, points: 5}
    """)

    def applies_at(wall_clock: str) -> bool:
        purchase = bought_at(paris_time(wall_clock))
        return happy_hours.evaluate_purchase(purchase, a_member()).points == 5

    assert not applies_at("2026-05-04 17:59:59.999999")
    assert applies_at("2026-05-04 18:00:00")
    assert applies_at("2026-05-04 20:00:00")
    assert not applies_at("2026-05-04 20:00:00.000001")


def test_a_datetime_window_across_the_change_to_summer_time() -> None:
    # from 01:30 CET (00:30 UTC) to 03:30 CEST (01:30 UTC): one real hour
    the_night = valid("2026-03-29T01:30:00", "2026-03-29T03:30:00")

    assert not applies(the_night, utc_instant("2026-03-29T00:29:59+00:00"))
    assert applies(the_night, utc_instant("2026-03-29T00:30:00+00:00"))
    assert applies(the_night, utc_instant("2026-03-29T01:30:00+00:00"))
    assert not applies(the_night, utc_instant("2026-03-29T01:30:01+00:00"))


def test_a_datetime_bound_with_an_offset_is_that_instant() -> None:
    # 18:00 UTC is 20:00 in Paris in May
    from_six_utc = valid("2026-05-04T18:00:00+00:00", None)

    assert not applies(from_six_utc, paris_time("2026-05-04 19:59:59"))
    assert applies(from_six_utc, paris_time("2026-05-04 20:00:00"))


def test_a_datetime_bound_at_midnight_is_that_instant_not_the_whole_day() -> None:
    # A JSON document writes datetimes as strings. An end at midnight closes the window at the
    # start of 4 May; a purchase at noon on 4 May is outside it.
    until_midnight = valid("2026-05-01T00:00:00", "2026-05-04T00:00:00")

    assert applies(until_midnight, paris_time("2026-05-04 00:00:00"))
    assert not applies(until_midnight, paris_time("2026-05-04 12:00:00"))


def test_a_window_open_at_one_end_is_bounded_only_at_the_other() -> None:
    from_may = valid("2026-05-01", None)
    until_may = valid(None, "2026-05-31")

    assert applies(from_may, paris_time("2036-01-01 00:00"))
    assert not applies(from_may, paris_time("2026-04-30 23:59"))
    assert applies(until_may, paris_time("2016-01-01 00:00"))
    assert not applies(until_may, paris_time("2026-06-01 00:00"))


def test_a_window_that_ends_before_it_starts_is_a_mistake() -> None:
    with pytest.raises(DefinitionError) as raised:
        load_definition({"rules": [valid("2026-05-31", "2026-05-01")]})

    assert raised.value.problems == [("rules[0].window", "the window ends before it starts")]


def test_a_window_with_bounds_in_two_offsets_is_ordered_by_instant() -> None:
    # 10:00 at UTC+2 is 08:00 UTC, before 09:30 UTC: the window lasts an hour and a half
    definition = load_definition(
        {"rules": [valid("2026-05-04T10:00:00+02:00", "2026-05-04T09:30:00+00:00")]})

    assert definition.rules[0].window is not None


# -- weekly schedules ------------------------------------------------------------------------------

WEEKENDS = rule("promo", schedule={"weekdays": ["sat", "sun"]})


def test_a_schedule_names_the_days_of_the_week_it_applies_on() -> None:
    assert applies(WEEKENDS, paris_time("2026-05-09 12:00"))  # Saturday
    assert applies(WEEKENDS, paris_time("2026-05-10 23:59"))  # Sunday
    assert not applies(WEEKENDS, paris_time("2026-05-11 00:00"))  # Monday


def test_the_day_of_the_week_is_the_day_in_paris() -> None:
    # 22:30 UTC on Sunday 10 May is 00:30 on Monday in Paris
    assert not applies(WEEKENDS, utc_instant("2026-05-10T22:30:00+00:00"))
    # 22:30 UTC on Friday 8 May is 00:30 on Saturday in Paris
    assert applies(WEEKENDS, utc_instant("2026-05-08T22:30:00+00:00"))


EVENINGS = rule("promo", schedule={"hours": {"from": "18:00", "to": "20:00"}})


@pytest.mark.parametrize("clock, expected", [
    ("17:59", False), ("18:00", True), ("19:59", True), ("20:00", False),
])
def test_hours_run_from_their_start_included_to_their_end_excluded(clock: str,
                                                                  expected: bool) -> None:
    assert applies(EVENINGS, paris_time(f"2026-05-04 {clock}")) is expected


NIGHTS = rule("promo", schedule={"hours": {"from": "22:00", "to": "02:00"}})


@pytest.mark.parametrize("clock, expected", [
    ("21:59", False), ("22:00", True), ("23:59", True), ("00:00", True), ("01:59", True),
    ("02:00", False), ("12:00", False),
])
def test_hours_may_wrap_past_midnight(clock: str, expected: bool) -> None:
    assert applies(NIGHTS, paris_time(f"2026-05-04 {clock}")) is expected


def test_days_and_hours_must_both_hold() -> None:
    weekday_lunches = rule("promo", schedule={"weekdays": ["mon", "tue", "wed", "thu", "fri"],
                                              "hours": {"from": "12:00", "to": "14:00"}})

    assert applies(weekday_lunches, paris_time("2026-05-04 12:30"))  # Monday
    assert not applies(weekday_lunches, paris_time("2026-05-04 15:00"))  # Monday, too late
    assert not applies(weekday_lunches, paris_time("2026-05-09 12:30"))  # Saturday


def test_the_day_of_wrapping_hours_is_the_day_of_the_moment_itself() -> None:
    # As the engine defines it: "fri 22:00-02:00" holds from 22:00 on Fridays, and from midnight
    # to 02:00 on Fridays too (the Thursday night), not in the small hours of Saturday.
    friday_nights = rule("promo", schedule={"weekdays": ["fri"],
                                            "hours": {"from": "22:00", "to": "02:00"}})

    assert applies(friday_nights, paris_time("2026-05-08 23:00"))  # Friday
    assert applies(friday_nights, paris_time("2026-05-08 01:00"))  # Friday, small hours
    assert not applies(friday_nights, paris_time("2026-05-09 01:00"))  # Saturday


NIGHT_OWLS = rule("promo", schedule={"hours": {"from": "01:00", "to": "03:00"}})


@pytest.mark.parametrize("instant, paris_clock, expected", [
    ("2026-03-28T23:59:59+00:00", "00:59:59 CET", False),
    ("2026-03-29T00:00:00+00:00", "01:00 CET", True),
    ("2026-03-29T00:59:59+00:00", "01:59:59 CET", True),
    ("2026-03-29T01:00:00+00:00", "03:00 CEST", False),
])
def test_hours_on_the_night_clocks_go_forward_last_one_real_hour(instant: str, paris_clock: str,
                                                                 expected: bool) -> None:
    assert applies(NIGHT_OWLS, utc_instant(instant)) is expected, paris_clock


@pytest.mark.parametrize("instant, paris_clock, expected", [
    ("2026-10-24T22:59:59+00:00", "00:59:59 CEST", False),
    ("2026-10-24T23:00:00+00:00", "01:00 CEST", True),
    ("2026-10-25T00:30:00+00:00", "02:30 CEST", True),
    ("2026-10-25T01:30:00+00:00", "02:30 CET, the second time", True),
    ("2026-10-25T01:59:59+00:00", "02:59:59 CET", True),
    ("2026-10-25T02:00:00+00:00", "03:00 CET", False),
])
def test_hours_on_the_night_clocks_go_back_last_three_real_hours(instant: str, paris_clock: str,
                                                                 expected: bool) -> None:
    assert applies(NIGHT_OWLS, utc_instant(instant)) is expected, paris_clock


def test_hours_that_do_not_exist_on_the_night_clocks_go_forward_never_hold() -> None:
    two_to_three = rule("promo", schedule={"hours": {"from": "02:00", "to": "03:00"}})
    night = utc_instant("2026-03-29T00:00:00+00:00")

    assert not any(applies(two_to_three, night + timedelta(minutes=m)) for m in range(0, 120, 5))


# -- the periods of per-member caps ----------------------------------------------------------------


def bounds(period: Period, instant: str) -> tuple[str, str]:
    start, end = period_bounds(period, utc_instant(instant), PARIS)
    return start.isoformat(), end.isoformat()


@pytest.mark.parametrize("period, instant, start, end", [
    # a summer day: 00:00 to 24:00 at UTC+2
    (Period.DAY, "2026-05-04T10:00:00+00:00",
     "2026-05-03T22:00:00+00:00", "2026-05-04T22:00:00+00:00"),
    # 22:30 UTC on 3 May is already 4 May in Paris
    (Period.DAY, "2026-05-03T22:30:00+00:00",
     "2026-05-03T22:00:00+00:00", "2026-05-04T22:00:00+00:00"),
    # the day clocks go forward lasts 23 hours
    (Period.DAY, "2026-03-29T12:00:00+00:00",
     "2026-03-28T23:00:00+00:00", "2026-03-29T22:00:00+00:00"),
    # the day clocks go back lasts 25 hours
    (Period.DAY, "2026-10-25T12:00:00+00:00",
     "2026-10-24T22:00:00+00:00", "2026-10-25T23:00:00+00:00"),
    # Sunday 10 May belongs to the week of Monday 4 May
    (Period.WEEK, "2026-05-10T20:00:00+00:00",
     "2026-05-03T22:00:00+00:00", "2026-05-10T22:00:00+00:00"),
    # 00:00 on Monday 11 May in Paris starts the next week
    (Period.WEEK, "2026-05-10T22:00:00+00:00",
     "2026-05-10T22:00:00+00:00", "2026-05-17T22:00:00+00:00"),
    # the week of the change: Monday 23 March CET to Monday 30 March CEST
    (Period.WEEK, "2026-03-29T12:00:00+00:00",
     "2026-03-22T23:00:00+00:00", "2026-03-29T22:00:00+00:00"),
    # a week across two years: Monday 28 December 2026 to Monday 4 January 2027
    (Period.WEEK, "2027-01-01T12:00:00+00:00",
     "2026-12-27T23:00:00+00:00", "2027-01-03T23:00:00+00:00"),
    # March 2026 starts in winter time and ends in summer time
    (Period.MONTH, "2026-03-15T12:00:00+00:00",
     "2026-02-28T23:00:00+00:00", "2026-03-31T22:00:00+00:00"),
    # February of a leap year
    (Period.MONTH, "2028-02-29T12:00:00+00:00",
     "2028-01-31T23:00:00+00:00", "2028-02-29T23:00:00+00:00"),
    # December ends with the year
    (Period.MONTH, "2026-12-31T12:00:00+00:00",
     "2026-11-30T23:00:00+00:00", "2026-12-31T23:00:00+00:00"),
    (Period.YEAR, "2026-12-31T22:59:59+00:00",
     "2025-12-31T23:00:00+00:00", "2026-12-31T23:00:00+00:00"),
    # 23:30 UTC on 31 December is already 2027 in Paris
    (Period.YEAR, "2026-12-31T23:30:00+00:00",
     "2026-12-31T23:00:00+00:00", "2027-12-31T23:00:00+00:00"),
], ids=lambda item: item.value if isinstance(item, Period) else None)
def test_a_cap_period_is_a_calendar_period_in_paris(period: Period, instant: str, start: str,
                                                    end: str) -> None:
    assert bounds(period, instant) == (start, end)


def test_a_cap_period_of_a_naive_moment_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="naive"):
        period_bounds(Period.DAY, datetime(2026, 5, 4, 12, 0), PARIS)


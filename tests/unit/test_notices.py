"""The pure parts of proactive notices: birthdays, the reach of the next tier, the soonest
expiry day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from loyalty.domain.notices import (
    Expiring,
    NoticeKind,
    birthday_suffixes,
    soonest_expiry,
    within_reach,
)

PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_birthday_is_found_by_its_month_and_day():
    assert birthday_suffixes(date(2026, 3, 10)) == ("-03-10",)


def test_29_february_birthdays_are_found_on_28_february_in_other_years_only():
    assert birthday_suffixes(date(2027, 2, 28)) == ("-02-28", "-02-29")
    assert birthday_suffixes(date(2028, 2, 28)) == ("-02-28",)
    assert birthday_suffixes(date(2028, 2, 29)) == ("-02-29",)
    assert birthday_suffixes(date(2100, 2, 28)) == ("-02-28", "-02-29")  # not a leap year


def test_within_reach_starts_at_the_percent_below_the_threshold_rounded_up():
    assert within_reach(50000, 10) == 45000
    assert within_reach(7, 10) == 7  # 6.3 rounds up: a purchase count is whole
    assert within_reach(15, 50) == 8


def test_the_soonest_expiry_day_adds_up_the_points_expiring_that_day():
    found = soonest_expiry(
        [
            (at("2026-04-30 22:00:00"), 40),
            (at("2026-03-31 20:00:00"), 30),
            (at("2026-03-31 09:00:00"), 100),
        ],
        PARIS,
    )

    assert found == Expiring(date(2026, 3, 31), at("2026-03-31 09:00:00"), 130)


def test_points_expiring_at_midnight_are_last_usable_the_day_before():
    found = soonest_expiry([(at("2026-03-31 22:00:00"), 10)], PARIS)  # 1 April, 00:00 in Paris

    assert found is not None and found.last_usable_day == date(2026, 3, 31)


def test_no_expiry_is_no_soonest_day():
    assert soonest_expiry([], PARIS) is None


def test_each_kind_travels_as_a_notice_event():
    assert NoticeKind.TIER_DROP.event_type == "notice.tier_drop"
    assert {kind.event_type for kind in NoticeKind} == {
        "notice.points_expiring",
        "notice.near_next_tier",
        "notice.tier_drop",
        "notice.lapsed",
        "notice.birthday",
        "notice.reward_back_in_stock",
    }

"""Climbing and leaving the ladder: inclusive thresholds, reviews by policy, and progress.

The ladder is member (0) / silver (500.00) / gold (1500.00) / platinum (5000.00) on spend in
EUR over the calendar year, unless a test builds another.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from loyalty.domain.tiers import (
    DowngradePolicy,
    Ladder,
    Level,
    Measure,
    Progress,
    WindowKind,
    progress,
)
from tests.unit.test_tiers_builders import PARIS, a_ladder, euros, in_paris, utc

SPEND = a_ladder()
MEMBER, SILVER, GOLD, PLATINUM = SPEND.levels


def reached(measure: int, ladder: Ladder = SPEND) -> str:
    return ladder.reached(measure).id


def reviewed(policy: DowngradePolicy, current: Level, measure: int,
             floor: Level | None = None) -> str:
    """The tier left after the review of a period in which the measure was ``measure``."""
    return a_ladder(downgrade=policy).after_review(current, measure, floor).id


# -- reaching a level ---------------------------------------------------------------------------


@pytest.mark.parametrize(("threshold", "level"), [
    ("500.00", "silver"), ("1500.00", "gold"), ("5000.00", "platinum")])
def test_spend_exactly_at_a_threshold_reaches_the_level(threshold: str, level: str) -> None:
    assert reached(euros(threshold)) == level


@pytest.mark.parametrize(("just_below", "level"), [
    ("499.99", "member"), ("1499.99", "silver"), ("4999.99", "gold")])
def test_one_cent_below_a_threshold_does_not_reach_the_level(just_below: str, level: str) -> None:
    assert reached(euros(just_below)) == level


def test_points_and_purchases_thresholds_are_inclusive_too() -> None:
    points = a_ladder(("member", 0), ("silver", 1000), ("gold", 5000), measure=Measure.POINTS)
    purchases = a_ladder(("member", 0), ("regular", 5), ("friend", 20),
                         measure=Measure.PURCHASES)

    assert (reached(999, points), reached(1000, points)) == ("member", "silver")
    assert (reached(4999, points), reached(5000, points)) == ("silver", "gold")
    assert (reached(4, purchases), reached(5, purchases)) == ("member", "regular")
    assert (reached(19, purchases), reached(20, purchases)) == ("regular", "friend")


def test_a_member_with_nothing_yet_is_on_the_lowest_level() -> None:
    assert reached(0) == "member"


def test_a_measure_past_several_thresholds_jumps_straight_to_the_highest_it_reaches() -> None:
    assert reached(euros("1500.00")) == "gold"  # past silver too
    assert reached(euros("5000.00")) == "platinum"
    assert reached(euros("1000000.00")) == "platinum"


def test_a_measure_below_zero_after_returns_leaves_the_lowest_level() -> None:
    assert reached(-euros("20.00")) == "member"


def test_each_level_knows_the_one_above_and_the_top_has_none() -> None:
    assert [SPEND.above(level) for level in SPEND.levels] == [SILVER, GOLD, PLATINUM, None]


def test_an_unknown_tier_id_is_read_as_the_lowest_level() -> None:
    assert SPEND.level("gold") == GOLD
    assert SPEND.level("retired-tier") == MEMBER
    assert SPEND.level(None) == MEMBER


# -- the review at a period's end --------------------------------------------------------------


def test_with_no_downgrade_a_tier_is_kept_however_little_was_spent() -> None:
    assert reviewed(DowngradePolicy.NONE, PLATINUM, 0) == "platinum"


def test_at_period_end_a_tier_drops_to_what_the_period_reached() -> None:
    assert reviewed(DowngradePolicy.PERIOD_END, GOLD, euros("700.00")) == "silver"


def test_at_period_end_a_tier_can_drop_several_levels_at_once() -> None:
    assert reviewed(DowngradePolicy.PERIOD_END, PLATINUM, euros("499.99")) == "member"


def test_at_period_end_a_measure_exactly_at_the_tiers_threshold_keeps_it() -> None:
    assert reviewed(DowngradePolicy.PERIOD_END, GOLD, euros("1500.00")) == "gold"


def test_a_review_never_raises_a_tier_upgrades_happen_at_once_not_at_reviews() -> None:
    assert reviewed(DowngradePolicy.PERIOD_END, SILVER, euros("9000.00")) == "silver"
    assert reviewed(DowngradePolicy.ONE_STEP, SILVER, euros("9000.00")) == "silver"


def test_one_step_drops_a_single_level_however_little_was_spent() -> None:
    assert reviewed(DowngradePolicy.ONE_STEP, PLATINUM, 0) == "gold"
    assert reviewed(DowngradePolicy.ONE_STEP, GOLD, 0) == "silver"


def test_one_step_drops_to_what_was_reached_when_that_is_one_level_down() -> None:
    assert reviewed(DowngradePolicy.ONE_STEP, GOLD, euros("500.00")) == "silver"


def test_one_step_keeps_a_tier_that_was_requalified() -> None:
    assert reviewed(DowngradePolicy.ONE_STEP, GOLD, euros("1500.00")) == "gold"


def test_a_floor_stops_a_period_end_drop() -> None:
    assert reviewed(DowngradePolicy.PERIOD_END, PLATINUM, 0, floor=GOLD) == "gold"


def test_a_floor_stops_a_one_step_drop() -> None:
    assert reviewed(DowngradePolicy.ONE_STEP, PLATINUM, 0, floor=PLATINUM) == "platinum"


def test_a_floor_below_where_the_review_leaves_the_tier_changes_nothing() -> None:
    assert reviewed(DowngradePolicy.PERIOD_END, GOLD, euros("1600.00"), floor=SILVER) == "gold"
    assert reviewed(DowngradePolicy.PERIOD_END, GOLD, euros("600.00"), floor=MEMBER) == "silver"


def test_with_no_downgrade_a_floor_changes_nothing() -> None:
    assert reviewed(DowngradePolicy.NONE, GOLD, 0, floor=SILVER) == "gold"


# -- progress -----------------------------------------------------------------------------------

MID_JUNE = in_paris("2026-06-15 12:00")
ENROLLED = in_paris("2024-02-29 10:00")
# The end of 2026 in Paris: 1 Jan 2027 00:00 CET is 31 Dec 2026 23:00 UTC.
END_OF_2026 = utc("2026-12-31T23:00Z")


def progress_of(tier: Level, spent: str, *, ladder: Ladder = SPEND, now: datetime = MID_JUNE,
                floor: Level | None = None, floor_until: datetime | None = None) -> Progress:
    return progress(ladder, ladder.level(tier.id), euros(spent), now=now,
                    enrolled_at=ENROLLED, tz=PARIS, floor=floor, floor_until=floor_until)


def test_progress_tells_the_next_tier_and_how_much_more_reaches_it() -> None:
    standing = progress_of(SILVER, "1200.00")

    assert standing.tier == SILVER
    assert standing.measure == euros("1200.00")
    assert standing.next_tier == GOLD
    assert standing.needed == euros("300.00")


def test_one_cent_short_of_the_next_tier_needs_one_cent() -> None:
    assert progress_of(SILVER, "1499.99").needed == 1


def test_a_measure_already_past_the_next_threshold_needs_nothing_more() -> None:
    # the upgrade has not been applied yet; ``needed`` is never negative
    assert progress_of(SILVER, "1600.00").needed == 0


def test_at_the_top_there_is_no_next_tier_and_nothing_needed() -> None:
    standing = progress_of(PLATINUM, "7000.00")

    assert (standing.next_tier, standing.needed) == (None, None)


def test_a_calendar_year_tier_must_be_requalified_by_the_end_of_the_year_in_paris() -> None:
    assert progress_of(SILVER, "1200.00").requalify_by == END_OF_2026


def test_requalify_by_on_new_years_eve_and_new_years_day() -> None:
    # 31 Dec 2025 23:59 CET is still in 2025, whose end is 31 Dec 2025 23:00 UTC;
    # 1 Jan 2026 00:00 CET (31 Dec 2025 23:00 UTC) is in 2026
    assert progress_of(SILVER, "0", now=in_paris("2025-12-31 23:59")).requalify_by == utc(
        "2025-12-31T23:00Z")
    assert progress_of(SILVER, "0", now=in_paris("2026-01-01 00:00")).requalify_by == END_OF_2026


def test_a_membership_year_tier_must_be_requalified_by_the_next_anniversary() -> None:
    # enrolled on 29 Feb 2024: the year holding 15 Jun 2026 ends on 28 Feb 2027 00:00 CET
    membership_year = a_ladder(window=WindowKind.MEMBERSHIP_YEAR)

    assert progress_of(SILVER, "0", ladder=membership_year).requalify_by == utc(
        "2027-02-27T23:00Z")


def test_a_rolling_window_tier_is_requalified_by_the_end_of_the_month() -> None:
    # October 2026 ends at 1 Nov 00:00 CET (UTC+1, the clocks went back on 25 Oct)
    rolling_year = a_ladder(window=WindowKind.ROLLING, months=12)

    standing = progress_of(GOLD, "0", ladder=rolling_year, now=in_paris("2026-10-25 12:00"))

    assert standing.requalify_by == utc("2026-10-31T23:00Z")


def test_progress_shows_where_the_review_would_leave_the_member_as_of_now() -> None:
    assert progress_of(SILVER, "1200.00").would_fall_to == SILVER
    assert progress_of(GOLD, "700.00").would_fall_to == SILVER
    assert progress_of(PLATINUM, "0").would_fall_to == MEMBER


def test_with_one_step_progress_shows_a_fall_of_one_level() -> None:
    one_step = a_ladder(downgrade=DowngradePolicy.ONE_STEP)

    assert progress_of(PLATINUM, "0", ladder=one_step).would_fall_to == GOLD


def test_a_lifetime_tier_has_nothing_to_requalify_and_nowhere_to_fall() -> None:
    lifetime = a_ladder(window=WindowKind.LIFETIME)

    standing = progress_of(SILVER, "600.00", ladder=lifetime)

    assert (standing.requalify_by, standing.would_fall_to) == (None, None)
    assert (standing.next_tier, standing.needed) == (GOLD, euros("900.00"))


def test_with_no_downgrade_there_is_nothing_to_requalify_and_nowhere_to_fall() -> None:
    kept = a_ladder(downgrade=DowngradePolicy.NONE)

    standing = progress_of(GOLD, "0", ladder=kept)

    assert (standing.requalify_by, standing.would_fall_to) == (None, None)
    assert (standing.next_tier, standing.needed) == (PLATINUM, euros("5000.00"))


def test_a_floor_lasting_past_the_review_holds_the_fall() -> None:
    until = utc("2027-03-31T22:00Z")

    standing = progress_of(GOLD, "0", floor=GOLD, floor_until=until)

    assert standing.would_fall_to == GOLD
    assert standing.floor_until == until


def test_a_floor_with_no_end_holds_the_fall() -> None:
    assert progress_of(GOLD, "0", floor=SILVER).would_fall_to == SILVER


def test_a_floor_ending_before_the_review_does_not_hold_the_fall() -> None:
    standing = progress_of(GOLD, "0", floor=GOLD, floor_until=utc("2026-09-30T22:00Z"))

    assert standing.would_fall_to == MEMBER


def test_a_floor_ending_exactly_when_the_period_ends_does_not_hold_the_fall() -> None:
    assert progress_of(GOLD, "0", floor=GOLD, floor_until=END_OF_2026).would_fall_to == MEMBER

"""Limits: per transaction, per member per period, a rule's budget, and once per member."""

from __future__ import annotations

from typing import Any

import pytest

from loyalty.rules.definition import Period
from loyalty.rules.engine import Evaluation, MemberFacts
from tests.unit.test_rules_builders import (
    a_member,
    basket,
    explanation_of,
    fixed,
    line,
    per_euro,
    points_by_rule,
    program,
    rule,
)

# 2 points per EUR on a 50.00 EUR basket (no tax): 100 points before any limit
FIFTY_EUROS = basket(line(price="50.00"))


def double_points(**limits: Any) -> dict[str, Any]:
    return rule("double", effect=per_euro("2"), limits=limits)


def evaluate(limited: dict[str, Any], member: MemberFacts | None = None) -> Evaluation:
    return program(limited).evaluate_purchase(FIFTY_EUROS, member or a_member())


# -- per transaction -------------------------------------------------------------------------------


def test_a_per_transaction_cap_caps_one_purchase() -> None:
    evaluation = evaluate(double_points(per_transaction=60))

    assert evaluation.points == 60
    assert explanation_of(evaluation, "double")["cut"] == "capped at 60 per transaction"


def test_a_per_transaction_cap_above_the_points_cuts_nothing() -> None:
    evaluation = evaluate(double_points(per_transaction=100))

    assert evaluation.points == 100
    assert "cut" not in explanation_of(evaluation, "double")


# -- per member per period -------------------------------------------------------------------------


@pytest.mark.parametrize("period", list(Period))
def test_a_per_member_cap_leaves_what_the_period_has_not_given_yet(period: Period) -> None:
    # cap 150 this period, 120 already given: 30 left of the 100 earned
    member = a_member(awarded={("double", period): 120})

    evaluation = evaluate(double_points(per_member=[{"period": period.value, "points": 150}]),
                          member)

    assert evaluation.points == 30
    cut = str(explanation_of(evaluation, "double")["cut"])
    assert f"per member per {period.value}" in cut
    assert "30 left" in cut


def test_a_per_member_cap_counts_only_its_own_period_and_rule() -> None:
    # 150 per day: what the week gave, and what another rule gave today, do not count
    member = a_member(awarded={("double", Period.WEEK): 500, ("other", Period.DAY): 500})

    evaluation = evaluate(double_points(per_member=[{"period": "day", "points": 150}]), member)

    assert evaluation.points == 100


def test_a_member_with_nothing_given_this_period_has_the_whole_cap() -> None:
    evaluation = evaluate(double_points(per_member=[{"period": "month", "points": 80}]))

    assert evaluation.points == 80


def test_a_reached_cap_gives_nothing_and_says_so() -> None:
    member = a_member(awarded={("double", Period.DAY): 150})

    evaluation = evaluate(double_points(per_member=[{"period": "day", "points": 150}]), member)

    entry = explanation_of(evaluation, "double")
    assert (evaluation.points, entry["applied"], entry["points"]) == (0, False, 0)
    assert "0 left" in str(entry["cut"])
    assert "capped" in str(entry["text"])


def test_a_cap_given_beyond_its_limit_leaves_nothing_rather_than_taking_back() -> None:
    member = a_member(awarded={("double", Period.DAY): 170})

    evaluation = evaluate(double_points(per_member=[{"period": "day", "points": 150}]), member)

    assert evaluation.points == 0


def test_the_tightest_of_several_caps_wins() -> None:
    # per day: 200 - 50 = 150 left; per month: 1000 - 930 = 70 left; per transaction 90
    member = a_member(awarded={("double", Period.DAY): 50, ("double", Period.MONTH): 930})
    caps = [{"period": "day", "points": 200}, {"period": "month", "points": 1000}]

    evaluation = evaluate(double_points(per_transaction=90, per_member=caps), member)

    assert evaluation.points == 70
    cut = str(explanation_of(evaluation, "double")["cut"])
    assert "per transaction" in cut
    assert "per month (70 left)" in cut
    assert "per day" not in cut


# -- budget ----------------------------------------------------------------------------------------


def test_a_rule_with_budget_left_gives_at_most_what_is_left() -> None:
    member = a_member(budget_left={"double": 30})

    evaluation = evaluate(double_points(budget=10_000), member)

    assert evaluation.points == 30
    assert "budget of 10000 has 30 left" in str(explanation_of(evaluation, "double")["cut"])


def test_a_budget_nobody_has_used_yet_is_whole() -> None:
    evaluation = evaluate(double_points(budget=40))

    assert evaluation.points == 40


def test_a_spent_budget_gives_nothing() -> None:
    evaluation = evaluate(double_points(budget=10_000), a_member(budget_left={"double": 0}))

    assert evaluation.points == 0
    assert "has 0 left" in str(explanation_of(evaluation, "double")["text"])


def test_an_overspent_budget_gives_nothing_rather_than_taking_back() -> None:
    evaluation = evaluate(double_points(budget=10_000), a_member(budget_left={"double": -5}))

    assert evaluation.points == 0
    assert "has 0 left" in str(explanation_of(evaluation, "double")["cut"])


# -- once per member -------------------------------------------------------------------------------


def test_a_once_per_member_rule_gives_to_a_member_it_never_gave_to() -> None:
    welcome = rule("welcome", effect=fixed(500), limits={"once_per_member": True})

    first = program(welcome).evaluate_purchase(FIFTY_EUROS, a_member())
    again = program(welcome).evaluate_purchase(
        FIFTY_EUROS, a_member(rules_ever=frozenset({"welcome"})))

    assert first.points == 500
    assert again.points == 0
    assert "already given" in str(explanation_of(again, "welcome")["text"])


def test_once_per_member_looks_only_at_its_own_rule() -> None:
    welcome = rule("welcome", effect=fixed(500), limits={"once_per_member": True})

    evaluation = program(welcome).evaluate_purchase(
        FIFTY_EUROS, a_member(rules_ever=frozenset({"birthday"})))

    assert evaluation.points == 500


# -- limits and other rules ------------------------------------------------------------------------


def test_a_multiplier_multiplies_the_capped_points() -> None:
    # double capped at 60; x2 after it adds 60
    capped = rule("double", effect=per_euro("2"), limits={"per_transaction": 60}, priority=1)
    again = rule("again", effect={"type": "multiplier", "factor": "2"})

    evaluation = program(capped, again).evaluate_purchase(FIFTY_EUROS, a_member())

    assert points_by_rule(evaluation) == {"double": 60, "again": 60}


def test_the_program_names_the_rules_whose_limits_need_past_awards() -> None:
    shop = program(
        rule("per-transaction-only", limits={"per_transaction": 10}),
        rule("per-day", limits={"per_member": [{"period": "day", "points": 10}]}),
        rule("budgeted", limits={"budget": 1000}),
        rule("welcome", limits={"once_per_member": True}),
        rule("unlimited"),
    )

    assert [r.id for r in shop.tracked_rules()] == ["per-day", "budgeted", "welcome"]

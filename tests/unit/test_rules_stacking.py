"""Stacking and priority: which rules give points together, and in which order they run."""

from __future__ import annotations

from typing import Any

from tests.unit.test_rules_builders import (
    a_member,
    basket,
    event,
    explanation_of,
    fixed,
    line,
    per_euro,
    points_by_rule,
    program,
    rule,
)

FIFTY_EUROS = basket(line(price="50.00"))
NEVER = {"fact": "basket.channel", "op": "eq", "value": "carrier-pigeon"}


def base_rate(**fields: Any) -> dict[str, Any]:
    """1 point per EUR: 50 points on FIFTY_EUROS."""
    return rule("base", effect=per_euro("1"), **fields)


def test_stacking_rules_add_up() -> None:
    evaluation = program(base_rate(), rule("bonus", effect=fixed(10))).evaluate_purchase(
        FIFTY_EUROS, a_member())

    assert points_by_rule(evaluation) == {"base": 50, "bonus": 10}
    assert evaluation.points == 60


def test_rules_run_by_priority_higher_first_and_ties_in_document_order() -> None:
    shop = program(rule("low", priority=-5), rule("tie-a", priority=3), rule("high", priority=9),
                   rule("tie-b", priority=3), rule("default"))

    evaluation = shop.evaluate_purchase(FIFTY_EUROS, a_member())

    assert [r.rule_id for r in evaluation.results] == ["high", "tie-a", "tie-b", "default", "low"]


def test_an_exclusive_rule_takes_back_what_earlier_rules_gave_and_stops_later_ones() -> None:
    shop = program(base_rate(priority=10), rule("bonus", effect=fixed(10), priority=5),
                   rule("vip", effect=fixed(200), stacking="exclusive"),
                   rule("later", effect=fixed(7), priority=-1))

    evaluation = shop.evaluate_purchase(FIFTY_EUROS, a_member())

    assert points_by_rule(evaluation) == {"vip": 200}
    assert evaluation.points == 200
    base = explanation_of(evaluation, "base")
    assert (base["applied"], base["points"]) == (False, 0)
    assert "taken back" in str(base["text"])
    assert "vip is exclusive" in str(explanation_of(evaluation, "bonus")["text"])
    later = explanation_of(evaluation, "later")
    assert later["applied"] is False
    assert "not evaluated" in str(later["text"])
    assert "vip" in str(later["text"])


def test_an_exclusive_rule_that_does_not_apply_takes_nothing_back() -> None:
    shop = program(base_rate(priority=10),
                   rule("vip", effect=fixed(200), stacking="exclusive", conditions=NEVER),
                   rule("later", effect=fixed(7), priority=-1))

    evaluation = shop.evaluate_purchase(FIFTY_EUROS, a_member())

    assert points_by_rule(evaluation) == {"base": 50, "later": 7}


def test_an_exclusive_rule_of_the_highest_priority_is_the_only_one() -> None:
    shop = program(base_rate(), rule("vip", effect=fixed(200), stacking="exclusive", priority=1))

    evaluation = shop.evaluate_purchase(FIFTY_EUROS, a_member())

    assert points_by_rule(evaluation) == {"vip": 200}
    assert "not evaluated" in str(explanation_of(evaluation, "base")["text"])


def test_a_rule_after_an_exclusive_one_multiplies_nothing_because_it_never_runs() -> None:
    shop = program(base_rate(priority=10), rule("vip", effect=fixed(200), stacking="exclusive"),
                   rule("double", effect={"type": "multiplier", "factor": "2"}, priority=-1))

    evaluation = shop.evaluate_purchase(FIFTY_EUROS, a_member())

    assert evaluation.points == 200


def test_a_stop_rule_that_applies_keeps_earlier_rules_and_stops_later_ones() -> None:
    shop = program(base_rate(priority=10), rule("bonus", effect=fixed(10), stacking="stop"),
                   rule("later", effect=fixed(7), priority=-1))

    evaluation = shop.evaluate_purchase(FIFTY_EUROS, a_member())

    assert points_by_rule(evaluation) == {"base": 50, "bonus": 10}
    assert "not evaluated: rule bonus applied first" in str(
        explanation_of(evaluation, "later")["text"])


def test_a_stop_rule_stops_only_when_it_applied() -> None:
    shop = program(base_rate(priority=10),
                   rule("bonus", effect=fixed(10), stacking="stop", conditions=NEVER),
                   rule("later", effect=fixed(7), priority=-1))

    evaluation = shop.evaluate_purchase(FIFTY_EUROS, a_member())

    assert points_by_rule(evaluation) == {"base": 50, "later": 7}


def test_a_stop_rule_cut_to_nothing_by_its_limit_did_not_apply_and_stops_nothing() -> None:
    spent = rule("bonus", effect=fixed(10), stacking="stop", limits={"budget": 100})
    shop = program(spent, rule("later", effect=fixed(7), priority=-1))

    evaluation = shop.evaluate_purchase(FIFTY_EUROS, a_member(budget_left={"bonus": 0}))

    assert points_by_rule(evaluation) == {"later": 7}


def test_every_rule_of_the_trigger_is_explained_even_when_it_gives_nothing() -> None:
    shop = program(base_rate(), rule("never", conditions=NEVER), rule("review", trigger="review"))

    evaluation = shop.evaluate_purchase(FIFTY_EUROS, a_member())

    assert [r.rule_id for r in evaluation.results] == ["base", "never"]


def test_an_event_runs_only_the_rules_of_its_type() -> None:
    shop = program(base_rate(), rule("review", trigger="review", effect=fixed(20)),
                   rule("signup", trigger="signup", effect=fixed(100)),
                   rule("review-double", trigger="review",
                        effect={"type": "multiplier", "factor": "2"}, priority=-1))

    evaluation = shop.evaluate_event(event("review"), a_member())

    assert points_by_rule(evaluation) == {"review": 20, "review-double": 20}
    assert evaluation.earn_base == 0


def test_an_event_nobody_wrote_a_rule_for_earns_nothing() -> None:
    evaluation = program(base_rate()).evaluate_event(event("newsletter-opened"), a_member())

    assert (evaluation.points, evaluation.results) == (0, ())


def test_points_of_rules_that_do_not_count_toward_tiers_are_not_qualifying() -> None:
    shop = program(base_rate(), rule("welcome", effect=fixed(500), qualifying=False))

    evaluation = shop.evaluate_purchase(FIFTY_EUROS, a_member())

    assert (evaluation.points, evaluation.qualifying_points) == (550, 50)


def test_an_evaluation_names_the_program_version() -> None:
    assert program(base_rate()).evaluate_purchase(FIFTY_EUROS, a_member()).version == 1

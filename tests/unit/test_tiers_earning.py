"""A tier's earn multiplier: applied after the purchase rules, as its own result, not qualifying.

The program gives 1 point per euro of the earn base; its gold tier multiplies that by 1.5.
"""

from __future__ import annotations

from loyalty.rules.engine import CompiledProgram, Evaluation
from tests.unit.test_rules_builders import (
    a_member,
    basket,
    event,
    explanation_of,
    line,
    points_by_rule,
    program_from_yaml,
)

PROGRAM = """
    settings:
      earn: {rounding: %s}
    rules:
      - {id: base, name: Base, effect: {type: per_currency_unit, points: "1"}}
      - {id: review, name: Review, trigger: review, effect: {type: fixed, points: 10}}
    tiers:
      measure: spend
      levels:
        - {id: member, name: Member, threshold: "0"}
        - {id: silver, name: Silver, threshold: "500.00"}
        - {id: gold, name: Gold, threshold: "1500.00", multiplier: "1.5"}
"""


def a_program(rounding: str = "floor") -> CompiledProgram:
    return program_from_yaml(PROGRAM % rounding)


def a_41_euro_purchase_by(tier: str | None, rounding: str = "floor") -> Evaluation:
    """41.00 EUR earns 41 points from the base rule."""
    return a_program(rounding).evaluate_purchase(basket(line(price="41.00")),
                                                 a_member(tier=tier))


def test_a_gold_member_earns_half_as_much_again_rounded_down() -> None:
    # 41 x (1.5 - 1) = 20.5, floor = 20
    evaluation = a_41_euro_purchase_by("gold")

    assert points_by_rule(evaluation) == {"base": 41, "tier-gold": 20}
    assert evaluation.points == 61


def test_the_tier_bonus_is_a_separate_result_after_the_rules() -> None:
    evaluation = a_41_euro_purchase_by("gold")

    assert evaluation.results[-1].rule_id == "tier-gold"
    assert explanation_of(evaluation, "tier-gold") == {
        "rule": "tier-gold", "name": "Gold tier", "applied": True, "points": 20,
        "text": "Gold tier: x1.5 on 41 points = +20", "base": "41", "rate": "1.5"}


def test_the_tier_bonus_does_not_count_toward_tiers() -> None:
    evaluation = a_41_euro_purchase_by("gold")

    tier_bonus = evaluation.results[-1]
    assert tier_bonus.qualifying is False
    assert evaluation.qualifying_points == 41


def test_the_tier_bonus_is_rounded_in_the_programs_mode() -> None:
    # 20.5 half up = 21
    assert points_by_rule(a_41_euro_purchase_by("gold", "half_up"))["tier-gold"] == 21


def test_the_lowest_tier_multiplies_nothing() -> None:
    evaluation = a_41_euro_purchase_by("member")

    assert points_by_rule(evaluation) == {"base": 41}
    assert [result.rule_id for result in evaluation.results] == ["base"]


def test_a_tier_without_a_multiplier_adds_no_result() -> None:
    assert [result.rule_id for result in a_41_euro_purchase_by("silver").results] == ["base"]


def test_a_member_without_a_tier_earns_the_rules_points_alone() -> None:
    assert a_41_euro_purchase_by(None).points == 41


def test_a_purchase_that_earns_nothing_gets_no_tier_bonus() -> None:
    # 0.99 EUR x 1 = 0.99, floor = 0
    evaluation = a_program().evaluate_purchase(basket(line(price="0.99")), a_member(tier="gold"))

    assert evaluation.points == 0
    assert "tier-gold" not in [result.rule_id for result in evaluation.results]


def test_events_are_not_multiplied_by_the_tier() -> None:
    evaluation = a_program().evaluate_event(event("review"), a_member(tier="gold"))

    assert points_by_rule(evaluation) == {"review": 10}
    assert evaluation.points == 10

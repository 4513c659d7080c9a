"""Explanations: every rule of the trigger says whether it applied and, if not, why.

The assertions look for key words, not whole sentences, so the wording may improve freely.
"""

from __future__ import annotations

from typing import Any

import pytest

from loyalty.rules.definition import Period
from loyalty.rules.engine import MemberFacts
from tests.unit.test_rules_builders import (
    a_member,
    basket,
    explanation_of,
    fixed,
    line,
    per_euro,
    program,
    rule,
)

MONDAY_NOON = basket(line("SHOE", "50.00", category="shoes"), at="2026-05-04 12:00")


def why_not(promotion: dict[str, Any], member: MemberFacts | None = None) -> str:
    """The explanation text of ``promotion`` on MONDAY_NOON, which it must not have applied to."""
    evaluation = program(promotion).evaluate_purchase(MONDAY_NOON, member or a_member())
    entry = explanation_of(evaluation, promotion["id"])
    assert entry["applied"] is False
    assert entry["points"] == 0
    return str(entry["text"])


@pytest.mark.parametrize("promotion, member, words", [
    (rule(window={"start": "2026-06-01"}), None, ["validity window"]),
    (rule(window={"end": "2026-05-03"}), None, ["validity window"]),
    (rule(schedule={"weekdays": ["sat", "sun"]}), None, ["days", "sat, sun"]),
    (rule(schedule={"hours": {"from": "18:00", "to": "20:00"}}), None, ["hours", "18:00-20:00"]),
    (rule(conditions={"fact": "basket.channel", "value": "web"}), None, ["conditions", "not met"]),
    (rule(conditions={"fact": "line.category", "value": "bags"}), None, ["no line", "conditions"]),
    (rule(limits={"once_per_member": True}), a_member(rules_ever=frozenset({"bonus"})),
     ["already given", "once"]),
    (rule(limits={"per_member": [{"period": "week", "points": 5}]}),
     a_member(awarded={("bonus", Period.WEEK): 5}), ["capped", "per week", "0 left"]),
    (rule(limits={"budget": 5}), a_member(budget_left={"bonus": 0}), ["budget", "0 left"]),
    (rule(effect={"type": "multiplier", "factor": "2"}), None, ["nothing to give"]),
], ids=["not-yet", "over", "days", "hours", "conditions", "lines", "once", "cap", "budget",
        "nothing"])
def test_a_rule_that_did_not_apply_says_why(promotion: dict[str, Any],
                                            member: MemberFacts | None,
                                            words: list[str]) -> None:
    text = why_not(promotion, member)

    for word in words:
        assert word in text


def test_the_first_reason_is_given_when_there_are_several() -> None:
    # outside the window and on the wrong day: the window is checked first
    text = why_not(rule(window={"start": "2027-01-01"}, schedule={"weekdays": ["sun"]}))

    assert "validity window" in text
    assert "days" not in text


def test_an_applied_rule_explains_its_base_rate_and_points() -> None:
    evaluation = program(rule("shoes", effect=per_euro("2"))).evaluate_purchase(
        MONDAY_NOON, a_member())

    entry = explanation_of(evaluation, "shoes")
    assert entry == {"rule": "shoes", "name": "shoes", "applied": True, "points": 100,
                     "text": entry["text"], "base": "50.00", "rate": "2"}
    assert "50.00 EUR" in str(entry["text"])
    assert str(entry["text"]).endswith("= 100")


def test_a_fixed_rule_has_neither_base_nor_rate() -> None:
    evaluation = program(rule("welcome", effect=fixed(50))).evaluate_purchase(
        MONDAY_NOON, a_member())

    entry = explanation_of(evaluation, "welcome")
    assert set(entry) == {"rule", "name", "applied", "points", "text"}
    assert "50 points" in str(entry["text"])


def test_a_cut_rule_still_applies_and_names_its_cut() -> None:
    evaluation = program(rule("shoes", effect=per_euro("2"),
                              limits={"per_transaction": 30})).evaluate_purchase(
        MONDAY_NOON, a_member())

    entry = explanation_of(evaluation, "shoes")
    assert (entry["applied"], entry["points"]) == (True, 30)
    assert "per transaction" in str(entry["cut"])


def test_the_explanation_lists_the_rules_in_the_order_they_ran() -> None:
    shop = program(rule("second"), rule("first", priority=1))

    evaluation = shop.evaluate_purchase(MONDAY_NOON, a_member())

    assert [entry["rule"] for entry in evaluation.explanation()] == ["first", "second"]

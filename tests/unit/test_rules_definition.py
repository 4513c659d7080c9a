"""Loading a program definition: every mistake listed with its path, only as DefinitionError."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from typing import Any

import pytest
import yaml

from loyalty.rules.definition import (
    DefinitionError,
    FixedPoints,
    PerCurrencyUnit,
    load_definition,
)
from tests.unit.test_rules_builders import a_member, basket, line, program, rule


def problems_of(document: Any) -> dict[str, str]:
    """Path -> message of every problem ``load_definition`` finds in ``document``."""
    with pytest.raises(DefinitionError) as raised:
        load_definition(document)
    problems = raised.value.problems
    assert all(isinstance(path, str) and isinstance(text, str) for path, text in problems)
    return dict(problems)


def problems_of_yaml(text: str) -> dict[str, str]:
    return problems_of(yaml.safe_load(textwrap.dedent(text)))


def one_condition(condition: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"rules": [rule(conditions=condition, **fields)]}


def fixed_10() -> dict[str, Any]:
    return {"type": "fixed", "points": 10}


# -- a well-formed document -------------------------------------------------------------------


def test_a_yaml_rule_loads_with_its_effect_limits_and_stacking() -> None:
    definition = load_definition(yaml.safe_load(textwrap.dedent("""
        rules:
          - id: shoes-double
            name: Double points on shoes
            conditions: {fact: line.category, op: in, value: [shoes, boots]}
            effect: {type: per_currency_unit, points: "2", over: matching_lines}
            limits: {per_transaction: 500, per_member: [{period: month, points: 2000}]}
            priority: 10
            stacking: exclusive
    """)))

    shoes = definition.rules[0]
    assert isinstance(shoes.effect, PerCurrencyUnit)
    assert shoes.effect.points == Decimal("2")
    assert shoes.limits.per_transaction == 500
    assert shoes.limits.tracked
    assert (shoes.priority, shoes.stacking.value, shoes.trigger) == (10, "exclusive", "purchase")


# -- several mistakes at once -----------------------------------------------------------------


def test_every_mistake_of_a_document_is_listed_with_its_path() -> None:
    problems = problems_of_yaml("""
        rules:
          - id: spring
            name: Spring
            conditions:
              all:
                - {fact: basket.total, op: gte, value: "50.00"}
                - {fact: basket.lines, op: gte, value: "two"}
                - not: {fact: member.tier, op: gt, value: gold}
                - any:
                    - {fact: line.colour, value: red}
                    - {fact: member.spend_last_days, op: gt, value: "100.00"}
            effect: {type: fixed, points: 0}
          - id: Bad Id!
            name: ""
            effect: {type: per_currency_unit, points: "1"}
          - id: third
            name: Third
            effect: {type: multiplier, factor: 1.5}
            schedule: {weekdays: [funday], hours: {from: "25:00", to: "6pm"}}
            window: {start: 2026-05-01, end: 2026-04-01}
            limits: {per_member: [{period: fortnight, points: 10}], budget: 0}
            stacking: sometimes
            priority: 5000
            colour: blue
    """)

    assert problems.keys() == {
        "rules[0].conditions.all[1].value",
        "rules[0].conditions.all[2].not.op",
        "rules[0].conditions.all[3].any[0].fact",
        "rules[0].conditions.all[3].any[1].days",
        "rules[0].effect.points",
        "rules[1].id",
        "rules[1].name",
        "rules[2].effect.factor",
        "rules[2].schedule.weekdays[0]",
        "rules[2].schedule.hours.from",
        "rules[2].schedule.hours.to",
        "rules[2].window",
        "rules[2].limits.per_member[0].period",
        "rules[2].limits.budget",
        "rules[2].stacking",
        "rules[2].priority",
        "rules[2].colour",
    }
    assert problems["rules[0].conditions.all[1].value"] == "expected a number"
    assert "eq" in problems["rules[0].conditions.all[2].not.op"]
    assert "gt" not in problems["rules[0].conditions.all[2].not.op"].split(": ")[-1]
    assert "unknown fact" in problems["rules[0].conditions.all[3].any[0].fact"]
    assert "spend_last_days" in problems["rules[0].conditions.all[3].any[1].days"]
    assert "floats" in problems["rules[2].effect.factor"]
    assert "ends before it starts" in problems["rules[2].window"]


def test_the_error_message_joins_every_problem_with_its_path() -> None:
    with pytest.raises(DefinitionError) as raised:
        load_definition({"rules": [rule(priority=5000), rule("second", stacking="never")]})

    message = str(raised.value)
    assert "rules[0].priority: " in message
    assert "; rules[1].stacking: " in message


@pytest.mark.parametrize("document", [
    None,
    "just text",
    ["a", "list"],
    {"rules": "not a list"},
    {"rules": [{"id": "no-effect"}]},
    {"rules": [rule(effect={"type": "cashback", "points": 5})]},
    {"rules": [rule(conditions="basket.total > 50")]},
    {"rules": [rule(conditions={"fact": 5, "value": "x"})]},
    {"settings": {"earn": {"rounding": "bankers"}}, "rules": []},
    {"settings": {"earn": {"points_per_unit": 1.5}}},
    {"settings": {"earn": {"color": "blue"}}},
    {"rules": [rule(limits={"per_member": [{"period": "day", "points": -1}]})]},
], ids=["none", "text", "list", "rules-text", "no-effect", "unknown-effect", "condition-text",
        "fact-number", "unknown-rounding", "float-rate", "unknown-setting", "negative-cap"])
def test_a_malformed_document_raises_only_a_definition_error(document: Any) -> None:
    assert problems_of(document)


@pytest.mark.parametrize("amount", ["lots", "12,50", "1e3", "-"])
def test_a_malformed_money_value_is_a_definition_error_too(amount: str) -> None:
    # A money value is checked with Money.parse, whose InvalidAmount is not a ValueError, so it
    # must be turned into a problem rather than escape load_definition as another exception.
    problems = problems_of(one_condition({"fact": "basket.total", "op": "gte", "value": amount}))

    assert list(problems) == ["rules[0].conditions.value"]


def test_a_malformed_money_value_in_a_list_is_a_definition_error_too() -> None:
    problems = problems_of(
        one_condition({"fact": "line.unit_price", "op": "in", "value": ["9.99", "cheap"]}))

    assert list(problems) == ["rules[0].conditions.value"]


def test_two_rules_with_one_id_are_named_at_the_second_one() -> None:
    problems = problems_of({"rules": [rule("twin"), rule("twin")]})

    assert "two rules have the id 'twin'" in problems["rules[1].id"]


# -- the implicit base rule --------------------------------------------------------------------


def test_a_program_without_rules_earns_by_its_points_per_unit_setting() -> None:
    definition = load_definition({"settings": {"earn": {"points_per_unit": "1.5"}}})

    [base] = definition.effective_rules()
    assert base.id == "base-rate"
    assert base.name == "1.5 point(s) per currency unit"
    assert base.effect == PerCurrencyUnit(type="per_currency_unit", points=Decimal("1.5"))


def test_an_empty_program_earns_one_point_per_euro_rounded_down() -> None:
    shop = program()

    evaluation = shop.evaluate_purchase(basket(line(price="12.99")), a_member())

    # 12.99 EUR x 1 point = 12.99, floor = 12
    assert evaluation.points == 12
    assert [r.rule_id for r in evaluation.results] == ["base-rate"]


def test_a_program_without_rules_and_a_zero_rate_earns_nothing() -> None:
    definition = load_definition({"settings": {"earn": {"points_per_unit": "0"}}})

    assert definition.effective_rules() == []


def test_a_program_with_rules_earns_only_by_its_rules() -> None:
    definition = load_definition({"rules": [rule()]})

    assert [r.id for r in definition.effective_rules()] == ["bonus"]


def test_points_per_unit_together_with_rules_is_a_mistake() -> None:
    problems = problems_of({"settings": {"earn": {"points_per_unit": "1"}}, "rules": [rule()]})

    assert "per_currency_unit rule" in problems["settings.earn.points_per_unit"]


def test_other_earn_settings_go_well_with_rules() -> None:
    definition = load_definition({"settings": {"earn": {"rounding": "ceil"}}, "rules": [rule()]})

    assert definition.settings.earn.rounding.value == "ceil"


# -- what each kind of rule may say -------------------------------------------------------------


@pytest.mark.parametrize("fact, value", [
    ("basket.total", "50.00"),
    ("basket.channel", "web"),
    ("line.sku", "A-1"),
    ("line.category", "shoes"),
])
def test_an_event_rule_cannot_look_at_a_basket_or_its_lines(fact: str, value: str) -> None:
    problems = problems_of(
        one_condition({"fact": fact, "value": value}, trigger="review", effect=fixed_10()))

    assert f"an event rule has no basket: {fact}" in problems["rules[0]"]


def test_an_event_rule_finds_a_basket_fact_even_deep_in_its_conditions() -> None:
    condition = {"all": [{"fact": "event.type", "value": "review"},
                         {"not": {"any": [{"fact": "basket.store", "value": "paris"}]}}]}

    problems = problems_of(one_condition(condition, trigger="review"))

    assert "basket.store" in problems["rules[0]"]


@pytest.mark.parametrize("effect", [
    {"type": "per_currency_unit", "points": "1"},
    {"type": "per_unit", "points": "1"},
])
def test_an_event_rule_earns_fixed_points_or_a_multiplier(effect: dict[str, Any]) -> None:
    problems = problems_of({"rules": [rule(trigger="signup", effect=effect)]})

    assert "fixed points or a multiplier" in problems["rules[0]"]


def test_an_event_rule_may_look_at_the_member_and_the_event() -> None:
    condition = {"all": [{"fact": "member.tier", "value": "gold"},
                         {"fact": "event.properties.stars", "op": "gte", "value": 4}]}

    definition = load_definition(one_condition(condition, trigger="review"))

    assert isinstance(definition.rules[0].effect, FixedPoints)


def test_a_purchase_rule_has_no_event_to_look_at() -> None:
    problems = problems_of(one_condition({"fact": "event.type", "value": "review"}))

    assert "a purchase rule has no event" in problems["rules[0]"]


@pytest.mark.parametrize("effect", [
    {"type": "per_currency_unit", "points": "2", "over": "matching_lines"},
    {"type": "per_unit", "points": "10"},
])
def test_an_effect_over_matching_lines_needs_a_line_condition(effect: dict[str, Any]) -> None:
    without = problems_of(
        one_condition({"fact": "basket.total", "op": "gte", "value": "10.00"}, effect=effect))
    with_one = load_definition(
        one_condition({"not": {"fact": "line.sku", "value": "BAG"}}, effect=effect))

    assert "add a line.* condition" in without["rules[0]"]
    assert with_one.rules[0].conditions is not None


# -- comparisons: operators and values by fact type -----------------------------------------


@pytest.mark.parametrize("fact, op", [
    ("basket.total", "contains"),
    ("basket.total", "exists"),
    ("basket.lines", "contains_any"),
    ("time.date", "contains"),
    ("basket.channel", "gt"),
    ("basket.channel", "between"),
    ("basket.channel", "contains"),
    ("time.weekday", "gte"),
    ("time.weekday", "between"),
    ("time.weekday", "exists"),
    ("basket.promo_codes", "eq"),
    ("line.tags", "in"),
    ("member.attributes.vip", "contains"),
])
def test_each_fact_type_takes_only_its_operators(fact: str, op: str) -> None:
    problems = problems_of(one_condition({"fact": fact, "op": op, "value": "x"}))

    assert "takes the operators" in problems["rules[0].conditions.op"]


@pytest.mark.parametrize("condition, hint", [
    ({"fact": "basket.total", "op": "gte", "value": 50}, "decimal string"),
    ({"fact": "basket.lines", "op": "eq", "value": "2"}, "a number"),
    ({"fact": "basket.lines", "op": "eq", "value": True}, "a number"),
    ({"fact": "time.date", "op": "eq", "value": "24/12/2026"}, "a date"),
    ({"fact": "time.weekday", "op": "eq", "value": "monday"}, "a weekday"),
    ({"fact": "basket.channel", "op": "eq", "value": 3}, "a text"),
    ({"fact": "basket.promo_codes", "op": "contains", "value": ["A"]}, "a text"),
    ({"fact": "member.attributes.score", "op": "gt", "value": 2.5}, "true/false"),
    ({"fact": "basket.channel", "op": "in", "value": []}, "non-empty list"),
    ({"fact": "basket.channel", "op": "not_in", "value": "web"}, "non-empty list"),
    ({"fact": "basket.promo_codes", "op": "contains_any", "value": "A"}, "non-empty list"),
    ({"fact": "basket.lines", "op": "between", "value": [1, 2, 3]}, "two values"),
    ({"fact": "basket.lines", "op": "between", "value": [1, "9"]}, "a number"),
    ({"fact": "basket.store", "op": "exists", "value": "yes"}, "true or false"),
], ids=lambda item: item if isinstance(item, str) else None)
def test_a_comparison_value_must_fit_its_fact_and_operator(condition: dict[str, Any],
                                                           hint: str) -> None:
    problems = problems_of(one_condition(condition))

    assert hint in problems["rules[0].conditions.value"]


def test_an_unquoted_money_amount_in_yaml_is_refused_as_a_float() -> None:
    problems = problems_of_yaml("""
        rules:
          - id: big
            name: Big baskets
            conditions: {fact: basket.total, op: gte, value: 50.00}
            effect: {type: fixed, points: 5}
    """)

    assert "decimal string" in problems["rules[0].conditions.value"]


def test_an_unquoted_yaml_date_is_a_date() -> None:
    # YAML reads 2026-12-24 as a date; the evaluator compares dates, so the loader should
    # accept one rather than answer "expected a date such as 2026-12-24".
    definition = load_definition(yaml.safe_load(textwrap.dedent("""
        rules:
          - id: christmas-eve
            name: Christmas Eve
            conditions: {fact: time.date, op: eq, value: 2026-12-24}
            effect: {type: fixed, points: 5}
    """)))

    assert definition.rules[0].conditions is not None


def test_spend_over_the_last_days_needs_its_days_and_no_other_fact_takes_them() -> None:
    missing = problems_of(
        one_condition({"fact": "member.spend_last_days", "op": "gte", "value": "100.00"}))
    stray = problems_of(
        one_condition({"fact": "member.purchases", "op": "gte", "value": 3, "days": 30}))
    too_long = problems_of(one_condition(
        {"fact": "member.spend_last_days", "op": "gte", "value": "1.00", "days": 5000}))

    assert "only with it" in missing["rules[0].conditions.days"]
    assert "only with it" in stray["rules[0].conditions.days"]
    assert "rules[0].conditions.days" in too_long


@pytest.mark.parametrize("tree", [{"all": []}, {"any": []}, {"not": None}])
def test_an_empty_branch_of_a_condition_tree_is_a_mistake(tree: dict[str, Any]) -> None:
    problems = problems_of(one_condition(tree))

    assert any(path.startswith("rules[0].conditions") for path in problems)


@pytest.mark.parametrize("fact", ["member.attributes.", "event.properties.", "member.nickname",
                                  "basket", "weather.today"])
def test_an_unknown_fact_is_named_in_the_problem(fact: str) -> None:
    problems = problems_of(one_condition({"fact": fact, "value": "x"}))

    assert fact in problems["rules[0].conditions.fact"]


def test_open_ended_facts_take_any_name_after_their_prefix() -> None:
    condition = {"all": [{"fact": "member.attributes.favourite_shop", "value": "lyon"},
                         {"fact": "member.attributes.newsletter", "value": True}]}

    definition = load_definition(one_condition(condition))

    assert definition.rules[0].conditions is not None


def test_the_hours_of_a_schedule_may_end_at_midnight_written_24_00() -> None:
    evening = program(rule(schedule={"hours": {"from": "18:00", "to": "24:00"}}))

    late = evening.evaluate_purchase(basket(at="2026-05-04 23:59"), a_member())

    assert late.points == 5


def test_a_rule_id_is_a_short_lower_case_slug() -> None:
    problems = problems_of({"rules": [rule("a" * 65), rule("UPPER"), rule("-dash")]})

    assert {"rules[0].id", "rules[1].id", "rules[2].id"} <= problems.keys()


def test_an_event_rule_is_fine_with_a_fixed_effect() -> None:
    definition = load_definition({"rules": [rule(trigger="signup", effect=fixed_10())]})

    assert definition.rules[0].trigger == "signup"

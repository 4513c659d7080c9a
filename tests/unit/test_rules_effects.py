"""Effects, rounding and the earn base: how many points a rule gives, to the point."""

from __future__ import annotations

from typing import Any

import pytest

from loyalty.domain.basket import Basket
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


def a_typical_web_order(**fields: Any) -> Basket:
    """Two 30.00 EUR jumpers with 10.00 off (50.00 paid, 8.33 of it VAT) and 4.90 shipping."""
    return basket(line("JUMPER", "30.00", quantity=2, discount="10.00", tax="8.33",
                       category="knitwear"), shipping="4.90", **fields)


def points_for(purchase: Basket, *rules: dict[str, Any], **earn: Any) -> int:
    return program(*rules, **earn).evaluate_purchase(purchase, a_member()).points


SHOES = {"fact": "line.category", "op": "eq", "value": "shoes"}


def shoes_and_socks() -> Basket:
    """Shoes at 80.00 (13.33 VAT) and 2 pairs of socks at 5.00 (1.67 VAT on the line)."""
    return basket(line("SHOE", "80.00", tax="13.33", category="shoes"),
                  line("SOCK", "5.00", quantity=2, tax="1.67", category="socks"))


# -- per_currency_unit -----------------------------------------------------------------------------


def test_points_per_euro_are_given_on_the_earn_base() -> None:
    # earn base: 50.00 - 8.33 VAT = 41.67 EUR; 2 x 41.67 = 83.34, floor = 83
    evaluation = program(rule("double", effect=per_euro("2"))).evaluate_purchase(
        a_typical_web_order(), a_member())

    assert evaluation.points == 83
    assert evaluation.earn_base == 4167


def test_a_fractional_rate_per_euro_is_exact() -> None:
    # 0.1 x 41.67 = 4.167, floor = 4 (a float rate would be 0.1000000000000000055...)
    assert points_for(a_typical_web_order(), rule(effect=per_euro("0.1"))) == 4


def test_points_per_euro_over_matching_lines_count_only_those_lines() -> None:
    # the shoes' base: 80.00 - 13.33 VAT = 66.67; 3 x 66.67 = 200.01, floor = 200
    shoes_triple = rule("shoes", conditions=SHOES, effect=per_euro("3", over="matching_lines"))

    evaluation = program(shoes_triple).evaluate_purchase(shoes_and_socks(), a_member())

    assert evaluation.points == 200
    assert explanation_of(evaluation, "shoes")["base"] == "66.67"
    assert "matching lines" in str(explanation_of(evaluation, "shoes")["text"])


def test_points_per_unit_of_a_currency_without_decimals() -> None:
    # 1234 JPY x 0.01 = 12.34, floor = 12
    purchase = basket(line(price="1234", currency="JPY"), currency="JPY")

    assert points_for(purchase, rule(effect=per_euro("0.01")), currency="JPY") == 12


def test_points_per_unit_of_a_currency_with_three_decimals() -> None:
    # 1.250 KWD x 10 = 12.5, floor = 12
    purchase = basket(line(price="1.250", currency="KWD"), currency="KWD")

    assert points_for(purchase, rule(effect=per_euro("10")), currency="KWD") == 12


# -- fixed -----------------------------------------------------------------------------------------


def test_fixed_points_do_not_depend_on_the_basket() -> None:
    small, large = basket(line(price="1.00")), basket(line(price="999.00"))
    welcome = rule("welcome", effect=fixed(50))

    assert points_for(small, welcome) == points_for(large, welcome) == 50


# -- multiplier ------------------------------------------------------------------------------------


def test_a_multiplier_multiplies_what_the_rules_before_it_earned() -> None:
    # base 1 x 41.67 = 41 points; x2 adds as much again: +41 = 82
    base = rule("base", effect=per_euro("1"), priority=10)
    double = rule("double", effect={"type": "multiplier", "factor": "2"})

    evaluation = program(base, double).evaluate_purchase(a_typical_web_order(), a_member())

    assert points_by_rule(evaluation) == {"base": 41, "double": 41}
    assert evaluation.points == 82
    assert explanation_of(evaluation, "double")["base"] == "41"
    assert explanation_of(evaluation, "double")["rate"] == "2"


def test_a_multiplier_adds_up_what_every_earlier_rule_earned() -> None:
    # 41 + 10 = 51 before it; x3 adds 2 x 51 = 102
    rules = (rule("base", effect=per_euro("1"), priority=10),
             rule("bonus", effect=fixed(10), priority=5),
             rule("triple", effect={"type": "multiplier", "factor": "3"}))

    evaluation = program(*rules).evaluate_purchase(a_typical_web_order(), a_member())

    assert points_by_rule(evaluation) == {"base": 41, "bonus": 10, "triple": 102}


@pytest.mark.parametrize("rounding, extra", [("floor", 20), ("half_up", 21), ("ceil", 21),
                                             ("half_even", 20)])
def test_a_multiplier_rounds_in_the_programs_mode(rounding: str, extra: int) -> None:
    # 41 points x (1.5 - 1) = 20.5
    base = rule("base", effect=fixed(41), priority=10)
    half_again = rule("half-again", effect={"type": "multiplier", "factor": "1.5"})

    evaluation = program(base, half_again, rounding=rounding).evaluate_purchase(
        a_typical_web_order(), a_member())

    assert points_by_rule(evaluation)["half-again"] == extra


def test_a_multiplier_does_not_multiply_rules_evaluated_after_it() -> None:
    # the multiplier comes first (priority 10): nothing earned before it, nothing to give
    early_double = rule("double", effect={"type": "multiplier", "factor": "2"}, priority=10)
    base = rule("base", effect=per_euro("1"))

    evaluation = program(early_double, base).evaluate_purchase(a_typical_web_order(), a_member())

    assert points_by_rule(evaluation) == {"base": 41}
    assert "nothing to give" in str(explanation_of(evaluation, "double")["text"])


# -- per_unit --------------------------------------------------------------------------------------


def test_points_per_unit_count_the_units_of_the_matching_lines() -> None:
    # 2 pairs of socks x 10 points = 20; the shoes do not match
    socks = rule("socks", conditions={"fact": "line.category", "value": "socks"},
                 effect={"type": "per_unit", "points": "10"})

    evaluation = program(socks).evaluate_purchase(shoes_and_socks(), a_member())

    assert evaluation.points == 20
    assert explanation_of(evaluation, "socks")["base"] == "2"


def test_fractional_points_per_unit_are_rounded() -> None:
    # 3 units x 0.5 = 1.5: floor 1, ceil 2
    three = basket(line("PEN", "1.00", quantity=3, category="office"))
    pens = rule("pens", conditions={"fact": "line.sku", "value": "PEN"},
                effect={"type": "per_unit", "points": "0.5"})

    assert points_for(three, pens, rounding="floor") == 1
    assert points_for(three, pens, rounding="ceil") == 2


# -- rounding modes and scopes ---------------------------------------------------------------------


@pytest.mark.parametrize("amount, rounding, points", [
    ("2.49", "floor", 2), ("2.49", "half_up", 2), ("2.49", "half_even", 2), ("2.49", "ceil", 3),
    ("2.50", "floor", 2), ("2.50", "half_up", 3), ("2.50", "half_even", 2), ("2.50", "ceil", 3),
    ("3.50", "floor", 3), ("3.50", "half_up", 4), ("3.50", "half_even", 4), ("3.50", "ceil", 4),
    ("3.00", "floor", 3), ("3.00", "half_up", 3), ("3.00", "half_even", 3), ("3.00", "ceil", 3),
])
def test_each_rounding_mode_rounds_the_exact_points(amount: str, rounding: str,
                                                    points: int) -> None:
    # 1 point per EUR: the exact points are the amount
    assert points_for(basket(line(price=amount)), rounding=rounding) == points


TWO_HALVES = basket(line("a", "2.50"), line("b", "2.50"))


@pytest.mark.parametrize("rounding, per_basket, per_line", [
    ("floor", 5, 4),  # basket: 5.00 -> 5;  lines: 2 + 2
    ("half_up", 5, 6),  # lines: 3 + 3
    ("half_even", 5, 4),  # lines: 2 + 2 (2.5 rounds to the even 2)
    ("ceil", 5, 6),  # lines: 3 + 3
])
def test_rounding_per_basket_rounds_once_and_per_line_rounds_each_line(
        rounding: str, per_basket: int, per_line: int) -> None:
    assert points_for(TWO_HALVES, rounding=rounding, rounding_scope="basket") == per_basket
    assert points_for(TWO_HALVES, rounding=rounding, rounding_scope="line") == per_line


def test_rounding_per_line_rounds_shipping_on_its_own() -> None:
    # lines 2.50 + 2.50, shipping 1.50, ceil per line: 3 + 3 + 2 = 8 (per basket: 6.50 -> 7)
    purchase = basket(line("a", "2.50"), line("b", "2.50"), shipping="1.50")

    assert points_for(purchase, rounding="ceil", rounding_scope="line",
                      include_shipping=True) == 8
    assert points_for(purchase, rounding="ceil", include_shipping=True) == 7


def test_rounding_per_line_applies_to_matching_lines() -> None:
    # 3 per EUR, floor per line: the shoes 66.67 x 3 = 200.01 -> 200;
    # two more shoes at 0.33 each (no tax): 0.99 -> 0 and 0.99 -> 0; per basket: 201.99 -> 201
    purchase = basket(line("SHOE", "80.00", tax="13.33", category="shoes"),
                      line("LACE", "0.33", category="shoes"),
                      line("LACE-2", "0.33", category="shoes"))
    shoes = rule(conditions=SHOES, effect=per_euro("3", over="matching_lines"))

    assert points_for(purchase, shoes, rounding_scope="line") == 200
    assert points_for(purchase, shoes) == 201


def test_rounding_per_line_applies_to_points_per_unit() -> None:
    # 0.5 per unit, floor: two lines of 1 unit give 0 + 0 per line, 1 per basket
    pens = basket(line("PEN", category="office"), line("PENCIL", category="office"))
    office = rule(conditions={"fact": "line.category", "value": "office"},
                  effect={"type": "per_unit", "points": "0.5"})

    assert points_for(pens, office, rounding_scope="basket") == 1
    assert points_for(pens, office, rounding_scope="line") == 0


def test_the_explanation_names_the_rounding() -> None:
    evaluation = program(rounding="half_even", rounding_scope="line").evaluate_purchase(
        TWO_HALVES, a_member())

    text = str(explanation_of(evaluation, "base-rate")["text"])
    assert "rounded half_even per line" in text
    assert text.endswith("= 4")


# -- the earn base ---------------------------------------------------------------------------------


@pytest.mark.parametrize("earn, points", [
    ({}, 41),  # 50.00 - 8.33 VAT = 41.67
    ({"include_tax": True}, 50),  # 50.00
    ({"before_discounts": True}, 51),  # 2 x 30.00 - 8.33 = 51.67
    ({"before_discounts": True, "include_tax": True}, 60),  # 2 x 30.00
    ({"include_shipping": True}, 46),  # 41.67 + 4.90 = 46.57
    ({"include_shipping": True, "include_tax": True}, 54),  # 50.00 + 4.90 = 54.90
], ids=lambda item: ",".join(item) or "defaults" if isinstance(item, dict) else str(item))
def test_the_earn_base_follows_the_programs_settings(earn: dict[str, Any], points: int) -> None:
    assert points_for(a_typical_web_order(), **earn) == points


def test_excluded_skus_and_categories_do_not_earn() -> None:
    # 41.67 from the jumpers; the gift card and the cigarettes earn nothing
    purchase = basket(line("JUMPER", "30.00", quantity=2, discount="10.00", tax="8.33"),
                      line("GIFT-CARD-50", "50.00"),
                      line("CIGARS", "12.00", tax="2.00", category="tobacco"))

    evaluation = program(excluded_skus=["GIFT-CARD-50"],
                         excluded_categories=["tobacco"]).evaluate_purchase(purchase, a_member())

    assert evaluation.points == 41
    assert evaluation.earn_base == 4167


def test_an_excluded_line_still_matches_a_rule_aimed_at_it_but_has_no_earn_base() -> None:
    # A gift card is excluded from the earn base, yet a rule may still reward buying one.
    purchase = basket(line("SHOE", "80.00", category="shoes"))
    shoes = rule(conditions=SHOES, effect=fixed(10))

    evaluation = program(shoes, excluded_skus=["SHOE"]).evaluate_purchase(purchase, a_member())

    assert evaluation.points == 10
    assert evaluation.earn_base == 0


@pytest.mark.parametrize("paid, earn, points", [
    ({"paid_with_points": "20.00"}, {}, 21),  # 41.67 - 20.00 = 21.67
    ({"paid_with_points": "20.00"}, {"include_points_paid": True}, 41),
    ({"paid_with_gift_cards": "30.00"}, {}, 11),  # 41.67 - 30.00 = 11.67
    ({"paid_with_gift_cards": "30.00"}, {"include_gift_cards": True}, 41),
    ({"paid_with_points": "20.00", "paid_with_gift_cards": "10.00"}, {}, 11),  # 41.67 - 30.00
    ({"paid_with_points": "20.00", "paid_with_gift_cards": "10.00"},
     {"include_points_paid": True}, 31),  # 41.67 - 10.00 = 31.67
], ids=lambda item: ",".join(f"{k}={v}" for k, v in item.items()) or "excluded"
   if isinstance(item, dict) else str(item))
def test_what_is_paid_with_points_or_gift_cards_earns_only_if_the_program_says_so(
        paid: dict[str, str], earn: dict[str, Any], points: int) -> None:
    assert points_for(a_typical_web_order(**paid), **earn) == points


def test_a_basket_paid_entirely_with_points_earns_nothing() -> None:
    # 41.67 - 50.00 < 0: the earn base is 0, never negative
    evaluation = program().evaluate_purchase(a_typical_web_order(paid_with_points="50.00"),
                                             a_member())

    assert (evaluation.points, evaluation.earn_base) == (0, 0)
    assert "nothing to give" in str(explanation_of(evaluation, "base-rate")["text"])


def test_points_paid_reduce_each_line_in_proportion() -> None:
    # 60.00 + 40.00 = 100.00, half of it paid with points: each line keeps half its base;
    # 2 per EUR on the shoes' 30.00 = 60
    purchase = basket(line("SHOE", "60.00", category="shoes"), line("BAG", "40.00"),
                      paid_with_points="50.00")
    shoes = rule(conditions=SHOES, effect=per_euro("2", over="matching_lines"))

    assert points_for(purchase, shoes) == 60


def test_points_paid_reduce_shipping_in_the_same_proportion_when_rounding_per_line() -> None:
    # 100.00 of goods + 10.00 shipping = 110.00, of which 55.00 paid with points: half remains.
    # Each part keeps half: the goods 50.00 and the shipping 5.00; 1 per EUR = 50 + 5 = 55,
    # the same as per basket (55.00 -> 55).
    purchase = basket(line(price="100.00"), shipping="10.00", paid_with_points="55.00")

    per_basket = points_for(purchase, include_shipping=True)
    per_line = points_for(purchase, include_shipping=True, rounding_scope="line")

    assert per_basket == 55
    assert per_line == 55

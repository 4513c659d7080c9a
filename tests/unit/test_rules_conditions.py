"""Conditions: every operator on every fact type, every fact, and all/any/not trees.

Each comparison is tried on a rule that gives 5 fixed points, so "it holds" means "the rule
applied". Line conditions are tried with a ``per_unit`` rule (1 point per unit) over lines of
different quantities, so the points say which lines matched.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from loyalty.domain.basket import Basket, Event
from loyalty.rules.definition import FACTS
from loyalty.rules.engine import MemberFacts
from tests.unit.test_rules_builders import (
    a_member,
    basket,
    event,
    line,
    program,
    rule,
)


def holds(condition: dict[str, Any], purchase: Basket | None = None,
          member: MemberFacts | None = None) -> bool:
    """Whether a purchase rule with ``condition`` applies to ``purchase`` by ``member``."""
    shop = program(rule(conditions=condition))
    evaluation = shop.evaluate_purchase(purchase or basket(), member or a_member())
    return evaluation.points == 5


def holds_for_event(condition: dict[str, Any], happened: Event,
                    member: MemberFacts | None = None) -> bool:
    shop = program(rule(trigger=happened.type, conditions=condition))
    return shop.evaluate_event(happened, member or a_member()).points == 5


def units_matching(condition: dict[str, Any], purchase: Basket) -> int:
    """The units of the lines matching ``condition``: 1 point per unit, 0 if none matched."""
    shop = program(rule(conditions=condition, effect={"type": "per_unit", "points": "1"}))
    return shop.evaluate_purchase(purchase, a_member()).points


def compare(fact: str, op: str, value: Any) -> dict[str, Any]:
    return {"fact": fact, "op": op, "value": value}


# -- operators, by fact type ---------------------------------------------------------------------

FIFTY_EUROS = basket(line(price="50.00"))


@pytest.mark.parametrize("op, value, expected", [
    ("eq", "50.00", True),
    ("eq", "50", True),  # the same amount, written without decimals
    ("eq", "50.01", False),
    ("ne", "49.99", True),
    ("ne", "50.00", False),
    ("gt", "49.99", True),
    ("gt", "50.00", False),
    ("gte", "50.00", True),
    ("gte", "50.01", False),
    ("lt", "50.01", True),
    ("lt", "50.00", False),
    ("lte", "50.00", True),
    ("lte", "49.99", False),
    ("between", ["50.00", "60.00"], True),  # inclusive at the low end
    ("between", ["40.00", "50.00"], True),  # and at the high end
    ("between", ["50.01", "60.00"], False),
    ("between", ["10.00", "49.99"], False),
    ("in", ["10.00", "50.00"], True),
    ("in", ["10.00", "50.10"], False),
    ("not_in", ["10.00", "50.10"], True),
    ("not_in", ["50.00"], False),
])
def test_a_money_fact_compares_exact_amounts(op: str, value: Any, expected: bool) -> None:
    assert holds(compare("basket.total", op, value), FIFTY_EUROS) is expected


THREE_LINES = basket(line("a"), line("b"), line("c"))


@pytest.mark.parametrize("op, value, expected", [
    ("eq", 3, True),
    ("eq", 2, False),
    ("ne", 2, True),
    ("ne", 3, False),
    ("gt", 2, True),
    ("gt", 3, False),
    ("gte", 3, True),
    ("gte", 4, False),
    ("lt", 4, True),
    ("lt", 3, False),
    ("lte", 3, True),
    ("lte", 2, False),
    ("between", [3, 5], True),
    ("between", [1, 3], True),
    ("between", [4, 5], False),
    ("in", [1, 3], True),
    ("in", [1, 2], False),
    ("not_in", [1, 2], True),
    ("not_in", [3], False),
])
def test_an_integer_fact_compares_numbers(op: str, value: Any, expected: bool) -> None:
    assert holds(compare("basket.lines", op, value), THREE_LINES) is expected


ONLINE = basket(channel="web")


@pytest.mark.parametrize("op, value, expected", [
    ("eq", "web", True),
    ("eq", "WEB", False),  # texts compare exactly, case included
    ("ne", "pos", True),
    ("ne", "web", False),
    ("in", ["app", "web"], True),
    ("in", ["app", "pos"], False),
    ("not_in", ["app", "pos"], True),
    ("not_in", ["web"], False),
    ("exists", True, True),
    ("exists", False, False),
])
def test_a_text_fact_compares_texts(op: str, value: Any, expected: bool) -> None:
    assert holds(compare("basket.channel", op, value), ONLINE) is expected


@pytest.mark.parametrize("op, value, expected", [
    ("exists", False, True),
    ("exists", True, False),
    ("eq", "lyon", False),
    ("ne", "lyon", True),
    ("in", ["lyon"], False),
    ("not_in", ["lyon"], True),
])
def test_a_text_fact_without_a_value_exists_not_and_equals_nothing(op: str, value: Any,
                                                                    expected: bool) -> None:
    no_store = basket(store=None)

    assert holds(compare("basket.store", op, value), no_store) is expected


WITH_CODES = basket(promo_codes=("SPRING", "VIP"))


@pytest.mark.parametrize("op, value, purchase, expected", [
    ("contains", "VIP", WITH_CODES, True),
    ("contains", "vip", WITH_CODES, False),
    ("contains", "SUMMER", WITH_CODES, False),
    ("contains_any", ["SUMMER", "SPRING"], WITH_CODES, True),
    ("contains_any", ["SUMMER", "AUTUMN"], WITH_CODES, False),
    ("exists", True, WITH_CODES, True),
    ("exists", False, WITH_CODES, False),
    ("exists", False, basket(), True),
    ("exists", True, basket(), False),
    ("contains", "VIP", basket(), False),
    ("contains_any", ["VIP"], basket(), False),
], ids=lambda item: None if isinstance(item, Basket) else str(item))
def test_a_text_list_fact_holds_texts(op: str, value: Any, purchase: Basket,
                                      expected: bool) -> None:
    assert holds(compare("basket.promo_codes", op, value), purchase) is expected


# 00:30 on Monday 4 May in Paris is still Sunday 3 May in UTC: dates are the program's zone's.
JUST_AFTER_MIDNIGHT_MAY_4 = basket(at="2026-05-04 00:30")


@pytest.mark.parametrize("op, value, expected", [
    ("eq", "2026-05-04", True),
    ("eq", "2026-05-03", False),
    ("ne", "2026-05-03", True),
    ("ne", "2026-05-04", False),
    ("gt", "2026-05-03", True),
    ("gt", "2026-05-04", False),
    ("gte", "2026-05-04", True),
    ("gte", "2026-05-05", False),
    ("lt", "2026-05-05", True),
    ("lt", "2026-05-04", False),
    ("lte", "2026-05-04", True),
    ("lte", "2026-05-03", False),
    ("between", ["2026-05-04", "2026-05-10"], True),
    ("between", ["2026-05-01", "2026-05-04"], True),
    ("between", ["2026-05-05", "2026-05-10"], False),
    ("in", ["2026-05-01", "2026-05-04"], True),
    ("in", ["2026-05-03"], False),
    ("not_in", ["2026-05-03"], True),
    ("not_in", ["2026-05-04"], False),
])
def test_a_date_fact_compares_dates_in_the_programs_zone(op: str, value: Any,
                                                         expected: bool) -> None:
    assert holds(compare("time.date", op, value), JUST_AFTER_MIDNIGHT_MAY_4) is expected


@pytest.mark.parametrize("op, value, expected", [
    ("eq", "mon", True),  # 00:30 Monday in Paris, although Sunday in UTC
    ("eq", "sun", False),
    ("ne", "sun", True),
    ("ne", "mon", False),
    ("in", ["sat", "mon"], True),
    ("in", ["sat", "sun"], False),
    ("not_in", ["sat", "sun"], True),
    ("not_in", ["mon"], False),
])
def test_a_weekday_fact_compares_days_in_the_programs_zone(op: str, value: Any,
                                                           expected: bool) -> None:
    assert holds(compare("time.weekday", op, value), JUST_AFTER_MIDNIGHT_MAY_4) is expected


A_REGULAR = a_member(attributes={"segment": "students", "visits": 7, "newsletter": True})


@pytest.mark.parametrize("fact, op, value, expected", [
    ("segment", "eq", "students", True),
    ("segment", "ne", "students", False),
    ("segment", "in", ["pupils", "students"], True),
    ("segment", "not_in", ["pupils", "students"], False),
    ("segment", "gt", "alumni", True),  # texts are ordered as texts
    ("segment", "gt", 3, False),  # a text is not greater than a number: no error, no match
    ("visits", "eq", 7, True),
    ("visits", "eq", "7", False),  # 7 and "7" are not the same value
    ("visits", "ne", 8, True),
    ("visits", "gt", 6, True),
    ("visits", "gt", 7, False),
    ("visits", "gte", 7, True),
    ("visits", "lt", 7, False),
    ("visits", "lte", 7, True),
    ("visits", "between", [7, 9], True),
    ("visits", "between", [1, 6], False),
    ("visits", "between", ["a", "z"], False),  # a number is not between two texts
    ("visits", "in", [5, 7], True),
    ("visits", "not_in", [5, 7], False),
    ("newsletter", "eq", True, True),
    ("newsletter", "eq", "true", True),  # booleans compare as the document writes them
    ("newsletter", "eq", False, False),
    ("newsletter", "ne", False, True),
    ("newsletter", "in", [True], True),
    ("newsletter", "exists", True, True),
    ("nickname", "exists", False, True),
    ("nickname", "exists", True, False),
    ("nickname", "eq", "bob", False),
    ("nickname", "gt", 0, False),
    ("nickname", "between", [0, 9], False),
])
def test_a_member_attribute_compares_as_text_number_or_boolean(fact: str, op: str, value: Any,
                                                               expected: bool) -> None:
    condition = compare(f"member.attributes.{fact}", op, value)

    assert holds(condition, member=A_REGULAR) is expected


@pytest.mark.parametrize("op, value, expected", [
    ("eq", 5, True),
    ("ne", 5, False),
    ("gt", 4, True),
    ("gte", 5, True),
    ("lt", 5, False),
    ("lte", 4, False),
    ("between", [4, 5], True),
    ("in", [4, 5], True),
    ("not_in", [4, 5], False),
    ("exists", True, True),
])
def test_an_event_property_compares_like_a_member_attribute(op: str, value: Any,
                                                            expected: bool) -> None:
    five_stars = event("review", stars=5)

    assert holds_for_event(compare("event.properties.stars", op, value), five_stars) is expected


def test_an_event_property_it_does_not_have_exists_not() -> None:
    plain_review = event("review")

    assert holds_for_event(compare("event.properties.photo", "exists", False), plain_review)
    assert not holds_for_event(compare("event.properties.photo", "eq", True), plain_review)


# -- every fact ----------------------------------------------------------------------------------


def test_the_basket_total_is_what_the_customer_pays_with_tax_and_shipping() -> None:
    # 2 x 30.00 - 10.00 discount = 50.00 (tax included), + 4.90 shipping = 54.90
    web_order = basket(line(price="30.00", quantity=2, discount="10.00", tax="8.33"),
                       shipping="4.90")

    assert holds(compare("basket.total", "eq", "54.90"), web_order)


def test_the_basket_lines_fact_counts_lines_not_units() -> None:
    two_lines_five_units = basket(line("a", quantity=2), line("b", quantity=3))

    assert holds(compare("basket.lines", "eq", 2), two_lines_five_units)


def test_the_basket_store_is_the_store_of_the_purchase() -> None:
    in_lyon = basket(store="lyon-1")

    assert holds(compare("basket.store", "eq", "lyon-1"), in_lyon)
    assert not holds(compare("basket.store", "eq", "lyon-1"), basket(store="paris-2"))


def test_the_basket_channel_is_pos_unless_the_purchase_says_otherwise() -> None:
    assert holds(compare("basket.channel", "eq", "pos"), basket())


MIXED_BASKET = basket(
    line("SHOE-1", "80.00", quantity=1, category="shoes", tags=("new", "leather")),
    line("SOCK-1", "4.00", quantity=2, discount="1.00", category="socks", tags=("sale",)),
    line("BAG-1", "25.00", quantity=4, category="bags"),
)


@pytest.mark.parametrize("condition, units", [
    (compare("line.sku", "eq", "SOCK-1"), 2),
    (compare("line.sku", "in", ["SHOE-1", "BAG-1"]), 1 + 4),
    (compare("line.category", "ne", "shoes"), 2 + 4),
    (compare("line.category", "not_in", ["shoes", "socks"]), 4),
    (compare("line.tags", "contains", "sale"), 2),
    (compare("line.tags", "contains_any", ["new", "sale"]), 1 + 2),
    (compare("line.tags", "exists", False), 4),
    (compare("line.quantity", "gte", 2), 2 + 4),
    (compare("line.quantity", "between", [1, 2]), 1 + 2),
    # the line amount is after its discount: 2 x 4.00 - 1.00 = 7.00
    (compare("line.amount", "eq", "7.00"), 2),
    (compare("line.amount", "gt", "99.00"), 4),  # 4 x 25.00 = 100.00
    (compare("line.unit_price", "lt", "30.00"), 2 + 4),
    (compare("line.unit_price", "eq", "80.00"), 1),
], ids=lambda item: None if isinstance(item, dict) else str(item))
def test_line_facts_pick_the_matching_lines(condition: dict[str, Any], units: int) -> None:
    assert units_matching(condition, MIXED_BASKET) == units


def test_a_rule_whose_line_condition_matches_no_line_does_not_apply() -> None:
    assert units_matching(compare("line.category", "eq", "hats"), MIXED_BASKET) == 0


@pytest.mark.parametrize("fact, op, value", [
    ("time.weekday", "eq", "sat"),
    ("time.hour", "eq", 23),  # 21:30 UTC is 23:30 in Paris in summer
    ("time.date", "eq", "2026-05-09"),
    ("time.month", "eq", 5),
    ("time.day", "eq", 9),
    ("time.day", "between", [8, 10]),
])
def test_time_facts_read_the_clock_in_paris(fact: str, op: str, value: Any) -> None:
    saturday_night = Basket(currency="EUR", lines=(line(),),
                            occurred_at=datetime(2026, 5, 9, 21, 30, tzinfo=UTC))

    assert holds(compare(fact, op, value), saturday_night)


def test_the_hour_is_the_local_hour_also_in_winter() -> None:
    # 7:59 UTC on 15 January is 8:59 in Paris (UTC+1)
    january_morning = Basket(currency="EUR", lines=(line(),),
                             occurred_at=datetime(2026, 1, 15, 7, 59, tzinfo=UTC))

    assert holds(compare("time.hour", "eq", 8), january_morning)
    assert holds(compare("time.month", "eq", 1), january_morning)


def test_the_tier_and_status_are_the_members() -> None:
    gold = a_member(tier="gold")

    assert holds(compare("member.tier", "eq", "gold"), member=gold)
    assert holds(compare("member.tier", "exists", False), member=a_member())
    assert holds(compare("member.status", "eq", "active"), member=a_member())
    assert not holds(compare("member.status", "eq", "active"), member=a_member(status="frozen"))


def test_days_since_enrollment_count_calendar_days_in_paris() -> None:
    # enrolled at 00:30 on 1 May in Paris (22:30 UTC on 30 April); the purchase is at 23:00 on
    # 8 May in Paris: 8 - 1 = 7 days, although 8 days and 30 minutes of UTC calendar apart
    enrolled = a_member(enrolled_at=datetime(2026, 4, 30, 22, 30, tzinfo=UTC))
    late_on_may_8 = basket(at="2026-05-08 23:00")

    assert holds(compare("member.days_since_enrollment", "eq", 7), late_on_may_8, enrolled)


def test_days_since_enrollment_of_a_member_not_enrolled_is_no_value() -> None:
    assert not holds(compare("member.days_since_enrollment", "lt", 30), member=a_member())
    assert holds(compare("member.days_since_enrollment", "ne", 0), member=a_member())


def test_the_purchases_fact_counts_the_purchases_before_this_one() -> None:
    first_purchase = compare("member.purchases", "eq", 0)

    assert holds(first_purchase, member=a_member())
    assert not holds(first_purchase, member=a_member(purchases=1))


def test_spend_over_the_last_days_reads_the_window_the_rule_names() -> None:
    condition = {"fact": "member.spend_last_days", "op": "gte", "value": "200.00", "days": 30}
    # 200.00 EUR over 30 days, 150.00 over 7
    spender = a_member(spend_last_days={30: 20000, 7: 15000})

    assert holds(condition, member=spender)
    assert not holds({**condition, "days": 7}, member=spender)
    assert not holds(condition, member=a_member())  # nothing gathered: nothing spent


def test_the_birth_month_comes_from_the_birth_date_attribute() -> None:
    born_in_may = a_member(attributes={"birth_date": "1990-05-17"})

    assert holds(compare("member.birth_month", "eq", 5), member=born_in_may)
    assert holds(compare("member.birth_month", "in", [4, 5, 6]), member=born_in_may)
    assert not holds(compare("member.birth_month", "gte", 1), member=a_member())


def test_a_birth_date_that_is_not_a_date_gives_no_birth_month() -> None:
    garbled = a_member(attributes={"birth_date": "17/05/1990"})

    assert holds(compare("member.birth_month", "ne", 5), member=garbled)
    assert not holds(compare("member.birth_month", "eq", 5), member=garbled)


def test_it_is_the_birthday_month_in_the_month_of_the_birth_date_in_paris() -> None:
    born_in_may = a_member(attributes={"birth_date": "1990-05-17"})
    birthday_month = compare("member.is_birthday_month", "eq", "true")
    # 23:30 UTC on 30 April is already 1 May in Paris
    may_in_paris = Basket(currency="EUR", lines=(line(),),
                          occurred_at=datetime(2026, 4, 30, 23, 30, tzinfo=UTC))

    assert holds(birthday_month, may_in_paris, born_in_may)
    assert not holds(birthday_month, basket(at="2026-06-01 00:00"), born_in_may)
    assert holds(compare("member.is_birthday_month", "eq", "false"), member=a_member())


def test_the_event_type_is_the_type_of_the_event() -> None:
    assert holds_for_event(compare("event.type", "eq", "review"), event("review"))
    assert holds_for_event(compare("event.type", "in", ["review", "survey"]), event("review"))


def test_every_named_fact_is_covered_by_these_tests() -> None:
    # a new fact in FACTS must come with its tests here
    assert set(FACTS) == {
        "basket.total", "basket.lines", "basket.channel", "basket.store", "basket.promo_codes",
        "line.sku", "line.category", "line.tags", "line.quantity", "line.amount",
        "line.unit_price", "time.weekday", "time.hour", "time.date", "time.month", "time.day",
        "member.tier", "member.status", "member.days_since_enrollment", "member.purchases",
        "member.spend_last_days", "member.birth_month", "member.is_birthday_month", "event.type",
        # the facts segments brought: tested in test_segments_definition.py
        "member.purchases_last_days", "member.days_since_last_purchase",
        "member.preferred_channel",
    }


# -- all, any, not --------------------------------------------------------------------------------

BIG = compare("basket.total", "gte", "100.00")
ONLINE_ONLY = compare("basket.channel", "eq", "web")
BIG_WEB_ORDER = basket(line(price="120.00"), channel="web")
BIG_SHOP_SALE = basket(line(price="120.00"), channel="pos")
SMALL_SHOP_SALE = basket(line(price="20.00"), channel="pos")


def test_all_holds_when_every_part_holds() -> None:
    both = {"all": [BIG, ONLINE_ONLY]}

    assert holds(both, BIG_WEB_ORDER)
    assert not holds(both, BIG_SHOP_SALE)


def test_any_holds_when_one_part_holds() -> None:
    either = {"any": [BIG, ONLINE_ONLY]}

    assert holds(either, BIG_SHOP_SALE)
    assert not holds(either, SMALL_SHOP_SALE)


def test_not_holds_when_its_part_does_not() -> None:
    in_shop = {"not": ONLINE_ONLY}

    assert holds(in_shop, SMALL_SHOP_SALE)
    assert not holds(in_shop, BIG_WEB_ORDER)


def test_trees_nest() -> None:
    # big, and either online or not in the Lyon store
    tree = {"all": [BIG, {"any": [ONLINE_ONLY,
                                  {"not": compare("basket.store", "eq", "lyon")}]}]}

    assert holds(tree, basket(line(price="120.00"), store="paris"))
    assert not holds(tree, basket(line(price="120.00"), store="lyon"))
    assert holds(tree, basket(line(price="120.00"), store="lyon", channel="web"))
    assert not holds(tree, basket(line(price="20.00"), store="paris"))


def test_a_basket_condition_beside_a_line_condition_applies_to_every_line() -> None:
    # the basket: 80.00 + (2 x 4.00 - 1.00) + 4 x 25.00 = 187.00, so BIG holds on every line;
    # "all" keeps the shoes (1 unit), "any" keeps every line
    shoes_in_a_big_basket = {"all": [compare("line.category", "eq", "shoes"), BIG]}
    shoes_or_a_big_basket = {"any": [compare("line.category", "eq", "shoes"), BIG]}

    assert units_matching(shoes_in_a_big_basket, MIXED_BASKET) == 1
    assert units_matching(shoes_or_a_big_basket, MIXED_BASKET) == 1 + 2 + 4


def test_not_around_a_line_condition_matches_the_other_lines() -> None:
    assert units_matching({"not": compare("line.category", "eq", "bags")}, MIXED_BASKET) == 1 + 2


def test_the_program_says_which_member_facts_the_caller_must_gather() -> None:
    shop = program(
        rule("loyal", conditions={"fact": "member.spend_last_days", "op": "gte",
                                  "value": "100.00", "days": 30}),
        rule("regular", conditions={"any": [
            {"fact": "member.spend_last_days", "op": "gte", "value": "20.00", "days": 7},
            {"fact": "member.purchases", "op": "gte", "value": 10}]}),
    )

    assert shop.spend_windows() == {7, 30}
    assert shop.needs_purchase_count()
    assert not program(rule()).needs_purchase_count()

"""How many points a basket earns at a fixed rate per currency unit, and the explanation why."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty.domain.basket import Basket, PurchaseLine
from loyalty.domain.money import Money
from loyalty.rules.earning import (
    EarnResult,
    ExplanationLine,
    PointsPerCurrencyUnit,
    calculator_for,
)
from loyalty.rules.settings import EarnSettings, ProgramSettings

BOUGHT_AT = datetime(2024, 5, 4, 15, 0, tzinfo=UTC)


def line(
    sku: str = "sku",
    *,
    price: str,
    quantity: int = 1,
    discount: str = "0",
    tax: str = "0",
    currency: str = "EUR",
) -> PurchaseLine:
    """A basket line with prices written as the till prints them ("12.34")."""
    return PurchaseLine(
        sku=sku,
        quantity=quantity,
        unit_price=Money.parse(price, currency).minor,
        discount=Money.parse(discount, currency).minor,
        tax=Money.parse(tax, currency).minor,
    )


def basket(*lines: PurchaseLine, shipping: str = "0", currency: str = "EUR") -> Basket:
    return Basket(
        currency=currency,
        occurred_at=BOUGHT_AT,
        lines=lines,
        shipping=Money.parse(shipping, currency).minor,
    )


def earning(points_per_unit: str = "1", **settings: object) -> PointsPerCurrencyUnit:
    """The base-rate calculator with settings as a program would write them."""
    return PointsPerCurrencyUnit(
        EarnSettings.model_validate({"points_per_unit": points_per_unit, **settings})
    )


def a_typical_web_order() -> Basket:
    """Two 30.00 EUR jumpers with 10.00 off (50.00 paid, 8.33 of it VAT) and 4.90 shipping."""
    return basket(
        line("jumper", price="30.00", quantity=2, discount="10.00", tax="8.33"),
        shipping="4.90",
    )


def test_points_are_earned_on_the_amount_net_of_tax_after_discounts_without_shipping():
    result = earning().evaluate(a_typical_web_order())

    assert result.earn_base == 4167
    assert result.points == 41


def test_including_tax_earns_on_the_amount_the_customer_paid_for_the_goods():
    result = earning(include_tax=True).evaluate(a_typical_web_order())

    assert result.earn_base == 5000
    assert result.points == 50


def test_including_shipping_adds_it_to_the_earn_base():
    result = earning(include_shipping=True).evaluate(a_typical_web_order())

    assert result.earn_base == 4167 + 490
    assert result.points == 46


def test_including_tax_and_shipping_earns_on_the_whole_basket_total():
    order = a_typical_web_order()

    result = earning(include_tax=True, include_shipping=True).evaluate(order)

    assert result.earn_base == order.total == 5490
    assert result.points == 54


def test_the_earn_base_adds_up_every_line():
    order = basket(
        line("bread", price="2.20", quantity=3, tax="0.34"),
        line("wine", price="12.00", discount="2.00", tax="1.67"),
    )

    result = earning().evaluate(order)

    assert result.earn_base == (660 - 34) + (1000 - 167)
    assert result.points == 14


@pytest.mark.parametrize(
    ("rounding", "points"), [("floor", 1), ("half_up", 2), ("half_even", 2), ("ceil", 2)]
)
def test_rounding_happens_once_for_the_whole_basket_not_per_line(rounding, points):
    # Three lines of 0.50: rounded per line, floor would give 0 and ceil 3.
    order = basket(*(line(f"sweet-{n}", price="0.50") for n in range(3)))

    assert earning(rounding=rounding).evaluate(order).points == points


@pytest.mark.parametrize(
    ("price", "rounding", "points"),
    [
        ("2.50", "floor", 2),
        ("2.50", "half_up", 3),
        ("2.50", "half_even", 2),
        ("2.50", "ceil", 3),
        ("3.50", "half_even", 4),
        ("2.49", "half_up", 2),
        ("2.01", "ceil", 3),
        ("2.99", "floor", 2),
        ("3.00", "ceil", 3),
    ],
)
def test_each_rounding_mode_turns_the_earn_base_into_whole_points(price, rounding, points):
    assert earning(rounding=rounding).evaluate(basket(line(price=price))).points == points


@pytest.mark.parametrize(
    ("price", "rounding", "points"),
    [
        ("10.00", "floor", 15),
        ("10.01", "floor", 15),
        ("10.01", "ceil", 16),
        ("9.00", "half_up", 14),
        ("9.00", "half_even", 14),
        ("11.00", "half_up", 17),
        ("11.00", "half_even", 16),
        ("0.66", "floor", 0),
        ("0.67", "ceil", 2),
    ],
)
def test_a_fractional_rate_earns_one_and_a_half_points_per_euro(price, rounding, points):
    calculator = earning("1.5", rounding=rounding)

    assert calculator.evaluate(basket(line(price=price))).points == points


def test_a_fractional_rate_is_exact_where_a_float_would_not_be():
    # In floats 100.00 * 1.15 is 114.99999999999999, which floor would turn into 114 points.
    calculator = earning("1.15", rounding="floor")

    assert calculator.evaluate(basket(line(price="100.00"))).points == 115


def test_a_currency_without_decimals_earns_per_whole_yen():
    order = basket(line(price="1234", currency="JPY"), currency="JPY")

    result = earning("0.01").evaluate(order)

    assert result.earn_base == 1234
    assert result.points == 12


def test_a_currency_with_three_decimals_earns_per_whole_dinar():
    order = basket(line(price="1.999", currency="KWD"), currency="KWD")

    assert earning(rounding="floor").evaluate(order).points == 1
    assert earning(rounding="ceil").evaluate(order).points == 2


def test_an_empty_basket_earns_nothing():
    result = earning().evaluate(basket(shipping="4.90"))

    assert result.points == 0
    assert result.earn_base == 0


def test_a_basket_worth_less_than_nothing_earns_nothing_rather_than_negative_points():
    order = basket(
        line("returned-coat", price="-80.00", tax="-13.33"),
        line("socks", price="5.00", tax="0.83"),
    )

    result = earning(rounding="ceil").evaluate(order)

    assert result.earn_base == 0
    assert result.points == 0


def test_a_zero_rate_earns_nothing():
    assert earning("0").evaluate(a_typical_web_order()).points == 0


def test_the_result_names_the_base_rate_rule_without_a_version():
    result = earning().evaluate(a_typical_web_order())

    assert isinstance(result, EarnResult)
    assert result.rule_id == "base-rate"
    assert result.rule_version is None


def test_the_explanation_states_the_earn_base_and_what_it_includes():
    result = earning("1.5").evaluate(a_typical_web_order())

    base_line = result.explanation[0]
    assert base_line == ExplanationLine(
        "base-rate", "earn base 41.67 EUR (net of tax, after discounts, shipping excluded)", 0
    )


def test_the_explanation_of_an_inclusive_base_says_so():
    result = earning(include_tax=True, include_shipping=True).evaluate(a_typical_web_order())

    assert result.explanation[0].text == (
        "earn base 54.90 EUR (tax included, after discounts, shipping included)"
    )


def test_the_explanation_states_the_rate_the_exact_product_and_the_rounding():
    result = earning("1.5", rounding="half_even").evaluate(a_typical_web_order())

    rate_line = result.explanation[1]
    assert rate_line.text == "1.5 point(s) per EUR: 62.505 rounded half_even = 63"
    assert rate_line.points == result.points == 63


def test_the_explanation_writes_whole_numbers_without_trailing_zeros_or_exponents():
    result = earning("10").evaluate(basket(line(price="10.00")))

    assert result.explanation[1].text == "10 point(s) per EUR: 100 rounded floor = 100"


def test_the_explanation_points_add_up_to_the_points_earned():
    result = earning("2.5", rounding="ceil").evaluate(a_typical_web_order())

    assert sum(step.points for step in result.explanation) == result.points == 105


def test_an_explanation_line_becomes_a_plain_dict_for_storage():
    step = ExplanationLine("base-rate", "earn base 1.00 EUR", 1)

    assert step.as_dict() == {"rule": "base-rate", "text": "earn base 1.00 EUR", "points": 1}


def test_a_program_earns_through_the_calculator_of_its_settings():
    settings = ProgramSettings.model_validate(
        {"earn": {"points_per_unit": "2", "rounding": "ceil", "include_tax": True}}
    )

    calculator = calculator_for(settings)

    assert isinstance(calculator, PointsPerCurrencyUnit)
    assert calculator.settings.points_per_unit == Decimal(2)
    assert calculator.evaluate(a_typical_web_order()).points == 100


def test_a_program_with_default_settings_earns_one_point_per_whole_euro_net_of_tax():
    result = calculator_for(ProgramSettings()).evaluate(a_typical_web_order())

    assert result.points == 41

"""Money as exact minor units: parsing decimal strings, formatting them back, rounding points."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.domain.errors import InvalidAmount, InvalidRequest
from loyalty.domain.money import Money, RoundingMode, currency_exponent, format_minor


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.34", "EUR", 1234),
        ("12.3", "EUR", 1230),
        ("12", "EUR", 1200),
        ("0.01", "EUR", 1),
        ("0", "EUR", 0),
        ("1234", "JPY", 1234),
        ("1.234", "KWD", 1234),
        ("0.005", "KWD", 5),
        ("1.2345", "CLF", 12345),
        ("999999999999999.99", "EUR", 99999999999999999),
    ],
)
def test_a_decimal_string_becomes_minor_units_of_its_currency(text, currency, minor):
    assert Money.parse(text, currency) == Money(minor, currency)


def test_a_negative_amount_parses_to_negative_minor_units():
    assert Money.parse("-1.50", "EUR") == Money(-150, "EUR")


def test_negative_zero_is_plain_zero():
    assert Money.parse("-0.00", "EUR") == Money.zero("EUR")


@pytest.mark.parametrize(
    ("text", "currency"),
    [("12.345", "EUR"), ("0.001", "EUR"), ("1.5", "JPY"), ("0.0001", "KWD")],
)
def test_more_decimals_than_the_currency_has_is_an_invalid_amount(text, currency):
    with pytest.raises(InvalidAmount, match=f"{currency} amounts have at most"):
        Money.parse(text, currency)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "12,34",
        "12.",
        ".5",
        "+1",
        "1e3",
        "1_000",
        " 12.34",
        "12.34 ",
        "--1",
        "1.2.3",
        "NaN",
        "Infinity",
        "12.34567",
        "1234567890123456",
        "EUR 12.34",
    ],
)
def test_a_malformed_string_is_an_invalid_amount(text):
    with pytest.raises(InvalidAmount, match="is not a decimal amount"):
        Money.parse(text, "EUR")


def test_a_trailing_newline_is_not_part_of_an_amount():
    # The pattern ends in ``$``, which also matches just before a final newline.
    with pytest.raises(InvalidAmount):
        Money.parse("12.34\n", "EUR")


def test_only_ascii_digits_make_an_amount():
    # ``\d`` matches any Unicode digit, and Decimal() reads Arabic-Indic digits without complaint.
    with pytest.raises(InvalidAmount):
        Money.parse("\u0661\u0662.\u0663\u0664", "EUR")


@pytest.mark.parametrize("value", [12.34, 12.0, 12, Decimal("12.34"), None])
def test_only_a_string_is_accepted_never_a_float_or_other_number(value):
    with pytest.raises(InvalidAmount):
        Money.parse(value, "EUR")


def test_an_invalid_amount_is_an_invalid_request_with_a_stable_code():
    with pytest.raises(InvalidRequest) as raised:
        Money.parse("12.345", "EUR")
    assert raised.value.code == "invalid-amount"


@pytest.mark.parametrize("currency", ["eur", "EURO", "E1R", ""])
def test_a_currency_that_is_not_three_capital_letters_is_refused(currency):
    with pytest.raises(ValueError, match="ISO 4217"):
        Money.parse("1.00", currency)


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("EUR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)],
)
def test_each_currency_has_its_iso_4217_exponent(currency, exponent):
    assert currency_exponent(currency) == exponent


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1234, "EUR", "12.34"),
        (5, "EUR", "0.05"),
        (-5, "EUR", "-0.05"),
        (0, "EUR", "0.00"),
        (1200, "EUR", "12.00"),
        (1234, "JPY", "1234"),
        (1, "KWD", "0.001"),
        (1000, "KWD", "1.000"),
        (12345678901234567, "EUR", "123456789012345.67"),
    ],
)
def test_minor_units_format_with_exactly_the_currency_decimals(minor, currency, text):
    assert format_minor(minor, currency) == text


@pytest.mark.parametrize(
    ("text", "currency"), [("12.34", "EUR"), ("-0.07", "EUR"), ("1234", "JPY"), ("9.999", "KWD")]
)
def test_formatting_a_parsed_amount_gives_the_same_string_back(text, currency):
    assert format_minor(Money.parse(text, currency).minor, currency) == text


def test_money_converts_to_an_exact_decimal():
    assert Money(1234, "EUR").to_decimal() == Decimal("12.34")
    assert Money(1234, "KWD").to_decimal() == Decimal("1.234")
    assert Money(1234, "JPY").to_decimal() == Decimal(1234)


@pytest.mark.parametrize(
    ("value", "floor", "half_up", "half_even", "ceil"),
    [
        ("2.5", 2, 3, 2, 3),
        ("3.5", 3, 4, 4, 4),
        ("2.4999", 2, 2, 2, 3),
        ("2.5001", 2, 3, 3, 3),
        ("2.1", 2, 2, 2, 3),
        ("2.9", 2, 3, 3, 3),
        ("2", 2, 2, 2, 2),
        ("0", 0, 0, 0, 0),
        ("0.5", 0, 1, 0, 1),
        ("-0.5", -1, -1, 0, 0),
        ("-2.5", -3, -3, -2, -2),
        ("-3.5", -4, -4, -4, -3),
        ("-2.1", -3, -2, -2, -2),
        ("-2.9", -3, -3, -3, -2),
    ],
)
def test_each_rounding_mode_turns_a_decimal_into_whole_points(
    value, floor, half_up, half_even, ceil
):
    number = Decimal(value)
    assert RoundingMode.FLOOR.round(number) == floor
    assert RoundingMode.HALF_UP.round(number) == half_up
    assert RoundingMode.HALF_EVEN.round(number) == half_even
    assert RoundingMode.CEIL.round(number) == ceil


def test_rounding_gives_a_plain_int():
    points = RoundingMode.HALF_UP.round(Decimal("18.505"))
    assert points == 19
    assert type(points) is int


def test_rounding_modes_are_named_by_their_setting_value():
    assert RoundingMode("half_even") is RoundingMode.HALF_EVEN
    assert {mode.value for mode in RoundingMode} == {"floor", "half_up", "half_even", "ceil"}


@given(minor=st.integers(min_value=-(10**20), max_value=10**20),
       currency=st.sampled_from(["EUR", "JPY", "KWD", "CLF", "USD", "XYZ"]))
def test_an_amount_formats_as_its_decimal_value_with_the_currency_decimals(minor, currency):
    exponent = currency_exponent(currency)
    expected = f"{Decimal(minor).scaleb(-exponent):.{exponent}f}"
    assert format_minor(minor, currency) == expected == str(Money(minor, currency))

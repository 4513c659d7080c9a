"""Program settings: exact rates, no silent typos, and expiry periods that mean something."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from loyalty.domain.ledger import ExpiryMode, ExpiryRounding, PeriodUnit
from loyalty.domain.money import RoundingMode
from loyalty.rules.settings import EarnSettings, ProgramSettings


def settings(**sections: object) -> ProgramSettings:
    return ProgramSettings.model_validate(sections)


def refusal(**sections: object) -> list[dict]:
    """The validation errors for settings that must be refused."""
    with pytest.raises(ValidationError) as raised:
        ProgramSettings.model_validate(sections)
    return raised.value.errors()


def test_a_program_without_settings_gets_the_documented_defaults():
    defaults = settings()

    assert defaults.earn.points_per_unit == Decimal(1)
    assert defaults.earn.rounding is RoundingMode.FLOOR
    assert defaults.earn.include_tax is False
    assert defaults.earn.include_shipping is False
    assert defaults.pending.days == 0
    assert defaults.expiry.mode is ExpiryMode.NEVER


@pytest.mark.parametrize("rate", [1.5, 1.0, 0.1])
def test_a_float_rate_is_refused(rate):
    errors = refusal(earn={"points_per_unit": rate})

    assert errors[0]["loc"] == ("earn", "points_per_unit")
    assert "decimal strings" in errors[0]["msg"]


def test_a_float_rate_in_json_is_refused():
    with pytest.raises(ValidationError, match="floats are never exact"):
        ProgramSettings.model_validate_json('{"earn": {"points_per_unit": 1.5}}')


@pytest.mark.parametrize(
    ("rate", "exact"), [("1.5", Decimal("1.5")), ("0.1", Decimal("0.1")), (2, Decimal(2))]
)
def test_a_rate_written_as_a_decimal_string_or_an_integer_is_kept_exactly(rate, exact):
    parsed = settings(earn={"points_per_unit": rate}).earn.points_per_unit

    assert isinstance(parsed, Decimal)
    assert parsed == exact


@pytest.mark.parametrize("rate", ["-0.5", "10000.01", "lots"])
def test_a_rate_that_is_negative_too_large_or_not_a_number_is_refused(rate):
    errors = refusal(earn={"points_per_unit": rate})

    assert errors[0]["loc"] == ("earn", "points_per_unit")


def test_the_largest_allowed_rate_is_ten_thousand_points_per_unit():
    assert settings(earn={"points_per_unit": "10000"}).earn.points_per_unit == Decimal(10_000)


@pytest.mark.parametrize(
    ("sections", "location"),
    [
        ({"earn_rate": "2"}, ("earn_rate",)),
        ({"earn": {"points_per_euro": "2"}}, ("earn", "points_per_euro")),
        ({"earn": {"include_taxes": True}}, ("earn", "include_taxes")),
        ({"pending": {"day": 14}}, ("pending", "day")),
        ({"expiry": {"mode": "after", "perod": 6}}, ("expiry", "perod")),
    ],
)
def test_a_misspelt_setting_is_an_error_rather_than_a_silent_default(sections, location):
    errors = refusal(**sections)

    assert [error["loc"] for error in errors] == [location]


def test_earn_settings_alone_also_refuse_unknown_keys():
    with pytest.raises(ValidationError):
        EarnSettings.model_validate({"points_per_unit": "1", "bonus": "2"})


@pytest.mark.parametrize("period", [0, -3])
def test_an_expiry_after_zero_or_negative_months_is_refused(period):
    errors = refusal(expiry={"mode": "after", "period": period})

    assert errors[0]["loc"] == ("expiry",)
    assert "positive" in errors[0]["msg"]


def test_an_expiry_after_zero_days_is_refused_too():
    refusal(expiry={"mode": "after", "period": 0, "unit": "days"})


def test_an_expiry_setting_is_read_into_the_policy():
    policy = settings(
        expiry={
            "mode": "after",
            "period": 90,
            "unit": "days",
            "rounding": "end_of_day",
            "usable_through_expiry_date": False,
        }
    ).expiry

    assert policy.mode is ExpiryMode.AFTER
    assert policy.period == 90
    assert policy.unit is PeriodUnit.DAYS
    assert policy.rounding is ExpiryRounding.END_OF_DAY
    assert policy.usable_through_expiry_date is False


@pytest.mark.parametrize(
    "sections",
    [
        {"earn": {"rounding": "nearest"}},
        {"expiry": {"mode": "sometimes"}},
        {"expiry": {"mode": "after", "unit": "weeks"}},
        {"expiry": {"mode": "after", "rounding": "end_of_year"}},
        {"pending": {"days": 3651}},
        {"pending": {"days": -1}},
    ],
)
def test_a_setting_outside_its_choices_is_refused(sections):
    refusal(**sections)


def test_settings_survive_a_round_trip_through_json_exactly():
    original = settings(
        earn={"points_per_unit": "1.5", "rounding": "half_even", "include_shipping": True},
        pending={"days": 14},
        expiry={"mode": "after", "period": 6, "rounding": "end_of_month"},
    )

    as_json = original.model_dump(mode="json")

    assert as_json["earn"]["points_per_unit"] == "1.5"
    assert ProgramSettings.model_validate_json(original.model_dump_json()) == original


def test_settings_cannot_be_changed_once_read():
    program = settings()

    with pytest.raises(ValidationError):
        program.earn = EarnSettings(points_per_unit=Decimal(3))

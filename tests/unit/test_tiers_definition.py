"""The ``tiers`` section of a program definition: its ladder, and every mistake with its path."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from typing import Any

import pytest
import yaml

from loyalty.domain.tiers import DowngradePolicy, Measure, WindowKind
from loyalty.rules.definition import (
    DefinitionError,
    ProgramDefinition,
    load_definition,
    money_problems,
)


def tiers_from_yaml(text: str) -> ProgramDefinition:
    return load_definition(yaml.safe_load(textwrap.dedent(text)))


def ladder_of(*thresholds: Any, measure: str = "spend", **tiers: Any) -> dict[str, Any]:
    """A document whose ladder has levels ``l0``, ``l1``... at these thresholds."""
    levels = [{"id": f"l{rank}", "name": f"Level {rank}", "threshold": threshold}
              for rank, threshold in enumerate(thresholds)]
    return {"tiers": {"measure": measure, "levels": levels, **tiers}}


def problems_of(document: dict[str, Any]) -> dict[str, str]:
    """Path -> message of every problem ``load_definition`` finds."""
    with pytest.raises(DefinitionError) as raised:
        load_definition(document)
    return dict(raised.value.problems)


# -- a well-formed ladder -----------------------------------------------------------------------


def test_a_spend_ladder_in_yaml_becomes_thresholds_in_minor_units() -> None:
    definition = tiers_from_yaml("""
        tiers:
          measure: spend
          window: {type: rolling, months: 6}
          downgrade: {policy: one_step, grace_days: 30}
          levels:
            - {id: member, name: Member, threshold: "0"}
            - {id: silver, name: Silver, threshold: "500.00", bonus_points: 100}
            - {id: gold, name: Gold, threshold: "1500.00", multiplier: "1.5"}
    """)
    assert definition.tiers is not None

    ladder = definition.tiers.ladder("EUR")

    assert [(level.id, level.threshold, level.rank) for level in ladder.levels] == [
        ("member", 0, 0), ("silver", 50_000, 1), ("gold", 150_000, 2)]
    assert (ladder.measure, ladder.window, ladder.months) == (
        Measure.SPEND, WindowKind.ROLLING, 6)
    assert (ladder.downgrade, ladder.grace_days) == (DowngradePolicy.ONE_STEP, 30)
    assert definition.tiers.levels[2].multiplier == Decimal("1.5")
    assert definition.tiers.levels[1].bonus_points == 100


def test_a_spend_ladders_thresholds_are_in_the_programs_currency() -> None:
    # 5000 yen are 5000 minor units; 5000 dinars are 5 000 000 fils (three decimals)
    definition = load_definition(ladder_of("0", "5000", "12000.5"))
    assert definition.tiers is not None

    assert [level.threshold for level in definition.tiers.ladder("KWD").levels] == [
        0, 5_000_000, 12_000_500]
    assert [level.threshold for level in definition.tiers.ladder("EUR").levels] == [
        0, 500_000, 1_200_050]


def test_a_ladder_by_default_counts_spend_over_the_calendar_year_and_drops_at_its_end() -> None:
    definition = load_definition({"tiers": {"levels": [
        {"id": "member", "name": "Member", "threshold": "0"}]}})
    assert definition.tiers is not None

    ladder = definition.tiers.ladder("EUR")

    assert (ladder.measure, ladder.window, ladder.downgrade) == (
        Measure.SPEND, WindowKind.CALENDAR_YEAR, DowngradePolicy.PERIOD_END)
    assert definition.tiers.levels[0].multiplier == 1


@pytest.mark.parametrize("measure", ["points", "purchases"])
def test_points_and_purchases_ladders_take_whole_numbers(measure: str) -> None:
    definition = load_definition(ladder_of(0, 10, 25, measure=measure))
    assert definition.tiers is not None

    assert [level.threshold for level in definition.tiers.ladder("EUR").levels] == [0, 10, 25]


# -- mistakes -----------------------------------------------------------------------------------


def test_the_lowest_level_must_start_at_zero() -> None:
    assert problems_of(ladder_of("10.00", "500.00")) == {
        "tiers.levels[0].threshold": "the lowest level starts at 0"}
    assert problems_of(ladder_of(1, 10, measure="purchases")) == {
        "tiers.levels[0].threshold": "the lowest level starts at 0"}


def test_thresholds_must_rise_from_level_to_level() -> None:
    assert problems_of(ladder_of("0", "1500.00", "500.00")) == {
        "tiers.levels[2].threshold": "thresholds rise from level to level"}


def test_two_levels_at_the_same_threshold_are_a_mistake_however_it_is_written() -> None:
    # "500.0" and "500.00" are the same amount
    assert problems_of(ladder_of("0", "500.0", "500.00")) == {
        "tiers.levels[2].threshold": "thresholds rise from level to level"}
    assert problems_of(ladder_of(0, 10, 10, measure="points")) == {
        "tiers.levels[2].threshold": "thresholds rise from level to level"}


def test_two_levels_may_not_share_an_id() -> None:
    document = ladder_of("0", "500.00")
    document["tiers"]["levels"][1]["id"] = "l0"

    assert problems_of(document) == {"tiers.levels[1].id": "two levels have the id 'l0'"}


def test_a_spend_threshold_is_an_amount_not_a_number() -> None:
    assert problems_of(ladder_of("0", 500)) == {
        "tiers.levels[1].threshold": 'a spend threshold is an amount such as "500.00"'}


def test_a_spend_threshold_that_is_no_amount_says_so() -> None:
    problems = problems_of(ladder_of("0", "five hundred"))

    assert list(problems) == ["tiers.levels[1].threshold"]
    assert "is not a decimal amount" in problems["tiers.levels[1].threshold"]


@pytest.mark.parametrize("measure", ["points", "purchases"])
def test_a_points_or_purchases_threshold_is_a_whole_number_not_a_text(measure: str) -> None:
    assert problems_of(ladder_of(0, "10", measure=measure)) == {
        "tiers.levels[1].threshold": f"a {measure} threshold is a whole number"}


def test_a_points_threshold_is_not_negative() -> None:
    assert problems_of(ladder_of(0, -5, measure="points")) == {
        "tiers.levels[1].threshold": "a threshold is not negative"}


def test_a_purchases_threshold_of_true_is_not_a_number() -> None:
    # ``threshold: yes`` in YAML is a boolean; ``threshold_of`` means to refuse booleans
    assert list(problems_of(ladder_of(0, True, measure="purchases"))) == [
        "tiers.levels[1].threshold"]


def test_a_fractional_purchases_threshold_is_reported_at_its_path_in_the_document() -> None:
    # one problem at ``threshold``, not one per member of the ``str | int`` union
    # (``threshold.str``, ``threshold.int``): those are no keys of the document
    problems = problems_of(ladder_of(0, 2.5, measure="purchases"))

    assert list(problems) == ["tiers.levels[1].threshold"]


def test_a_multiplier_is_written_as_a_decimal_string_never_a_float() -> None:
    document = ladder_of("0", "500.00")
    document["tiers"]["levels"][1]["multiplier"] = 1.5

    assert list(problems_of(document)) == ["tiers.levels[1].multiplier"]


def test_a_multiplier_below_one_would_take_points_away_and_is_refused() -> None:
    document = ladder_of("0", "500.00")
    document["tiers"]["levels"][1]["multiplier"] = "0.5"

    assert list(problems_of(document)) == ["tiers.levels[1].multiplier"]


# -- amounts the program's currency cannot hold ------------------------------------------------


def test_a_spend_threshold_with_cents_is_a_problem_in_yen() -> None:
    definition = load_definition(ladder_of("0", "500.50", "1500"))

    assert money_problems(definition, "JPY") == [
        ("tiers.levels[1].threshold", "JPY amounts have at most 0 decimals, not '500.50'")]
    assert money_problems(definition, "EUR") == []


def test_trailing_zeros_are_exact_even_in_yen() -> None:
    assert money_problems(load_definition(ladder_of("0", "500.00")), "JPY") == []


def test_a_spend_threshold_in_tenths_of_a_cent_is_a_problem_in_euros_but_not_in_dinars() -> None:
    definition = load_definition(ladder_of("0", "9.999"))

    assert [path for path, _ in money_problems(definition, "EUR")] == [
        "tiers.levels[1].threshold"]
    assert money_problems(definition, "KWD") == []


def test_points_thresholds_are_no_amounts_and_have_no_currency_problems() -> None:
    assert money_problems(load_definition(ladder_of(0, 1000, measure="points")), "JPY") == []

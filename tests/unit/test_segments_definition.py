"""Segments in the program definition: their validation, with every mistake at its path, the
new member facts as the rule engine reads them, and a rule's ``{segment: id}`` condition.
Pure: no database (the SQL side is in ``tests/integration/test_segments*.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from loyalty.rules.definition import DefinitionError, load_definition
from loyalty.rules.engine import CompiledProgram, FactNeeds, MemberFacts, days_window_start
from tests.unit.test_rules_builders import basket, event, line

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)  # a Monday, noon in Paris


def problems_of(document: str) -> dict[str, str]:
    with pytest.raises(DefinitionError) as raised:
        load_definition(yaml.safe_load(document))
    return dict(raised.value.problems)


def compiled(document: str) -> CompiledProgram:
    return CompiledProgram(
        load_definition(yaml.safe_load(document)),
        currency="EUR",
        time_zone="Europe/Paris",
        version=1,
    )


def one_segment(filter_: dict[str, Any]) -> CompiledProgram:
    return CompiledProgram(
        load_definition({"segments": [{"id": "s", "name": "S", "filter": filter_}]}),
        currency="EUR",
        time_zone="Europe/Paris",
        version=1,
    )


def in_segment(filter_: dict[str, Any], **facts: Any) -> bool:
    return one_segment(filter_).in_segment("s", MemberFacts(**facts), NOW)


# -- validation ---------------------------------------------------------------------------------


def test_a_segment_is_an_id_a_name_and_a_filter_over_member_facts() -> None:
    definition = load_definition(
        yaml.safe_load("""
segments:
  - id: lapsed-vip
    name: Lapsed VIP
    description: gold members who stopped buying
    filter:
      all:
        - {fact: member.tier, value: gold}
        - {fact: member.days_since_last_purchase, op: gte, value: 90}
        - {fact: member.consent.email, value: true}
""")
    )

    segment = definition.segment("lapsed-vip")
    assert segment is not None and segment.name == "Lapsed VIP"
    assert definition.segment("nobody") is None


def test_segment_mistakes_are_reported_at_their_path() -> None:
    problems = problems_of("""
segments:
  - {id: ok, name: Fine, filter: {fact: member.status, value: active}}
  - id: wrong
    name: Wrong
    filter:
      all:
        - {fact: member.purchases, op: gte, value: lots}
        - {not: {fact: member.spend_last_days, op: gte, value: "10.00"}}
        - {fact: member.tier, op: gt, value: gold}
  - {id: Bad Id, name: X, filter: {fact: member.status, value: active}}
""")

    assert problems == {
        "segments[1].filter.all[0].value": "expected a number",
        "segments[1].filter.all[1].not.days": (
            "is given with a fact over the last days "
            "(member.spend_last_days, member.purchases_last_days), and only with it"
        ),
        "segments[1].filter.all[2].op": (
            "member.tier (text) takes the operators eq, exists, in, ne, not_in"
        ),
        "segments[2].id": "use 1 to 64 lower-case letters, digits, '-', '_' or '.'",
    }


def test_a_segment_filters_members_only() -> None:
    problems = problems_of("""
segments:
  - id: big-baskets
    name: Big baskets
    filter: {any: [{fact: member.tier, value: gold}, {fact: basket.total, op: gte, value: "9.00"}]}
""")

    assert problems == {
        "segments[0].filter.any[1].fact": (
            "a segment filters members: only member.* facts, not basket.total"
        )
    }


def test_a_segment_cannot_name_another_segment() -> None:
    problems = problems_of("""
segments:
  - {id: a, name: A, filter: {fact: member.status, value: active}}
  - {id: b, name: B, filter: {all: [{segment: a}]}}
""")

    assert problems == {
        "segments[1].filter.all[0].segment": "a segment's filter cannot name another segment"
    }


def test_segment_ids_are_unique_and_a_rule_names_only_segments_of_its_document() -> None:
    duplicate = problems_of("""
segments:
  - {id: a, name: A, filter: {fact: member.status, value: active}}
  - {id: a, name: Again, filter: {fact: member.status, value: frozen}}
""")
    unknown = problems_of("""
segments:
  - {id: a, name: A, filter: {fact: member.status, value: active}}
rules:
  - id: bonus
    name: Bonus
    conditions: {all: [{segment: a}, {not: {segment: b}}]}
    effect: {type: fixed, points: 5}
""")

    assert duplicate == {"segments[1].id": "two segments have the id 'a'"}
    assert unknown == {
        "rules[0].conditions.all[1].not.segment": "no segment 'b' in this definition"
    }


def test_amounts_and_numbers_in_segments_are_checked_like_rule_conditions() -> None:
    problems = problems_of("""
segments:
  - id: s
    name: S
    filter: {all: [{fact: member.spend_last_days, days: 30, op: gte, value: 10.5},
                   {fact: member.attributes.score, op: gt, value: 99999999999999999999}]}
""")

    assert problems == {
        "segments[0].filter.all[0].value": 'expected an amount as a decimal string such as "50.00"',
        "segments[0].filter.all[1].value": "expected a number within 64 bits",
    }


def test_a_definition_with_segments_round_trips_as_its_document() -> None:
    document = {
        "rules": [
            {
                "id": "r",
                "name": "R",
                "conditions": {"segment": "s"},
                "effect": {"type": "fixed", "points": 5},
            }
        ],
        "segments": [
            {
                "id": "s",
                "name": "S",
                "filter": {
                    "fact": "member.purchases_last_days",
                    "op": "gte",
                    "value": 2,
                    "days": 30,
                },
            }
        ],
    }

    dumped = load_definition(document).model_dump(mode="json", by_alias=True, exclude_unset=True)

    assert dumped == document


# -- the facts, as the engine reads them -----------------------------------------------------------


def test_purchases_in_the_last_days_count_those_of_the_window() -> None:
    regular = {"fact": "member.purchases_last_days", "days": 30, "op": "gte", "value": 3}

    assert in_segment(regular, purchases_last_days={30: 3})
    assert not in_segment(regular, purchases_last_days={30: 2, 90: 9})


def test_days_since_last_purchase_count_local_days_and_none_before_a_first_purchase() -> None:
    lapsed = {"fact": "member.days_since_last_purchase", "op": "gte", "value": 30}
    recent = {"fact": "member.days_since_last_purchase", "op": "lt", "value": 30}
    # 30 days before 15 June is 16 May; 23:30 UTC on 16 May is already 17 May in Paris
    late_on_may_16 = datetime(2026, 5, 16, 23, 30, tzinfo=UTC)

    assert not in_segment(lapsed, last_purchase_at=late_on_may_16)
    assert in_segment(lapsed, last_purchase_at=datetime(2026, 5, 16, 21, 0, tzinfo=UTC))
    assert in_segment(recent, last_purchase_at=late_on_may_16)
    assert not in_segment(lapsed) and not in_segment(recent)
    assert in_segment({"fact": "member.days_since_last_purchase", "op": "ne", "value": 3})


def test_the_preferred_channel_is_compared_as_a_text() -> None:
    online = {"fact": "member.preferred_channel", "op": "in", "value": ["web", "app"]}

    assert in_segment(online, preferred_channel="app")
    assert not in_segment(online, preferred_channel="pos")
    assert not in_segment(online)
    assert in_segment({"fact": "member.preferred_channel", "op": "exists", "value": False})


def test_consent_is_read_from_the_consent_object_of_the_profile() -> None:
    emailable = {"fact": "member.consent.email", "value": True}

    assert in_segment(emailable, attributes={"consent": {"email": True, "sms": False}})
    assert not in_segment(emailable, attributes={"consent": {"email": False}})
    assert not in_segment(emailable, attributes={"consent": {"sms": True}})
    assert not in_segment(emailable, attributes={"consent": "yes"})
    assert not in_segment(emailable)
    never_asked = {"fact": "member.consent.email", "op": "exists", "value": False}
    assert in_segment(never_asked, attributes={"consent": {"sms": True}})


def test_an_object_attribute_has_no_value_for_attribute_conditions() -> None:
    assert not in_segment(
        {"fact": "member.attributes.consent", "op": "exists", "value": True},
        attributes={"consent": {"email": True}},
    )
    assert not in_segment(
        {"fact": "member.attributes.consent", "op": "in", "value": ["x"]},
        attributes={"consent": {"email": True}},
    )


def test_the_birth_month_is_read_from_a_birth_date_written_yyyy_mm_dd() -> None:
    june = {"fact": "member.birth_month", "value": 6}

    assert in_segment(june, attributes={"birth_date": "1990-06-30"})
    assert in_segment(
        {"fact": "member.is_birthday_month", "value": "true"},
        attributes={"birth_date": "1990-06-30"},
    )
    assert not in_segment(june, attributes={"birth_date": "19900630"})
    assert not in_segment(june, attributes={"birth_date": 19900630})


def test_the_last_n_days_begin_at_the_start_of_a_day_in_the_programs_zone() -> None:
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")

    # 15 June 12:00 in Paris: 1 day is today since midnight Paris (22:00 UTC the day before)
    assert days_window_start(NOW, 1, paris) == datetime(2026, 6, 14, 22, 0, tzinfo=UTC)
    assert days_window_start(NOW, 30, paris) == datetime(2026, 5, 16, 22, 0, tzinfo=UTC)


# -- segments in rules ------------------------------------------------------------------------


RULES_WITH_SEGMENT = """
segments:
  - id: regulars
    name: Regulars
    filter: {all: [{fact: member.purchases_last_days, days: 30, op: gte, value: 2},
                   {fact: member.preferred_channel, value: web}]}
rules:
  - {id: base, name: Base, effect: {type: per_currency_unit, points: "1"}}
  - id: regulars-bonus
    name: 50 points for regulars on a shoe
    conditions: {all: [{segment: regulars}, {fact: line.category, value: shoes}]}
    effect: {type: fixed, points: 50}
"""


def test_a_rule_with_a_segment_condition_applies_to_the_segments_members_only() -> None:
    program = compiled(RULES_WITH_SEGMENT)
    shoes = basket(line(category="shoes", price="30.00"))
    regular = MemberFacts(purchases_last_days={30: 2}, preferred_channel="web")
    occasional = MemberFacts(purchases_last_days={30: 1}, preferred_channel="web")

    assert program.evaluate_purchase(shoes, regular).points == 30 + 50
    assert program.evaluate_purchase(shoes, occasional).points == 30
    assert (
        program.evaluate_purchase(basket(line(category="bags", price="30.00")), regular).points
        == 30
    )


def test_the_program_gathers_a_segments_facts_only_when_a_rule_uses_it() -> None:
    used = compiled(RULES_WITH_SEGMENT)
    unused = compiled("""
segments:
  - id: regulars
    name: Regulars
    filter: {fact: member.purchases_last_days, days: 30, op: gte, value: 2}
rules:
  - {id: base, name: Base, effect: {type: per_currency_unit, points: "1"}}
""")

    assert used.needs == FactNeeds(purchase_days=frozenset({30}), preferred_channel=True)
    assert used.needs.history
    assert unused.needs == FactNeeds() and not unused.needs.history
    assert unused.segment_needs("regulars") == FactNeeds(purchase_days=frozenset({30}))
    with pytest.raises(KeyError):
        unused.segment_needs("nobody")


def test_an_event_rule_may_name_a_segment() -> None:
    program = compiled("""
segments:
  - {id: emailable, name: E-mail, filter: {fact: member.consent.email, value: true}}
rules:
  - {id: review, name: Review, trigger: review, conditions: {segment: emailable},
     effect: {type: fixed, points: 10}}
""")

    assert (
        program.evaluate_event(
            event("review"), MemberFacts(attributes={"consent": {"email": True}})
        ).points
        == 10
    )
    assert program.evaluate_event(event("review"), MemberFacts()).points == 0

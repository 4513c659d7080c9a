"""The answer of a posted purchase, written out by hand, held to ``PurchaseRecordedSchema``.

``dump_purchase_recorded`` spares every ``POST .../purchases`` marshmallow's dump; here it
dumps every shape of ``PurchaseRecorded`` the engine makes (any explanation, any offset, the
optional fields set or not), and must give what the schema gives, down to the JSON text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from api.schemas import PurchaseRecordedSchema, dump_purchase_recorded
from loyalty.adapters.db import json_text
from loyalty.rules.engine import RuleResult
from loyalty.services.idempotency import dump, dump_text, load
from loyalty.services.purchases import BalanceSnapshot, PurchaseRecorded
from tests.strategies import instants, points, texts

SCHEMA = PurchaseRecordedSchema()

decimals = st.decimals(min_value=0, max_value=10**6, places=2).map(str)
rule_results = st.builds(
    RuleResult,
    rule_id=texts,
    name=texts,
    applied=st.booleans(),
    points=points,
    detail=texts,
    base=st.none() | decimals,
    rate=st.none() | decimals,
    cut=st.none() | texts,
)
# As the rules engine explains a rule, or as a stored answer gives it back: with a key the
# schema does not answer, or without some it does.
explanation_entries = rule_results.map(RuleResult.as_dict) | st.fixed_dictionaries({}, optional={
    "qualifying": st.booleans(), "cut": texts, "rule": texts, "points": points, "text": texts,
    "applied": st.booleans(), "base": st.none() | decimals,
})
recorded_purchases = st.builds(
    PurchaseRecorded,
    purchase_id=texts,
    member_id=texts,
    external_id=texts,
    source=texts,
    occurred_at=instants,
    currency=st.sampled_from(["EUR", "JPY", "KWD"]),
    total=decimals,
    earn_base=decimals,
    points_earned=points,
    points_available=points,
    points_pending=points,
    available_at=st.none() | instants,
    expires_at=st.none() | instants,
    program_version=st.none() | st.integers(min_value=1, max_value=10**6),
    explanation=st.lists(explanation_entries, max_size=6).map(tuple),
    balance=st.builds(BalanceSnapshot, available=points, pending=points),
    tier=st.none() | texts,
    upgraded_from=st.none() | texts,
    points_burned=st.integers(min_value=0, max_value=10**12),
    burn_value=st.none() | decimals,
)


@settings(max_examples=500, deadline=None)
@given(recorded_purchases)
def test_a_recorded_purchase_is_dumped_as_the_schema_dumps_it(recorded):
    by_hand = dump_purchase_recorded(recorded)
    assert by_hand == SCHEMA.dump(recorded)
    assert json.dumps(by_hand) == json.dumps(SCHEMA.dump(recorded))  # the same keys, in order


def test_an_explanation_answers_only_the_schemas_fields_in_the_schemas_order():
    recorded = a_recorded_purchase(
        explanation=({"cut": "cap", "qualifying": True, "rule": "r1", "points": 5},))
    assert dump_purchase_recorded(recorded)["explanation"] == [
        {"rule": "r1", "points": 5, "cut": "cap"}]


def test_instants_keep_their_offset_and_absent_ones_are_null():
    paris = timezone(timedelta(hours=1))
    recorded = a_recorded_purchase(
        occurred_at=datetime(2026, 1, 15, 10, 0, 0, 123, tzinfo=paris), available_at=None)
    answer = dump_purchase_recorded(recorded)
    assert answer["occurred_at"] == "2026-01-15T10:00:00.000123+01:00"
    assert answer["available_at"] is None


def a_recorded_purchase(**fields) -> PurchaseRecorded:
    at = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    values = {
        "purchase_id": "pur_1", "member_id": "mem_1", "external_id": "T-1", "source": "pos",
        "occurred_at": at, "currency": "EUR", "total": "10.00", "earn_base": "10.00",
        "points_earned": 10, "points_available": 10, "points_pending": 0, "available_at": at,
        "expires_at": None, "program_version": 1, "explanation": (),
        "balance": BalanceSnapshot(10, 0),
    }
    return PurchaseRecorded(**{**values, **fields})


@settings(max_examples=300, deadline=None)
@given(recorded_purchases)
def test_the_stored_answer_is_the_json_of_the_dumped_answer_and_replays_as_it(recorded):
    stored = dump_text(recorded)
    assert json_text(stored) is stored  # a JSON column writes it as it is
    assert json.loads(stored) == dump(recorded)
    assert load(PurchaseRecorded, json.loads(stored)) == load(PurchaseRecorded, dump(recorded))

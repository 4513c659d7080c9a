"""The balance answer, written out by hand, held to ``BalanceSchema``.

``dump_balance`` spares every ``GET .../balance`` marshmallow's dump; here it dumps every shape
of ``BalanceView`` (expiries, pending releases, a tier's progress or none, any offset) and must
give what the schema gives, down to the JSON text.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from api.schemas import BalanceSchema, dump_balance
from loyalty.services.points import BalanceView, ExpiringPoints, PendingPoints, TierProgress
from tests.strategies import instants, points, texts

SCHEMA = BalanceSchema()

tiers = st.builds(
    TierProgress, tier=texts, tier_name=texts, measure_kind=st.sampled_from(
        ["spend", "points", "purchases"]), measure=texts, next_tier=st.none() | texts,
    next_tier_name=st.none() | texts, needed=st.none() | texts,
    requalify_by=st.none() | instants, would_fall_to=st.none() | texts,
    floor_until=st.none() | instants,
)
balances = st.builds(
    BalanceView, member_id=texts, status=st.sampled_from(["active", "suspended", "closed"]),
    available=points, pending=points, lifetime_earned=points, lifetime_redeemed=points,
    lifetime_expired=points,
    next_expiries=st.lists(st.builds(ExpiringPoints, points=points, expires_at=instants,
                                     last_usable_day=st.dates()), max_size=5).map(tuple),
    pending_releases=st.lists(st.builds(PendingPoints, points=points,
                                        available_at=st.none() | instants),
                              max_size=4).map(tuple),
    as_of=instants, tier=st.none() | tiers,
)


@settings(max_examples=500, deadline=None)
@given(balances)
def test_a_balance_is_dumped_as_the_schema_dumps_it(balance):
    by_hand = dump_balance(balance)
    assert by_hand == SCHEMA.dump(balance)
    assert json.dumps(by_hand) == json.dumps(SCHEMA.dump(balance))  # the same keys, in order

"""The two evaluators of a segment agree: for random members (profiles, tiers, purchases on
several channels around "now") and random filters over every member fact, the members the
database lists are exactly those the rule engine finds, one by one, with the facts the
posting path would gather. On SQLite and PostgreSQL, in several time zones.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.adapters.orm import MemberTierRow
from loyalty.domain.members import Member, MemberStatus, new_id
from loyalty.rules.definition import OPS_BY_TYPE, FactType, Op, fact_type
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from loyalty.services.segments import get_segment, member_in_segment, segment_members

_programs = itertools.count(1)
ZONES = ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Auckland", "UTC"]
# around the end of daylight saving time in Europe and a year boundary elsewhere
NOWS = [
    datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    datetime(2026, 1, 1, 4, 0, tzinfo=UTC),
    datetime(2026, 6, 15, 10, 0, tzinfo=UTC),
]
LADDER = {
    "measure": "purchases",
    "window": {"type": "lifetime"},
    "levels": [
        {"id": "member", "name": "Member", "threshold": 0},
        {"id": "gold", "name": "Gold", "threshold": 10},
    ],
}

# -- members -------------------------------------------------------------------------------------

TEXTS = ["Paris", "paris", "Lyon", "", "Zürich", "10", "true"]
SCALARS = st.one_of(st.sampled_from(TEXTS), st.integers(-5, 50), st.booleans())
ATTRIBUTES = st.fixed_dictionaries(
    {},
    optional={
        "city": st.one_of(st.sampled_from(TEXTS), st.none()),
        "score": st.one_of(st.integers(-5, 50), st.just("42"), st.booleans()),
        "flag": st.one_of(st.booleans(), st.just("true")),
        "consent": st.one_of(
            st.fixed_dictionaries({}, optional={"email": st.booleans(), "sms": st.booleans()}),
            st.just("yes"),
        ),
        "birth_date": st.one_of(
            st.integers(1, 12).map(lambda m: f"1990-{m:02d}-15"),
            st.just("19900615"),
            st.just(19900615),
        ),
    },
)
PURCHASE = st.tuples(
    st.integers(-1, 400),  # days before now (-1: tomorrow, not counted yet)
    st.sampled_from([0, 1, 5, 12, 23]),  # hours before that: some cross local midnights
    st.sampled_from(["pos", "web", "app"]),
    st.integers(1, 12_000),  # minor units
)
MEMBER = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["active", "frozen", "closed"]),
        "enrolled_days_ago": st.integers(0, 500),
        "tier": st.sampled_from([None, "member", "gold", "ghost"]),  # ghost: not in the ladder
        "attributes": ATTRIBUTES,
        "purchases": st.lists(PURCHASE, max_size=6),
    }
)

# -- filters ---------------------------------------------------------------------------------------

FACT_VALUES: dict[str, Any] = {
    "member.tier": st.sampled_from(["member", "gold", "ghost", ""]),
    "member.status": st.sampled_from(["active", "frozen", "closed"]),
    "member.preferred_channel": st.sampled_from(["pos", "web", "app", "phone"]),
    "member.is_birthday_month": st.sampled_from(["true", "false"]),
    "member.purchases": st.integers(-1, 7),
    "member.purchases_last_days": st.integers(-1, 6),
    "member.days_since_last_purchase": st.integers(-2, 420),
    "member.days_since_enrollment": st.integers(-2, 520),
    "member.birth_month": st.integers(0, 13),
    "member.spend_last_days": st.integers(0, 30_000).map(lambda m: f"{m // 100}.{m % 100:02d}"),
    "member.attributes.city": SCALARS,
    "member.attributes.score": SCALARS,
    "member.attributes.flag": SCALARS,
    "member.attributes.consent": SCALARS,
    "member.attributes.birth_date": st.one_of(SCALARS, st.just("1990-06-15")),
    "member.attributes.nothing": SCALARS,
    "member.consent.email": SCALARS,
    "member.consent.sms": SCALARS,
}
WINDOWED = {"member.spend_last_days", "member.purchases_last_days"}


@st.composite
def comparisons(draw: Any) -> dict[str, Any]:
    fact = draw(st.sampled_from(sorted(FACT_VALUES)))
    kind = fact_type(fact)
    assert kind is not None
    op = draw(st.sampled_from(sorted(OPS_BY_TYPE[kind], key=lambda o: o.value)))
    values = FACT_VALUES[fact]
    if op is Op.EXISTS:
        value: Any = draw(st.booleans())
    elif op in (Op.IN, Op.NOT_IN):
        value = draw(st.lists(values, min_size=1, max_size=3))
    elif op is Op.BETWEEN:
        value = [draw(values), draw(values)]
    else:
        value = draw(values)
    comparison = {"fact": fact, "op": op.value, "value": value}
    if fact in WINDOWED:
        comparison["days"] = draw(st.sampled_from([1, 2, 7, 30, 365]))
    if kind is FactType.MONEY and op is Op.EXISTS:
        raise AssertionError("money facts take no exists")
    return comparison


FILTERS = st.recursive(
    comparisons(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"all": items}),
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"any": items}),
        children.map(lambda item: {"not": item}),
    ),
    max_leaves=5,
)

WORLDS = st.fixed_dictionaries(
    {
        "zone": st.sampled_from(ZONES),
        "now": st.sampled_from(NOWS),
        "ladder": st.booleans(),
        "members": st.lists(MEMBER, min_size=1, max_size=6),
        "filters": st.lists(FILTERS, min_size=1, max_size=3),
    }
)


def build(ctx, world: dict[str, Any]) -> tuple[str, list[str]]:
    """A program with the world's segments and members; its id and the members' ids."""
    program_id = f"prop-{next(_programs)}"
    now = world["now"]
    create_program(ctx, CreateProgram(program_id, "Property", "EUR", world["zone"], {}))
    document: dict[str, Any] = {
        "settings": {},
        "segments": [
            {"id": f"s{index}", "name": f"Segment {index}", "filter": filter_}
            for index, filter_ in enumerate(world["filters"])
        ],
    }
    if world["ladder"]:
        document["tiers"] = LADDER
    save_draft(ctx, program_id, document, "cli:property")
    publish(ctx, program_id, "cli:property")
    ids: list[str] = []
    with ctx.uow() as uow:
        for member in world["members"]:
            member_id = new_id("mem")
            ids.append(member_id)
            uow.members.add(
                Member(
                    id=member_id,
                    program_id=program_id,
                    status=MemberStatus(member["status"]),
                    enrolled_at=now - timedelta(days=member["enrolled_days_ago"], hours=3),
                    attributes=member["attributes"],
                ),
                now,
            )
            if member["tier"] is not None:
                uow.session.add(
                    MemberTierRow(
                        member_id=member_id,
                        program_id=program_id,
                        tier=member["tier"],
                        achieved_at=now,
                        updated_at=now,
                    )
                )
            for days, hours, channel, amount in member["purchases"]:
                uow.purchases.add(
                    id=new_id("pur"),
                    program_id=program_id,
                    member_id=member_id,
                    source="property",
                    external_id=new_id("ext"),
                    occurred_at=now - timedelta(days=days, hours=hours),
                    recorded_at=now,
                    channel=channel,
                    store=None,
                    currency="EUR",
                    total=amount,
                    tax=0,
                    discount=0,
                    shipping=0,
                    earn_base=amount,
                    points_earned=0,
                    lines=[],
                    promo_codes=[],
                    paid_with_points=0,
                    paid_with_gift_cards=0,
                    points_burned=0,
                )
        uow.session.flush()
        uow.commit()
    return program_id, ids


def test_the_database_and_the_rule_engine_find_the_same_members_in_a_segment(ctx):
    @given(world=WORLDS)
    @settings(
        max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def agree(world: dict[str, Any]) -> None:
        with freeze_time(world["now"]):
            program_id, ids = build(ctx, world)
            for index in range(len(world["filters"])):
                segment_id = f"s{index}"
                page = segment_members(ctx, program_id, segment_id, limit=100)
                listed = {member.member_id for member in page.members}
                by_engine = {
                    member_id
                    for member_id in ids
                    if member_in_segment(ctx, program_id, segment_id, member_id)
                }
                assert listed == by_engine, world["filters"][index]
                assert get_segment(ctx, program_id, segment_id).members == len(listed)

    agree()

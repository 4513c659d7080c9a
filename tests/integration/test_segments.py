"""Segments against a real database (SQLite and PostgreSQL): every member fact, counted and
listed by the database and evaluated by the rule engine, which must agree; rules that name a
segment; versions; pages; the program's time zone.

The world is seen on Monday 15 June 2026 at noon in Paris (10:00 UTC), the program's zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from freezegun import freeze_time

from loyalty.adapters.segment_repositories import SegmentRepository
from loyalty.domain.errors import InvalidRequest, SegmentNotFound, VersionNotFound
from loyalty.domain.members import Identity, Member
from loyalty.services import desk
from loyalty.services.members import EnrollMember, enroll_member
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from loyalty.services.purchases import record_purchase
from loyalty.services.segments import (
    get_segment,
    list_segments,
    member_in_segment,
    segment_members,
)
from loyalty.services.tiers import set_tier
from tests.builders import a_purchase

NOW = "2026-06-15 10:00:00"  # noon in Paris
AGENT = desk.Actor("key:agent")
LADDER: dict[str, Any] = {
    "measure": "spend",
    "window": {"type": "calendar_year"},
    "levels": [
        {"id": "member", "name": "Member", "threshold": "0"},
        {"id": "gold", "name": "Gold", "threshold": "5000.00"},
    ],
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def segment(segment_id: str, filter_: dict[str, Any]) -> dict[str, Any]:
    return {"id": segment_id, "name": segment_id.replace("-", " ").title(), "filter": filter_}


def a_program_with(
    ctx,
    segments: list[dict[str, Any]],
    *,
    rules: list[dict[str, Any]] = (),
    tiers: dict[str, Any] | None = LADDER,
) -> None:
    """Program "shop" (EUR, Europe/Paris) whose version 2, in force since 2020, holds these
    segments, rules and ladder."""
    with freeze_time("2020-01-01 00:00:00"):
        create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", {}))
        document = {"settings": {}, "rules": list(rules), "segments": segments}
        if tiers is not None:
            document["tiers"] = tiers
        save_draft(ctx, "shop", document, "cli:t")
        publish(ctx, "shop", "cli:t")


def enroll(ctx, at: str, **attributes: Any) -> Member:
    with freeze_time(at):
        return enroll_member(
            ctx,
            EnrollMember(
                "shop",
                (Identity.parse(f"card:{abs(hash((at, str(attributes)))) % 10**12:012d}"),),
                attributes,
            ),
        ).result


def buy(ctx, member: Member, amount: str, at: str, channel: str = "pos") -> None:
    with freeze_time(NOW):
        record_purchase(ctx, a_purchase(member, amount, occurred_at=utc(at), channel=channel))


def listed(ctx, segment_id: str, *, version: int | None = None, page: int = 2) -> set[str]:
    """The segment's members, page by page, as the database lists them."""
    found: list[str] = []
    cursor = None
    while True:
        page_ = segment_members(ctx, "shop", segment_id, limit=page, cursor=cursor, version=version)
        found += [member.member_id for member in page_.members]
        cursor = page_.next_cursor
        if cursor is None:
            return set(found)


def members_of(ctx, segment_id: str, everyone: list[Member]) -> set[str]:
    """The segment's members now: listed by the database, counted by it, and evaluated one by
    one by the rule engine, all three the same."""
    with freeze_time(NOW):
        in_database = listed(ctx, segment_id)
        assert get_segment(ctx, "shop", segment_id).members == len(in_database)
        by_engine = {m.id for m in everyone if member_in_segment(ctx, "shop", segment_id, m.id)}
    assert in_database == by_engine
    return in_database


SEGMENTS = [
    segment("gold", {"fact": "member.tier", "value": "gold"}),
    segment("not-gold", {"fact": "member.tier", "op": "ne", "value": "gold"}),
    segment("frozen", {"fact": "member.status", "value": "frozen"}),
    segment("lapsed", {"fact": "member.days_since_last_purchase", "op": "gte", "value": 30}),
    segment("recent", {"fact": "member.days_since_last_purchase", "op": "lte", "value": 1}),
    segment(
        "big-spenders",
        {"fact": "member.spend_last_days", "days": 30, "op": "gte", "value": "50.00"},
    ),
    segment(
        "regulars", {"fact": "member.purchases_last_days", "days": 30, "op": "gte", "value": 2}
    ),
    segment("buyers", {"fact": "member.purchases", "op": "gte", "value": 1}),
    segment("june-born", {"fact": "member.birth_month", "value": 6}),
    segment("birthday-now", {"fact": "member.is_birthday_month", "value": "true"}),
    segment("newcomers", {"fact": "member.days_since_enrollment", "op": "lt", "value": 30}),
    segment("web-first", {"fact": "member.preferred_channel", "value": "web"}),
    segment("pos-first", {"fact": "member.preferred_channel", "value": "pos"}),
    segment("emailable", {"fact": "member.consent.email", "value": True}),
    segment("never-asked", {"fact": "member.consent.email", "op": "exists", "value": False}),
    segment("parisians", {"fact": "member.attributes.city", "op": "in", "value": ["Paris"]}),
    segment("high-score", {"fact": "member.attributes.score", "op": "gte", "value": 10}),
    segment("subscribed", {"fact": "member.attributes.newsletter", "value": True}),
    segment(
        "everyone-but-ada",
        {
            "not": {
                "all": [
                    {"fact": "member.attributes.city", "value": "Paris"},
                    {"fact": "member.attributes.score", "op": "between", "value": [40, 50]},
                ]
            }
        },
    ),
]


@pytest.fixture
def world(ctx) -> dict[str, Member]:
    """Ada (gold, web shopper, June birthday, e-mail consent), Bob (frozen, bought last on 16
    May late in the evening in Paris, pos), Cleo (enrolled today, nothing else)."""
    a_program_with(ctx, SEGMENTS)
    ada = enroll(
        ctx,
        "2026-01-10 09:00:00",
        birth_date="1990-06-02",
        city="Paris",
        score=42,
        newsletter=True,
        consent={"email": True, "sms": False},
    )
    bob = enroll(
        ctx,
        "2026-06-01 09:00:00",
        birth_date="1985-12-24",
        city="Lyon",
        score=7,
        consent={"email": False},
    )
    cleo = enroll(ctx, "2026-06-15 08:00:00")
    buy(ctx, ada, "100.00", "2026-03-01 12:00:00")
    buy(ctx, ada, "20.00", "2026-06-01 12:00:00", channel="web")
    buy(ctx, ada, "30.00", "2026-06-14 12:00:00", channel="web")
    buy(ctx, bob, "5.00", "2026-02-01 12:00:00", channel="web")
    # 23:30 in Paris on 16 May: 30 days before today, just outside "the last 30 days"
    buy(ctx, bob, "10.00", "2026-05-16 21:30:00")
    with freeze_time(NOW):
        set_tier(ctx, "shop", ada.id, "gold", until=None, reason="ambassador", actor="key:agent")
        desk.freeze(ctx, "shop", bob.id, "suspected fraud", AGENT)
    return {"ada": ada, "bob": bob, "cleo": cleo}


def named(world: dict[str, Member], *names: str) -> set[str]:
    return {world[name].id for name in names}


@pytest.mark.parametrize(
    ("segment_id", "expected"),
    [
        ("gold", {"ada"}),
        ("not-gold", {"bob", "cleo"}),  # a member without a tier row is at the lowest level
        ("frozen", {"bob"}),
        ("lapsed", {"bob"}),
        ("recent", {"ada"}),
        ("big-spenders", {"ada"}),  # 20.00 + 30.00 in the last 30 days; Bob's 16 May is outside
        ("regulars", {"ada"}),
        ("buyers", {"ada", "bob"}),
        ("june-born", {"ada"}),
        ("birthday-now", {"ada"}),
        ("newcomers", {"bob", "cleo"}),
        ("web-first", {"ada"}),
        ("pos-first", {"bob"}),  # one web, one pos purchase: the latest decides
        ("emailable", {"ada"}),
        ("never-asked", {"cleo"}),
        ("parisians", {"ada"}),
        ("high-score", {"ada"}),
        ("subscribed", {"ada"}),
        ("everyone-but-ada", {"bob", "cleo"}),
    ],
)
def test_each_member_fact_selects_the_same_members_in_sql_and_in_the_engine(
    ctx, world, segment_id, expected
):
    assert members_of(ctx, segment_id, list(world.values())) == named(world, *expected)


def test_the_list_gives_every_segment_of_the_version_with_its_count(ctx, world):
    with freeze_time(NOW):
        listing = list_segments(ctx, "shop")

    assert listing.version == 2
    assert [s.id for s in listing.segments] == [s["id"] for s in SEGMENTS]
    counts = {s.id: s.members for s in listing.segments}
    assert counts["buyers"] == 2 and counts["gold"] == 1 and counts["newcomers"] == 2


def test_a_page_lists_member_id_status_and_tier(ctx, world):
    with freeze_time(NOW):
        page = segment_members(ctx, "shop", "buyers", limit=10)

    assert {(m.member_id, m.status, m.tier) for m in page.members} == {
        (world["ada"].id, "active", "gold"),
        (world["bob"].id, "frozen", "member"),
    }
    assert page.next_cursor is None


def test_merged_and_erased_members_are_left_out_and_closed_ones_listed(ctx):
    a_program_with(
        ctx,
        [
            segment(
                "all",
                {"fact": "member.status", "op": "in", "value": ["active", "frozen", "closed"]},
            )
        ],
    )
    ada, duplicate, erased, closed = (
        enroll(ctx, f"2026-06-0{day} 09:00:00") for day in (1, 2, 3, 4)
    )
    with freeze_time(NOW):
        desk.merge(ctx, "shop", ada.id, duplicate.id, AGENT)
        desk.erase(ctx, "shop", erased.id, AGENT)
        desk.close(ctx, "shop", closed.id, "moved away", AGENT)

        assert listed(ctx, "all") == {ada.id, closed.id}


# -- rules that name a segment ---------------------------------------------------------------

REGULARS_BONUS = {
    "id": "regulars-bonus",
    "name": "50 points for regulars",
    "conditions": {"segment": "regulars"},
    "effect": {"type": "fixed", "points": 50},
}
BASE = {
    "id": "base",
    "name": "1 point per euro",
    "effect": {"type": "per_currency_unit", "points": "1"},
}


def test_a_rule_with_a_segment_condition_earns_only_for_members_in_it(ctx):
    a_program_with(
        ctx,
        [
            segment(
                "regulars",
                {
                    "all": [
                        {"fact": "member.purchases_last_days", "days": 30, "op": "gte", "value": 2},
                        {"fact": "member.preferred_channel", "value": "web"},
                    ]
                },
            )
        ],
        rules=[BASE, REGULARS_BONUS],
    )
    ada = enroll(ctx, "2026-06-01 09:00:00")
    with freeze_time(NOW):
        earned = [
            record_purchase(
                ctx, a_purchase(ada, "10.00", occurred_at=utc(at), channel=channel)
            ).result.points_earned
            for at, channel in (
                ("2026-06-10 12:00:00", "web"),
                ("2026-06-11 12:00:00", "web"),
                ("2026-06-12 12:00:00", "pos"),
                ("2026-06-13 12:00:00", "pos"),
                ("2026-06-14 12:00:00", "pos"),
            )
        ]

    # before each purchase: 0, 1 (not yet two); 2 web (a regular); 2 web + 1 pos (web still
    # leads); 2 web + 2 pos (a tie: the latest, pos, leads)
    assert earned == [10, 10, 60, 60, 10]


def test_a_program_whose_rules_name_no_segment_reads_no_purchase_history(ctx, monkeypatch):
    a_program_with(
        ctx,
        [
            segment(
                "regulars",
                {"fact": "member.purchases_last_days", "days": 30, "op": "gte", "value": 2},
            )
        ],
        rules=[BASE],
    )
    ada = enroll(ctx, "2026-06-01 09:00:00")

    def never(*_: Any) -> None:
        raise AssertionError("the posting path read purchase history for segments")

    for name in ("purchases_between", "last_purchase_before", "preferred_channel"):
        monkeypatch.setattr(SegmentRepository, name, never)
    buy(ctx, ada, "10.00", "2026-06-10 12:00:00")
    buy(ctx, ada, "10.00", "2026-06-11 12:00:00")

    with freeze_time(NOW):
        assert listed(ctx, "regulars") == {ada.id}  # the listing needs none of them


# -- versions and pages -----------------------------------------------------------------------


def test_a_new_published_version_changes_the_segment_and_older_versions_stay_readable(ctx):
    a_program_with(
        ctx,
        [
            segment(
                "big",
                {"fact": "member.spend_last_days", "days": 365, "op": "gte", "value": "100.00"},
            ),
            segment("old", {"fact": "member.status", "value": "active"}),
        ],
    )
    ada, bob = enroll(ctx, "2026-01-01 09:00:00"), enroll(ctx, "2026-01-02 09:00:00")
    buy(ctx, ada, "150.00", "2026-05-01 12:00:00")
    buy(ctx, bob, "20.00", "2026-05-01 12:00:00")
    with freeze_time(NOW):
        assert listed(ctx, "big") == {ada.id}
        save_draft(
            ctx,
            "shop",
            {
                "settings": {},
                "tiers": LADDER,
                "segments": [
                    segment(
                        "big",
                        {
                            "fact": "member.spend_last_days",
                            "days": 365,
                            "op": "gte",
                            "value": "10.00",
                        },
                    )
                ],
            },
            "cli:t",
        )
        publish(ctx, "shop", "cli:t")

        assert listed(ctx, "big") == {ada.id, bob.id}
        assert get_segment(ctx, "shop", "big").version == 3
        assert listed(ctx, "big", version=2) == {ada.id}
        assert get_segment(ctx, "shop", "old", version=2).members == 2
        with pytest.raises(SegmentNotFound):
            get_segment(ctx, "shop", "old")
        with pytest.raises(VersionNotFound):
            list_segments(ctx, "shop", version=9)


def test_members_are_paged_by_id_with_an_opaque_cursor(ctx):
    a_program_with(ctx, [segment("all", {"fact": "member.status", "value": "active"})])
    everyone = {enroll(ctx, f"2026-06-0{day} 09:00:00").id for day in range(1, 6)}

    with freeze_time(NOW):
        first = segment_members(ctx, "shop", "all", limit=2)
        second = segment_members(ctx, "shop", "all", limit=2, cursor=first.next_cursor)
        third = segment_members(ctx, "shop", "all", limit=2, cursor=second.next_cursor)
        with pytest.raises(InvalidRequest) as refused:
            segment_members(ctx, "shop", "all", limit=2, cursor="not-ours")

    pages = [[m.member_id for m in page.members] for page in (first, second, third)]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert third.next_cursor is None
    assert {member for page in pages for member in page} == everyone
    assert pages[0][-1] not in first.next_cursor  # opaque: no member id in clear
    assert refused.value.field == "cursor"


def test_texts_are_ordered_by_code_point_on_postgresql_whatever_its_collation():
    from zoneinfo import ZoneInfo

    from sqlalchemy.dialects import postgresql

    from loyalty.adapters.segment_repositories import _Compiler
    from loyalty.rules.definition import Comparison

    compiler = _Compiler("shop", utc(NOW), ZoneInfo("Europe/Paris"), "EUR", True, ())
    for value in ("Paris", True):
        condition = compiler.condition(
            Comparison(fact="member.attributes.city", op="gt", value=value)
        )
        sql = str(condition.compile(dialect=postgresql.dialect()))
        assert 'COLLATE "C"' in sql

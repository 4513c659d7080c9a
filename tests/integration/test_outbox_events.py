"""Every business event reaches the outbox in the transaction of the change it reports, from the
use case that causes it: points earned, released, redeemed, expired, reversed, adjusted and
transferred; tier changes; vouchers issued, consumed and cancelled; members merged and erased.
Payloads hold ids, points and balances, never personal data.

The program "shop" (EUR, Europe/Paris) earns 1 point per whole euro; its version 2, in force
from 2020-01-01, holds what a test needs. The clock is frozen at ``NOW`` (10 March 2026, 12:00
UTC) unless a test moves it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, event, select

from loyalty.adapters.orm import Base
from loyalty.adapters.webhook_sender import send
from loyalty.domain.errors import InsufficientPoints
from loyalty.domain.members import Identity, Member
from loyalty.services import desk
from loyalty.services.access import Actor
from loyalty.services.events import RecordEvent, record_event
from loyalty.services.jobs import expire_points, release_pending
from loyalty.services.members import EnrollMember, MemberRef, enroll_member
from loyalty.services.points import DebitPoints, debit_points
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from loyalty.services.purchases import record_purchase
from loyalty.services.returns import RecordReturn, record_return
from loyalty.services.rewards import Redeem, cancel_redemption, consume_voucher, redeem
from loyalty.services.webhooks import CreateEndpoint, create_endpoint, deliver_webhooks
from tests.builders import a_member, a_purchase, earn
from tests.webhook_receiver import a_receiver

NOW = "2026-03-10 12:00:00"
PUBLISHED = "2020-01-01 00:00:00"
AGENT = desk.Actor("key:agent1")
SUPERVISOR = desk.Actor("key:super1", person="Grace at the desk")

COFFEE: dict[str, Any] = {
    "id": "coffee",
    "name": "Coffee",
    "cost": 60,
    "kind": "free_product",
    "sku": "COFFEE",
    "stock": 5,
    "voucher_days": 30,
}
LADDER: dict[str, Any] = {
    "measure": "spend",
    "window": {"type": "calendar_year"},
    "levels": [
        {"id": "member", "name": "Member", "threshold": "0"},
        {"id": "silver", "name": "Silver", "threshold": "500.00"},
    ],
}
EXPIRING_YEARLY = {"mode": "after", "period": 12, "unit": "months", "rounding": "end_of_month"}


@pytest.fixture
def clock():
    with freeze_time(NOW) as frozen:
        yield frozen


def a_program(ctx, *, tiers: dict[str, Any] | None = None, **settings: Any) -> None:
    """Program "shop" whose version 2 (from 2020-01-01) has ``settings``, the coffee reward
    and ``tiers``."""
    with freeze_time(PUBLISHED):
        create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", settings={}))
        document: dict[str, Any] = {"settings": settings, "rules": [], "rewards": [COFFEE]}
        if tiers is not None:
            document["tiers"] = tiers
        save_draft(ctx, "shop", document, "cli:t")
        publish(ctx, "shop", "cli:t")


def events(ctx, member: Member, *types: str) -> list[tuple[str, dict[str, Any]]]:
    """The member's outbox events (of ``types``, if given), oldest first."""
    with ctx.uow(read_only=True) as uow:
        return [
            (e.type, dict(e.payload))
            for e in uow.outbox.events(member.id)
            if not types or e.type in types
        ]


def only(ctx, member: Member, type: str) -> dict[str, Any]:
    [(_, payload)] = events(ctx, member, type)
    return payload


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- points -------------------------------------------------------------------------------------


def test_a_purchase_emits_points_earned_with_one_insert_and_no_read_of_the_outbox(ctx, clock):
    a_program(ctx)
    ada = a_member(ctx)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        purchase = record_purchase(ctx, a_purchase(ada, "42.50")).result
    finally:
        event.remove(Engine, "before_cursor_execute", seen)

    touching = [s.split()[0].upper() for s in statements if "domain_events" in s]
    assert touching == ["INSERT"]
    with ctx.uow(read_only=True) as uow:
        [entry] = uow.ledger.entries(ada.id, before_id=None, limit=1)
    assert events(ctx, ada) == [
        (
            "points.earned",
            {
                "points": 42,
                "status": "available",
                "available_at": None,
                "expires_at": None,
                "purchase_id": purchase.purchase_id,
                "event_id": None,
                "entry_id": entry.id,
                "program_version": 2,
                "rules": ["base-rate"],
                "debt_paid": 0,
                "reason": f"earned 42 on order {purchase.external_id}",
                "balance": {"available": 42, "pending": 0},
            },
        )
    ]


def test_pending_points_are_earned_pending_then_released_by_the_job(ctx, clock):
    a_program(ctx, pending={"days": 14})
    ada = a_member(ctx)
    purchase = earn(ctx, ada, 40)
    earned = only(ctx, ada, "points.earned")
    assert (earned["status"], earned["available_at"], earned["balance"]) == (
        "pending",
        "2026-03-24T12:00:00+00:00",
        {"available": 0, "pending": 40},
    )

    clock.tick(timedelta(days=15))
    release_pending(ctx)
    release_pending(ctx)  # a second run releases nothing, and tells nothing

    released = only(ctx, ada, "points.released")
    assert released | {"entry_id": None} == {
        "points": 40,
        "purchase_id": purchase.purchase_id,
        "entry_id": None,
        "debt_paid": 0,
        "balance": {"available": 40, "pending": 0},
    }


def test_an_event_that_earns_emits_points_earned_with_its_event_id(ctx, clock):
    with freeze_time(PUBLISHED):
        create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", settings={}))
        save_draft(
            ctx,
            "shop",
            {
                "settings": {},
                "rules": [
                    {
                        "id": "reviews",
                        "name": "Reviews",
                        "trigger": "review",
                        "effect": {"type": "fixed", "points": 25},
                    }
                ],
            },
            "cli:t",
        )
        publish(ctx, "shop", "cli:t")
    ada = a_member(ctx)
    recorded = record_event(
        ctx,
        RecordEvent(
            "shop", MemberRef(member_id=ada.id), "review", "REV-1", at(NOW) - timedelta(hours=1)
        ),
    ).result
    earned = only(ctx, ada, "points.earned")
    assert (earned["points"], earned["event_id"], earned["purchase_id"], earned["rules"]) == (
        25,
        recorded.event_id,
        None,
        ["reviews"],
    )


def test_a_debit_emits_points_redeemed_without_its_free_text_reason(ctx, clock):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    debited = debit_points(
        ctx, DebitPoints("shop", ada.id, 30, "D-1", reason="Ada asked by phone")
    ).result
    assert only(ctx, ada, "points.redeemed") == {
        "points": 30,
        "reward_id": None,
        "redemption_id": None,
        "purchase_id": None,
        "external_id": "D-1",
        "entry_id": debited.entry_id,
        "reason": None,
        "balance": {"available": 70, "pending": 0},
    }
    with pytest.raises(InsufficientPoints):
        debit_points(ctx, DebitPoints("shop", ada.id, 500, "D-2"))
    assert len(events(ctx, ada, "points.redeemed")) == 1  # a refused debit tells nothing


def test_paying_with_points_at_the_till_emits_points_redeemed(ctx, clock):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 500)
    burned = record_purchase(ctx, a_purchase(ada, "20.00", points_to_burn=100)).result
    redeemed = only(ctx, ada, "points.redeemed")
    assert (redeemed["points"], redeemed["purchase_id"], redeemed["reward_id"]) == (
        100,
        burned.purchase_id,
        None,
    )
    assert redeemed["reason"] == f"paid 1.00 EUR with 100 points on order {burned.external_id}"


def test_the_expiry_job_emits_one_points_expired_per_member_however_many_lots(ctx, clock):
    a_program(ctx, expiry=EXPIRING_YEARLY)
    ada, bob = a_member(ctx), a_member(ctx)
    earn(ctx, ada, 10, occurred_at=at("2025-01-10 10:00:00"))
    earn(ctx, ada, 20, occurred_at=at("2025-02-10 10:00:00"))
    earn(ctx, ada, 5, occurred_at=at("2025-02-20 10:00:00"))
    earn(ctx, bob, 7, occurred_at=at("2025-02-11 10:00:00"))

    expire_points(ctx)
    expire_points(ctx)

    expired = only(ctx, ada, "points.expired")
    assert expired | {"entry_ids": len(expired["entry_ids"])} == {
        "points": 35,
        "cause": "expiry",
        "entry_ids": 2,
        "expired": [
            {"points": 10, "expires_at": "2026-01-31T23:00:00+00:00"},
            {"points": 25, "expires_at": "2026-02-28T23:00:00+00:00"},
        ],
        "balance": {"available": 0, "pending": 0},
    }
    assert only(ctx, bob, "points.expired")["points"] == 7


def test_closing_an_account_forfeits_its_points_with_points_expired(ctx, clock):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 15)
    desk.close(ctx, "shop", ada.id, "moved abroad", AGENT)
    expired = only(ctx, ada, "points.expired")
    assert (expired["points"], expired["cause"], expired["balance"]) == (
        15,
        "closure",
        {"available": 0, "pending": 0},
    )


def test_a_return_emits_points_reversed(ctx, clock):
    a_program(ctx)
    ada = a_member(ctx)
    purchase = earn(ctx, ada, 80)
    returned = record_return(
        ctx, RecordReturn("shop", purchase.purchase_id, "RET-1", amount=3000)
    ).result
    assert only(ctx, ada, "points.reversed") == {
        "points": 30,
        "points_not_reversed": 0,
        "points_given_back": 0,
        "purchase_id": purchase.purchase_id,
        "return_id": returned.return_id,
        "debt": 0,
        "balance": {"available": 50, "pending": 0},
    }


def test_an_adjustment_emits_points_adjusted_when_applied_not_when_requested(ctx, clock):
    a_program(ctx, adjustments={"agent_limit_per_adjustment": 100})
    ada = a_member(ctx)
    small = desk.adjust(
        ctx, desk.Adjust("shop", ada.id, 40, "goodwill", "A-1", "parcel late, Ada was upset"), AGENT
    ).result
    large = desk.adjust(ctx, desk.Adjust("shop", ada.id, 300, "compensation", "A-2"), AGENT).result
    assert [p["adjustment_id"] for _, p in events(ctx, ada, "points.adjusted")] == [
        small.adjustment_id
    ]
    desk.decide(ctx, "shop", large.adjustment_id, approve=True, actor=SUPERVISOR)

    first, second = (p for _, p in events(ctx, ada, "points.adjusted"))
    assert (first["points"], first["reason_code"], first["approved"], first["balance"]) == (
        40,
        "goodwill",
        False,
        {"available": 40, "pending": 0},
    )
    assert (second["points"], second["adjustment_id"], second["approved"]) == (
        300,
        large.adjustment_id,
        True,
    )
    assert "upset" not in json.dumps(events(ctx, ada))


def test_a_transfer_emits_points_transferred_for_each_member(ctx, clock):
    a_program(ctx, transfers={"enabled": True})
    ada, bob = a_member(ctx), a_member(ctx)
    earn(ctx, ada, 100)
    sent = desk.transfer(ctx, desk.Transfer("shop", ada.id, bob.id, 30, "TRF-1"), AGENT).result
    common = {"transfer_id": sent.transfer_id, "from_member_id": ada.id, "to_member_id": bob.id}
    assert only(ctx, ada, "points.transferred") == {
        "points": -30,
        **common,
        "balance": {"available": 70, "pending": 0},
    }
    assert only(ctx, bob, "points.transferred") == {
        "points": 30,
        **common,
        "balance": {"available": 30, "pending": 0},
    }


# -- tiers, vouchers, members -------------------------------------------------------------------


def test_crossing_a_tier_threshold_emits_tier_upgraded_after_the_points(ctx, clock):
    a_program(ctx, tiers=LADDER)
    ada = a_member(ctx)
    earn(ctx, ada, 600)
    assert [t for t, _ in events(ctx, ada)] == ["points.earned", "tier.upgraded"]
    assert only(ctx, ada, "tier.upgraded") == {
        "from": "member",
        "to": "silver",
        "reason": "threshold",
    }


def test_a_redemption_emits_points_redeemed_and_voucher_issued_then_consumed(ctx, clock):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    redeemed = redeem(ctx, Redeem("shop", ada.id, "coffee", "R-1")).result
    code = redeemed.voucher.code
    assert only(ctx, ada, "voucher.issued") == {
        "redemption_id": redeemed.redemption_id,
        "reward_id": "coffee",
        "voucher_code": code,
        "points": 60,
        "expires_at": "2026-04-09T12:00:00+00:00",
    }
    spent = only(ctx, ada, "points.redeemed")
    assert (spent["points"], spent["reward_id"], spent["redemption_id"], spent["balance"]) == (
        60,
        "coffee",
        redeemed.redemption_id,
        {"available": 40, "pending": 0},
    )

    consume_voucher(ctx, "shop", code, "T-99")
    consume_voucher(ctx, "shop", code, "T-99")  # the till retries: a replay tells nothing
    assert only(ctx, ada, "voucher.consumed") == {
        "redemption_id": redeemed.redemption_id,
        "reward_id": "coffee",
        "voucher_code": code,
        "reference": "T-99",
    }


def test_cancelling_a_redemption_emits_voucher_cancelled(ctx, clock):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    redeemed = redeem(ctx, Redeem("shop", ada.id, "coffee", "R-1")).result
    cancel_redemption(ctx, "shop", redeemed.redemption_id, "key:till")
    assert only(ctx, ada, "voucher.cancelled") == {
        "redemption_id": redeemed.redemption_id,
        "reward_id": "coffee",
        "voucher_code": redeemed.voucher.code,
        "points": 60,
        "balance": {"available": 100, "pending": 0},
    }


def test_a_merge_emits_member_merged_as_the_duplicates_last_event(ctx, clock):
    a_program(ctx)
    ada, duplicate = a_member(ctx), a_member(ctx)
    earn(ctx, ada, 10)
    earn(ctx, duplicate, 25)
    desk.merge(ctx, "shop", ada.id, duplicate.id, AGENT)
    assert events(ctx, duplicate)[-1] == (
        "member.merged",
        {
            "survivor_id": ada.id,
            "points_moved": 25,
            "pending_moved": 0,
            "tier": None,
            "survivor_balance": {"available": 35, "pending": 0},
        },
    )
    assert [t for t, _ in events(ctx, ada)] == ["points.earned"]


NAME, EMAIL, PHONE, CARD, BIRTH = (
    "Ada Lovelace",
    "ada.lovelace@example.com",
    "+33612345678",
    "CARD77001234",
    "1815-12-10",
)


def test_erasure_emits_member_erased_and_no_event_nor_webhook_holds_personal_data(ctx, clock):
    a_program(ctx, transfers={"enabled": True}, tiers=LADDER, expiry=EXPIRING_YEARLY)
    ada = enroll_member(
        ctx,
        EnrollMember(
            "shop",
            tuple(Identity.parse(i) for i in (f"card:{CARD}", f"email:{EMAIL}", f"phone:{PHONE}")),
            {"name": NAME, "email": EMAIL, "phone": PHONE, "birth_date": BIRTH},
        ),
    ).result
    twin = a_member(ctx, "card:TWIN-1")
    with a_receiver() as receiver:
        receiver.secret = create_endpoint(
            ctx, CreateEndpoint("shop", receiver.url), Actor("key:admin1")
        ).secret
        record_purchase(ctx, a_purchase(f"email:{EMAIL}", "700.00"))
        earn(ctx, twin, 5)
        desk.merge(ctx, "shop", ada.id, twin.id, AGENT)
        desk.adjust(
            ctx,
            desk.Adjust("shop", ada.id, 10, "goodwill", "A-1", f"{NAME} called from {PHONE}"),
            AGENT,
        )
        debit_points(ctx, DebitPoints("shop", ada.id, 5, "D-1", reason=f"asked by {EMAIL}"))
        redeemed = redeem(ctx, Redeem("shop", ada.id, "coffee", "R-1")).result
        consume_voucher(ctx, "shop", redeemed.voucher.code, "T-1")
        desk.erase(ctx, "shop", ada.id, SUPERVISOR)
        deliver_webhooks(ctx, send=send)
        bodies = [m.body.decode() for m in receiver.messages()]

    types = [t for t, _ in events(ctx, ada)]
    assert types == [
        "points.earned",
        "tier.upgraded",
        "points.adjusted",
        "points.redeemed",
        "points.redeemed",
        "voucher.issued",
        "voucher.consumed",
        "member.erased",
    ]
    assert only(ctx, ada, "member.erased") == {}
    assert len(bodies) == len(types) + len(events(ctx, twin))
    with ctx.uow(read_only=True) as uow:
        tables = {
            table.name: "\n".join(
                str(tuple(row)) for row in uow.session.execute(select(table)).all()
            )
            for table in Base.metadata.sorted_tables
            if table.name in ("domain_events", "webhook_deliveries", "webhook_endpoints")
        }
    for text in (*tables.values(), *bodies):
        for personal in (NAME, "Lovelace", EMAIL, PHONE, PHONE[1:], CARD, BIRTH):
            assert personal not in text

"""The service desk over HTTP: adjustments and their approval, freeze / unfreeze / close /
reopen, merge, erase and transfers. Each endpoint's answer, its problems
(``application/problem+json``, nothing written) and who may call it: an agent adjusts, freezes
and merges but neither approves nor erases; a supervisor approves and erases; a checkout gets
403; a member token transfers from its own member only.

The program "shop" (EUR, Europe/Paris) earns 1 point per whole euro; an agent applies up to 500
points an adjustment (2000 a day) alone; transfers are on, up to 300 points each. Ada (card 1111)
holds 200 points, Bob (card 2222) 50. The tests run at ``NOW``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from loyalty.adapters.orm import LedgerEntryRow
from loyalty.domain.members import Member
from loyalty.services.access import Actor, CreateKey, create_key
from loyalty.services.points import get_balance
from loyalty.services.verification import verify_ledger
from tests.api.support import SHOP, assert_problem, members_url, table_counts
from tests.builders import a_member, a_program, earn

NOW = "2026-03-10 12:00:00"
_ids = iter(range(1, 10**9))


@pytest.fixture
def shop(ctx):
    """The program, Ada and Bob, at ``NOW``."""
    with freeze_time(NOW):
        a_program(ctx, adjustments={"agent_limit_per_adjustment": 500,
                                    "agent_limit_per_day": 2000},
                  transfers={"enabled": True, "per_transfer": 300})
        ada, bob = a_member(ctx, "card:1111"), a_member(ctx, "card:2222")
        earn(ctx, ada, 200)
        earn(ctx, bob, 50)
        yield SimpleNamespace(ada=ada, bob=bob)


def a_client(app, ctx, *scopes: str):
    """A test client with a new key of "shop" holding ``scopes``; ``.actor`` names it."""
    created = create_key(ctx, CreateKey("a", scopes, "shop"), Actor("cli:t"))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {created.secret}"
    client.actor = f"key:{created.key.key_id}"
    return client


@pytest.fixture
def agent(app, ctx, shop):
    return a_client(app, ctx, "agent")


@pytest.fixture
def supervisor(app, ctx, shop):
    return a_client(app, ctx, "supervisor")


@pytest.fixture
def checkout(app, ctx, shop):
    return a_client(app, ctx, "checkout")


def a_member_client(app, ctx, member: Member):
    """A test client holding a member token of ``member``, asked for by a checkout."""
    issued = a_client(app, ctx, "checkout").post(members_url(member, "/tokens"))
    assert issued.status_code == 201, issued.get_json()
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {issued.get_json()['token']}"
    return client


def adjustment(points: int, reason: str = "goodwill", **fields: Any) -> dict[str, Any]:
    return {"points": points, "reason": reason, "external_id": f"ADJ-{next(_ids)}", **fields}


def adjust(client, member: Member | str, points: int, **fields: Any):
    return client.post(members_url(member, "/adjustments"), json=adjustment(points, **fields))


def requested(client, member: Member, points: int, **fields: Any) -> dict[str, Any]:
    response = adjust(client, member, points, **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def decide(client, adjustment_id: str, decision: str = "approve"):
    return client.post(f"{SHOP}/adjustments/{adjustment_id}/{decision}")


def transfer(client, sender: Member | str, receiver: Member | str, points: int,
             external_id: str | None = None):
    to = receiver.id if isinstance(receiver, Member) else receiver
    return client.post(members_url(sender, "/transfers"), json={
        "to_member": to, "points": points, "external_id": external_id or f"T-{next(_ids)}"})


def available(ctx, member: Member) -> int:
    return get_balance(ctx, member.program_id, member.id).available


def audit_actions(client, member: Member) -> list[tuple[str, str]]:
    """(action, actor) of the member's audit records, oldest first, read by an admin."""
    response = client.get("/v1/audit", query_string={"member": member.id})
    assert response.status_code == 200, response.get_json()
    return [(r["action"], r["actor"]) for r in reversed(response.get_json()["records"])]


# -- adjustments --------------------------------------------------------------------------------


def test_an_agent_adjustment_within_the_limit_applies_at_once(agent, ctx, shop):
    body = adjustment(120, note="parcel came late")
    response = agent.post(members_url(shop.ada, "/adjustments"), json=body)

    assert response.status_code == 201
    answer = response.get_json()
    assert answer["adjustment_id"].startswith("adj_")
    assert {k: answer[k] for k in ("member_id", "points", "reason", "note", "status",
                                   "requested_by", "decided_by", "decided_at")} == {
        "member_id": shop.ada.id, "points": 120, "reason": "goodwill",
        "note": "parcel came late", "status": "applied", "requested_by": agent.actor,
        "decided_by": None, "decided_at": None}
    assert answer["created_at"] == "2026-03-10T12:00:00+00:00"
    assert available(ctx, shop.ada) == 200 + 120

    replay = agent.post(members_url(shop.ada, "/adjustments"), json=body)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == answer
    assert available(ctx, shop.ada) == 320
    assert verify_ledger(ctx).ok


def test_an_adjustment_above_the_limit_waits_and_is_listed_as_pending(agent, ctx, shop):
    small = requested(agent, shop.ada, -30, reason="correction")  # |-30| <= 500: applied
    big = requested(agent, shop.ada, 600)  # 600 > 500: pending

    assert (small["status"], big["status"]) == ("applied", "pending")
    assert available(ctx, shop.ada) == 200 - 30
    pending = agent.get(f"{SHOP}/adjustments", query_string={"status": "pending"})
    assert pending.status_code == 200
    assert [a["adjustment_id"] for a in pending.get_json()["adjustments"]] == [
        big["adjustment_id"]]
    listed = agent.get(f"{SHOP}/adjustments").get_json()["adjustments"]
    assert {a["adjustment_id"] for a in listed} == {small["adjustment_id"], big["adjustment_id"]}
    assert verify_ledger(ctx).ok


def test_adjustment_mistakes_are_problems_and_write_nothing(agent, ctx, shop):
    before = table_counts(ctx)
    assert_problem(adjust(agent, shop.ada, 10, reason="birthday"), 422, "invalid-request",
                   field="reason")
    assert_problem(adjust(agent, shop.ada, 0), 422, "invalid-request", field="points")
    assert_problem(agent.post(members_url(shop.ada, "/adjustments"),
                              json={"reason": "goodwill", "external_id": "A-1"}),
                   422, "validation-error", field="points")
    assert_problem(agent.post(members_url(shop.ada, "/adjustments"),
                              json={"points": "10", "reason": "goodwill", "external_id": "A-1"}),
                   422, "validation-error", field="points")
    assert_problem(adjust(agent, "mem_nobody", 10), 404, "member-not-found")
    assert_problem(agent.post(f"/v1/programs/nowhere/members/{shop.ada.id}/adjustments",
                              json=adjustment(10)), 404, "program-not-found")
    assert_problem(agent.get(f"{SHOP}/adjustments", query_string={"status": "done"}),
                   422, "validation-error", field="status")
    assert_problem(agent.get(f"{SHOP}/adjustments", query_string={"state": "pending"}),
                   422, "validation-error")
    assert table_counts(ctx) == before


def test_a_closed_member_cannot_be_adjusted(agent, shop):
    assert agent.post(members_url(shop.bob, "/close"), json={"reason": "gone"}).status_code == 200
    problem = assert_problem(adjust(agent, shop.bob, 10), 409, "member-not-active")
    assert problem["member_status"] == "closed"


def test_a_supervisor_approves_an_agent_request_and_the_entry_names_both(
        agent, supervisor, ctx, shop, client):
    request = requested(agent, shop.ada, 700)  # 700 > 500: pending

    response = decide(supervisor, request["adjustment_id"])

    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert (answer["status"], answer["requested_by"], answer["decided_by"]) == (
        "applied", agent.actor, supervisor.actor)
    assert answer["decided_at"] == "2026-03-10T12:00:00+00:00"
    assert available(ctx, shop.ada) == 200 + 700
    with ctx.uow(read_only=True) as uow:
        entries = uow.session.execute(select(LedgerEntryRow.points, LedgerEntryRow.actor,
                                             LedgerEntryRow.approved_by)
                                      .where(LedgerEntryRow.kind == "adjust")).all()
    assert [tuple(e) for e in entries] == [(700, agent.actor, supervisor.actor)]
    assert_problem(decide(supervisor, request["adjustment_id"]), 409, "conflict")
    assert audit_actions(client, shop.ada) == [
        ("member.adjustment_requested", agent.actor),
        ("member.adjustment_approved", supervisor.actor)]
    assert verify_ledger(ctx).ok


def test_a_supervisor_rejects_a_request(agent, supervisor, ctx, shop):
    request = requested(agent, shop.ada, 900)
    response = decide(supervisor, request["adjustment_id"], "reject")
    assert response.status_code == 200
    assert (response.get_json()["status"], response.get_json()["decided_by"]) == (
        "rejected", supervisor.actor)
    assert available(ctx, shop.ada) == 200
    assert_problem(decide(supervisor, request["adjustment_id"]), 409, "conflict")
    assert verify_ledger(ctx).ok


def test_no_one_decides_their_own_request(supervisor, ctx, shop):
    request = requested(supervisor, shop.ada, 800)  # a supervisor may ask, too
    assert request["status"] == "pending"
    before = table_counts(ctx)
    for decision in ("approve", "reject"):
        assert_problem(decide(supervisor, request["adjustment_id"], decision), 403, "forbidden")
    assert table_counts(ctx) == before
    pending = supervisor.get(f"{SHOP}/adjustments", query_string={"status": "pending"})
    assert [a["adjustment_id"] for a in pending.get_json()["adjustments"]] == [
        request["adjustment_id"]]


def test_approving_a_deduction_that_would_overdraw_is_an_insufficient_points_problem(
        agent, supervisor, checkout, ctx, shop):
    request = requested(agent, shop.ada, -600, reason="fraud")  # pending; Ada has 200 anyway
    before = table_counts(ctx)

    problem = assert_problem(decide(supervisor, request["adjustment_id"]), 409,
                             "insufficient-points")

    assert (problem["available"], problem["required"]) == (200, 600)
    assert table_counts(ctx) == before
    still = supervisor.get(f"{SHOP}/adjustments", query_string={"status": "pending"})
    assert [a["adjustment_id"] for a in still.get_json()["adjustments"]] == [
        request["adjustment_id"]]
    assert verify_ledger(ctx).ok


def test_an_unknown_adjustment_is_a_404_problem(supervisor, shop):
    for decision in ("approve", "reject"):
        assert_problem(decide(supervisor, "adj_nothing", decision), 404, "adjustment-not-found")


def test_who_may_adjust_list_and_decide(app, ctx, agent, supervisor, checkout, shop):
    request = requested(agent, shop.ada, 600)
    marketer = a_client(app, ctx, "marketer")
    member = a_member_client(app, ctx, shop.ada)
    before = table_counts(ctx)

    assert_problem(decide(agent, request["adjustment_id"]), 403, "forbidden")
    assert_problem(decide(agent, request["adjustment_id"], "reject"), 403, "forbidden")
    for caller in (checkout, marketer, member):
        assert_problem(adjust(caller, shop.ada, 10), 403, "forbidden")
        assert_problem(caller.get(f"{SHOP}/adjustments"), 403, "forbidden")
        assert_problem(decide(caller, request["adjustment_id"]), 403, "forbidden")
    assert table_counts(ctx) == before
    assert supervisor.get(f"{SHOP}/adjustments").status_code == 200
    assert requested(supervisor, shop.ada, 10)["status"] == "applied"


# -- freeze, unfreeze, close, reopen ------------------------------------------------------------


def test_an_agent_freezes_and_unfreezes_a_member(agent, checkout, client, ctx, shop):
    frozen = agent.post(members_url(shop.ada, "/freeze"), json={"reason": "card stolen"})

    assert frozen.status_code == 200
    assert frozen.get_json() == {"member_id": shop.ada.id, "status": "frozen",
                                 "reason": "card stolen", "closed_at": None,
                                 "merged_into": None, "erased": False}
    debit = checkout.post(members_url(shop.ada, "/debits"),
                          json={"points": 10, "external_id": "D-1"})
    assert_problem(debit, 409, "member-not-active")
    assert_problem(transfer(agent, shop.ada, shop.bob, 10), 409, "member-not-active")

    thawed = agent.post(members_url(shop.ada, "/unfreeze"), json={"reason": "found it"})
    assert thawed.status_code == 200
    assert (thawed.get_json()["status"], thawed.get_json()["reason"]) == ("active", "found it")
    assert checkout.post(members_url(shop.ada, "/debits"),
                         json={"points": 10, "external_id": "D-2"}).status_code == 201
    assert_problem(agent.post(members_url(shop.ada, "/unfreeze"), json={"reason": "again"}),
                   409, "conflict")
    assert audit_actions(client, shop.ada) == [("member.frozen", agent.actor),
                                               ("member.unfrozen", agent.actor)]
    assert verify_ledger(ctx).ok


def test_an_agent_closes_and_reopens_a_member(agent, client, ctx, shop):
    closed = agent.post(members_url(shop.ada, "/close"), json={"reason": "asked to leave"})

    assert closed.status_code == 200
    assert closed.get_json() == {"member_id": shop.ada.id, "status": "closed",
                                 "reason": "asked to leave",
                                 "closed_at": "2026-03-10T12:00:00+00:00",
                                 "merged_into": None, "erased": False}
    assert available(ctx, shop.ada) == 0  # the program forfeits what is left (200)
    assert_problem(agent.post(members_url(shop.ada, "/close"), json={"reason": "again"}),
                   409, "conflict")
    assert_problem(agent.post(members_url(shop.ada, "/freeze"), json={"reason": "x"}),
                   409, "member-not-active")

    reopened = agent.post(members_url(shop.ada, "/reopen"), json={"reason": "came back"})
    assert reopened.status_code == 200
    assert (reopened.get_json()["status"], reopened.get_json()["closed_at"]) == ("active", None)
    assert_problem(agent.post(members_url(shop.ada, "/reopen"), json={"reason": "again"}),
                   409, "conflict")
    assert audit_actions(client, shop.ada) == [("member.closed", agent.actor),
                                               ("member.reopened", agent.actor)]
    assert verify_ledger(ctx).ok


@pytest.mark.parametrize("action", ["freeze", "unfreeze", "close", "reopen"])
def test_lifecycle_mistakes_and_callers_without_the_agent_scope_are_refused(
        app, ctx, agent, supervisor, checkout, shop, action):
    member = a_member_client(app, ctx, shop.ada)
    before = table_counts(ctx)
    url = members_url(shop.ada, f"/{action}")
    assert_problem(agent.post(url, json={}), 422, "validation-error", field="reason")
    assert_problem(agent.post(url, json={"reason": ""}), 422, "validation-error", field="reason")
    assert_problem(agent.post(members_url("mem_nobody", f"/{action}"), json={"reason": "x"}),
                   404, "member-not-found")
    for caller in (supervisor, checkout, member):
        assert_problem(caller.post(url, json={"reason": "x"}), 403, "forbidden")
    assert table_counts(ctx) == before


# -- merge --------------------------------------------------------------------------------------


def test_an_agent_merges_a_duplicate_into_a_member(agent, client, ctx, shop):
    response = agent.post(members_url(shop.ada, "/merge"), json={"merge": shop.bob.id})

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"survivor": shop.ada.id, "merged": shop.bob.id,
                                   "points_moved": 50, "pending_moved": 0, "tier": None}
    assert available(ctx, shop.ada) == 200 + 50
    found = agent.get(f"{SHOP}/members", query_string={"identity": "card:2222"})
    assert found.status_code == 200 and found.get_json()["id"] == shop.ada.id
    assert_problem(agent.post(members_url(shop.ada, "/merge"), json={"merge": shop.bob.id}),
                   409, "conflict")
    assert audit_actions(client, shop.bob)[-1] == ("member.merged", agent.actor)
    assert verify_ledger(ctx).ok


def test_merge_mistakes_and_callers_without_the_agent_scope_are_refused(
        app, ctx, agent, supervisor, checkout, shop):
    url = members_url(shop.ada, "/merge")
    member = a_member_client(app, ctx, shop.ada)
    before = table_counts(ctx)
    assert_problem(agent.post(url, json={"merge": shop.ada.id}), 422, "invalid-request",
                   field="merge")
    assert_problem(agent.post(url, json={}), 422, "validation-error", field="merge")
    assert_problem(agent.post(url, json={"merge": "mem_nobody"}), 404, "member-not-found")
    assert_problem(agent.post(members_url("mem_nobody", "/merge"), json={"merge": shop.bob.id}),
                   404, "member-not-found")
    for caller in (supervisor, checkout, member):
        assert_problem(caller.post(url, json={"merge": shop.bob.id}), 403, "forbidden")
    assert table_counts(ctx) == before


# -- erase --------------------------------------------------------------------------------------


def test_a_supervisor_erases_a_member(supervisor, agent, client, ctx, shop):
    response = supervisor.post(members_url(shop.ada, "/erase"))

    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert (answer["status"], answer["erased"], answer["reason"]) == ("closed", True, None)
    assert_problem(agent.get(f"{SHOP}/members", query_string={"identity": "card:1111"}),
                   404, "member-not-found")
    assert available(ctx, shop.ada) == 200  # the figures stay
    assert_problem(supervisor.post(members_url(shop.ada, "/erase")), 409, "conflict")
    assert audit_actions(client, shop.ada)[-1] == ("member.erased", supervisor.actor)
    assert verify_ledger(ctx).ok


def test_only_a_supervisor_erases(app, ctx, agent, checkout, supervisor, shop):
    member = a_member_client(app, ctx, shop.ada)
    before = table_counts(ctx)
    for caller in (agent, checkout, member):
        assert_problem(caller.post(members_url(shop.ada, "/erase")), 403, "forbidden")
    assert_problem(supervisor.post(members_url("mem_nobody", "/erase")), 404,
                   "member-not-found")
    assert table_counts(ctx) == before


# -- transfers ----------------------------------------------------------------------------------


def test_an_agent_transfers_points_between_members(agent, client, ctx, shop):
    response = transfer(agent, shop.ada, shop.bob, 80, external_id="T-ADA-BOB")

    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert answer["transfer_id"].startswith("trf_")
    assert {k: v for k, v in answer.items() if k != "transfer_id"} == {
        "from_member": shop.ada.id, "to_member": shop.bob.id, "points": 80,
        "from_available": 200 - 80, "to_available": 50 + 80}
    replay = transfer(agent, shop.ada, shop.bob, 80, external_id="T-ADA-BOB")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == answer
    assert (available(ctx, shop.ada), available(ctx, shop.bob)) == (120, 130)
    assert audit_actions(client, shop.ada) == [("member.transfer", agent.actor)]
    assert verify_ledger(ctx).ok


def test_a_member_token_transfers_from_its_own_member_only(app, ctx, client, shop):
    ada = a_member_client(app, ctx, shop.ada)

    own = transfer(ada, shop.ada, shop.bob, 30)
    assert own.status_code == 201, own.get_json()
    assert (available(ctx, shop.ada), available(ctx, shop.bob)) == (170, 80)
    assert audit_actions(client, shop.ada) == [("member.transfer", f"member:{shop.ada.id}")]

    before = table_counts(ctx)
    assert_problem(transfer(ada, shop.bob, shop.ada, 30), 404, "member-not-found")
    assert table_counts(ctx) == before
    assert (available(ctx, shop.ada), available(ctx, shop.bob)) == (170, 80)
    assert verify_ledger(ctx).ok


def test_transfer_mistakes_are_problems_and_write_nothing(agent, checkout, ctx, shop):
    cid = a_member(ctx, "card:3333")
    assert agent.post(members_url(cid, "/close"), json={"reason": "gone"}).status_code == 200
    before = table_counts(ctx)

    problem = assert_problem(transfer(agent, shop.ada, shop.bob, 301), 422, "invalid-request",
                             field="points")
    assert problem["maximum"] == 300
    assert_problem(transfer(agent, shop.ada, shop.ada, 10), 422, "invalid-request",
                   field="to_member")
    assert_problem(transfer(agent, shop.ada, cid, 10), 409, "member-not-active")
    assert_problem(transfer(agent, shop.ada, "mem_nobody", 10), 404, "member-not-found",
                   field="to_member")
    assert_problem(transfer(agent, "mem_nobody", shop.bob, 10), 404, "member-not-found")
    short = assert_problem(transfer(agent, shop.bob, shop.ada, 51), 409, "insufficient-points")
    assert (short["available"], short["required"]) == (50, 51)
    assert_problem(transfer(agent, shop.ada, shop.bob, 0), 422, "validation-error",
                   field="points")
    assert_problem(agent.post(members_url(shop.ada, "/transfers"), json={"points": 10}),
                   422, "validation-error", field="to_member")
    assert_problem(transfer(checkout, shop.ada, shop.bob, 10), 403, "forbidden")
    assert table_counts(ctx) == before


def test_a_program_without_transfers_answers_transfers_disabled(client, ctx):
    with freeze_time(NOW):
        a_program(ctx, "plain")
        ada, bob = a_member(ctx, program_id="plain"), a_member(ctx, program_id="plain")
        earn(ctx, ada, 100, program_id="plain")
    before = table_counts(ctx)
    response = client.post(f"/v1/programs/plain/members/{ada.id}/transfers",
                           json={"to_member": bob.id, "points": 10, "external_id": "T-1"})
    assert_problem(response, 409, "transfers-disabled")
    assert table_counts(ctx) == before

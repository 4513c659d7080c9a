"""Tiers over HTTP: the purchase answer's tier, reading a member's tier and setting it by hand,
the balance's tier progress, and the preview of a draft ladder; who may call each.

The program "shop" (EUR, Europe/Paris) earns 1 point per whole euro; its version 2, in force
from 2020-01-01, has the ladder Member (0), Silver (500.00, x1.5, 100 bonus points), Gold
(1500.00, x2) on spend over the calendar year, ``period_end`` downgrades. The tests run on
10 March 2025 at 12:00 UTC unless they say otherwise; purchases occur an hour earlier.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from freezegun import freeze_time

from loyalty.domain.members import Member
from loyalty.services.access import Actor, CreateKey, create_key
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from tests.api.support import (
    SHOP,
    a_purchase_body,
    assert_problem,
    members_url,
    table_counts,
)
from tests.builders import a_member

NOW = "2025-03-10 12:00:00"
PURCHASES = f"{SHOP}/purchases"
TIER_MOVES = f"{SHOP}/definition/draft/tier-moves"

LADDER: dict[str, Any] = {
    "measure": "spend",
    "window": {"type": "calendar_year"},
    "downgrade": {"policy": "period_end", "grace_days": 0},
    "levels": [
        {"id": "member", "name": "Member", "threshold": "0"},
        {"id": "silver", "name": "Silver", "threshold": "500.00", "multiplier": "1.5",
         "bonus_points": 100},
        {"id": "gold", "name": "Gold", "threshold": "1500.00", "multiplier": "2"},
    ],
}


@pytest.fixture
def now():
    with freeze_time(NOW) as frozen:
        yield frozen


def tiered_program(ctx, tiers: dict[str, Any] | None = LADDER) -> None:
    with freeze_time("2020-01-01"):
        create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", settings={}))
        if tiers is not None:
            save_draft(ctx, "shop", {"settings": {}, "rules": [], "tiers": tiers}, "cli:t")
            publish(ctx, "shop", "cli:t")


@pytest.fixture
def ada(ctx, now) -> Member:
    tiered_program(ctx)
    return a_member(ctx, "card:1234")


def a_key(ctx, *scopes: str) -> tuple[str, str]:
    """(secret, key id) of a new key of "shop" with ``scopes``."""
    created = create_key(ctx, CreateKey("a", scopes, "shop"), Actor("cli:t"))
    return created.secret, created.key.key_id


def a_client(app, secret: str):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


def bought(client, member: Member, amount: str) -> dict[str, Any]:
    response = client.post(PURCHASES, json=a_purchase_body(member, amount))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def silver(client, member: Member) -> None:
    """300.00 then 250.00: the second purchase reaches Silver (550.00)."""
    bought(client, member, "300.00")
    bought(client, member, "250.00")


# -- the purchase answer ----------------------------------------------------------------------


def test_the_purchase_answer_names_the_tier_and_the_upgrade(client, ada):
    first = bought(client, ada, "300.00")
    crossing = bought(client, ada, "250.00")  # 300.00 + 250.00 = 550.00 >= 500.00
    after = bought(client, ada, "10.00")

    assert (first["tier"], first["upgraded_from"], first["points_earned"]) == (
        "member", None, 300)
    assert (crossing["tier"], crossing["upgraded_from"]) == ("silver", "member")
    # 250 x1.5 = 375 at the new tier; the balance includes the 100 bonus points
    assert crossing["points_earned"] == 375
    assert crossing["balance"] == {"available": 300 + 375 + 100, "pending": 0}
    assert (after["tier"], after["upgraded_from"], after["points_earned"]) == ("silver", None, 15)


def test_a_purchase_in_a_program_without_tiers_names_no_tier(client, ctx, now):
    tiered_program(ctx, None)
    ada = a_member(ctx, "card:1234")

    answer = bought(client, ada, "600.00")

    assert (answer["tier"], answer["upgraded_from"]) == (None, None)


# -- reading the tier -------------------------------------------------------------------------


def test_the_tier_answer_shows_progress_and_history(client, ada):
    silver(client, ada)

    response = client.get(members_url(ada, "/tier"))

    assert response.status_code == 200
    body = response.get_json()
    assert body["member_id"] == ada.id
    # 1500.00 - 550.00 = 950.00 to Gold; the period ends on 1 January 2026, 00:00 in Paris
    assert body["tier"] == {
        "tier": "silver", "tier_name": "Silver", "measure_kind": "spend", "measure": "550.00",
        "next_tier": "gold", "next_tier_name": "Gold", "needed": "950.00",
        "requalify_by": "2025-12-31T23:00:00+00:00", "would_fall_to": "silver",
        "floor_until": None,
    }
    [change] = body["history"]
    assert {key: change[key] for key in ("from_tier", "to_tier", "at", "reason")} == {
        "from_tier": "member", "to_tier": "silver", "at": "2025-03-10T11:00:00+00:00",
        "reason": "threshold"}
    assert change["detail"].startswith("purchase pur_")


def test_the_balance_answer_holds_the_same_tier_progress(client, ada):
    silver(client, ada)

    balance = client.get(members_url(ada, "/balance")).get_json()

    assert balance["available"] == 775
    assert balance["tier"] == client.get(members_url(ada, "/tier")).get_json()["tier"]
    assert balance["tier"]["needed"] == "950.00"


def test_a_new_member_is_at_the_lowest_tier_with_no_history(client, ada):
    body = client.get(members_url(ada, "/tier")).get_json()

    assert body["history"] == []
    assert (body["tier"]["tier"], body["tier"]["measure"], body["tier"]["needed"]) == (
        "member", "0.00", "500.00")
    assert body["tier"]["would_fall_to"] == "member"


def test_a_program_without_tiers_shows_no_tier(client, ctx, now):
    tiered_program(ctx, None)
    ada = a_member(ctx, "card:1234")

    assert client.get(members_url(ada, "/tier")).get_json() == {
        "member_id": ada.id, "tier": None, "history": []}
    assert client.get(members_url(ada, "/balance")).get_json()["tier"] is None


def test_the_tier_of_an_unknown_member_is_a_404(client, ada):
    assert_problem(client.get(members_url("mem_nobody", "/tier")), 404, "member-not-found")


# -- setting the tier by hand -----------------------------------------------------------------


def test_an_agent_sets_the_tier_with_a_reason_and_an_end_and_it_is_audited(app, client, ctx,
                                                                          ada):
    silver(client, ada)
    secret, key_id = a_key(ctx, "agent")
    agent = a_client(app, secret)

    response = agent.put(members_url(ada, "/tier"), headers={"X-Acting-Person": "Grace"},
                         json={"tier": "gold", "reason": "goodwill after a lost parcel",
                               "until": "2026-07-01T00:00:00+02:00"})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    # Gold is a floor until after the 2025 review: the review would leave Gold
    assert (body["tier"]["tier"], body["tier"]["floor_until"], body["tier"]["would_fall_to"]) \
        == ("gold", "2026-06-30T22:00:00+00:00", "gold")
    assert (body["tier"]["next_tier"], body["tier"]["needed"]) == (None, None)
    change = body["history"][0]
    assert (change["from_tier"], change["to_tier"], change["reason"], change["detail"]) == (
        "silver", "gold", "manual", "goodwill after a lost parcel")
    assert change["at"] == "2025-03-10T12:00:00+00:00"
    [record] = client.get("/v1/audit", query_string={"member": ada.id}).get_json()["records"]
    assert (record["action"], record["actor"], record["acting_person"]) == (
        "member.tier_set", f"key:{key_id}", "Grace")
    assert (record["target_type"], record["target_id"], record["program_id"]) == (
        "member", ada.id, "shop")
    assert record["before"] == {"tier": "silver"}
    assert record["after"] == {"tier": "gold", "until": "2026-06-30T22:00:00+00:00",
                               "reason": "goodwill after a lost parcel"}


def test_a_tier_set_without_an_end_is_kept_until_changed(app, client, ctx, ada):
    agent = a_client(app, a_key(ctx, "agent")[0])

    response = agent.put(members_url(ada, "/tier"), json={"tier": "silver", "reason": "VIP"})

    assert response.status_code == 200
    tier = response.get_json()["tier"]
    assert (tier["tier"], tier["floor_until"], tier["would_fall_to"]) == ("silver", None,
                                                                          "silver")
    # setting a tier by hand gives the bonus of reaching it, like any first arrival
    assert client.get(members_url(ada, "/balance")).get_json()["available"] == 100


def test_an_unknown_tier_is_refused_naming_the_tier(client, ctx, ada):
    counts = table_counts(ctx)

    response = client.put(members_url(ada, "/tier"), json={"tier": "platinum", "reason": "x"})

    problem = assert_problem(response, 422, "invalid-request", field="tier")
    assert "platinum" in problem["detail"]
    assert table_counts(ctx) == counts


def test_setting_a_tier_needs_a_reason_and_a_future_end(client, ctx, ada):
    counts = table_counts(ctx)
    url = members_url(ada, "/tier")

    assert_problem(client.put(url, json={"tier": "gold"}), 422, "validation-error",
                   field="reason")
    assert_problem(client.put(url, json={"tier": "gold", "reason": "x",
                                         "until": "2025-03-01T00:00:00+00:00"}),
                   422, "invalid-request", field="until")
    assert table_counts(ctx) == counts


def test_a_program_without_tiers_refuses_a_tier(client, ctx, now):
    tiered_program(ctx, None)
    ada = a_member(ctx, "card:1234")

    response = client.put(members_url(ada, "/tier"), json={"tier": "gold", "reason": "x"})

    assert_problem(response, 422, "invalid-request", field="tier")


def test_a_checkout_key_reads_the_tier_but_cannot_set_it(app, ctx, ada):
    checkout = a_client(app, a_key(ctx, "checkout")[0])
    counts = table_counts(ctx)

    assert checkout.get(members_url(ada, "/tier")).status_code == 200
    response = checkout.put(members_url(ada, "/tier"), json={"tier": "gold", "reason": "x"})

    assert_problem(response, 403, "forbidden")
    assert table_counts(ctx) == counts


def test_a_member_token_reads_its_own_tier_only(app, client, ctx, ada):
    bob = a_member(ctx, "card:5678")
    silver(client, ada)
    checkout = a_client(app, a_key(ctx, "checkout")[0])
    issued = checkout.post(members_url(ada, "/tokens"))
    assert issued.status_code == 201
    member = a_client(app, issued.get_json()["token"])

    own = member.get(members_url(ada, "/tier"))

    assert own.status_code == 200
    assert own.get_json()["tier"]["tier"] == "silver"
    assert_problem(member.get(members_url(bob, "/tier")), 404, "member-not-found")
    assert_problem(member.put(members_url(ada, "/tier"), json={"tier": "gold", "reason": "me"}),
                   403, "forbidden")


# -- previewing a draft ladder ----------------------------------------------------------------


def silver_from(threshold: str) -> dict[str, Any]:
    tiers = copy.deepcopy(LADDER)
    tiers["levels"][1]["threshold"] = threshold
    return tiers


def a_draft_ladder(ctx, tiers: dict[str, Any]) -> None:
    """Save the draft through the use case: the HTTP route refuses ``tiers`` (see below)."""
    save_draft(ctx, "shop", {"settings": {}, "rules": [], "tiers": tiers}, "cli:t")


def test_a_marketer_saves_a_draft_ladder(app, ctx, ada):
    marketer = a_client(app, a_key(ctx, "marketer")[0])
    draft = {"settings": {}, "rules": [], "tiers": silver_from("400.00")}

    response = marketer.put(f"{SHOP}/definition/draft", json=draft)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["document"]["tiers"]["levels"][1]["threshold"] == "400.00"


def test_the_tier_moves_of_a_draft_ladder(app, client, ctx, ada):
    near, gold = a_member(ctx, "card:2222"), a_member(ctx, "card:3333")
    bought(client, ada, "100.00")
    bought(client, near, "450.00")
    bought(client, gold, "1600.00")
    marketer = a_client(app, a_key(ctx, "marketer")[0])
    a_draft_ladder(ctx, silver_from("400.00"))

    response = marketer.get(TIER_MOVES)

    # with Silver from 400.00, 450.00 moves up; 100.00 and 1600.00 stay where they are
    assert response.status_code == 200
    assert response.get_json() == {"members": 3, "up": 1, "down": 0, "unchanged": 2,
                                   "by_tier": {"member": 1, "silver": 1, "gold": 1}}
    assert client.get(TIER_MOVES).get_json() == response.get_json()  # an admin too


def test_the_tier_moves_count_members_a_higher_threshold_would_drop(client, ctx, ada):
    bought(client, ada, "600.00")
    a_draft_ladder(ctx, silver_from("700.00"))

    body = client.get(TIER_MOVES).get_json()

    # 600.00 no longer reaches Silver: down at the next review
    assert (body["up"], body["down"], body["by_tier"]) == (0, 1, {"member": 1})


def test_the_tier_moves_need_a_draft_with_tiers(client, ada):
    assert_problem(client.get(TIER_MOVES), 422, "invalid-request", field="draft")
    assert client.put(f"{SHOP}/definition/draft",
                      json={"settings": {}, "rules": []}).status_code == 200
    assert_problem(client.get(TIER_MOVES), 422, "invalid-request", field="tiers")


@pytest.mark.parametrize("scope", ["checkout", "agent"])
def test_only_marketers_and_admins_preview_tier_moves(app, ctx, ada, scope):
    a_draft_ladder(ctx, silver_from("400.00"))
    other = a_client(app, a_key(ctx, scope)[0])

    assert_problem(other.get(TIER_MOVES), 403, "forbidden")

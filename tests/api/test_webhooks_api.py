"""Webhook endpoints over HTTP (admin only): register one (the secret shown once), list, read,
change, deactivate; its deliveries, paged and filtered; replays of the dead or of one delivery.
The deliveries are made by the job, sending to a real receiver on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loyalty.adapters.webhook_sender import send
from loyalty.services.access import Actor, CreateKey, create_key
from loyalty.services.webhooks import DeliveryPolicy, deliver_webhooks
from tests.api.support import SHOP, assert_problem, table_counts
from tests.builders import a_member, earn
from tests.webhook_receiver import a_receiver

HOOKS = f"{SHOP}/webhooks"


@pytest.fixture
def receiver():
    with a_receiver() as running:
        yield running


def register(client, url: str, **body: Any) -> dict[str, Any]:
    answer = client.post(HOOKS, json={"url": url, **body})
    assert answer.status_code == 201, answer.json
    return answer.json


def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(client, ctx, ada):
    created = register(
        client, "https://crm.example.com/hooks", event_types=["points.redeemed", "points.earned"]
    )
    endpoint, secret = created["endpoint"], created["secret"]
    assert secret.startswith("whsec_") and len(secret) == 6 + 44
    assert endpoint == {
        "id": endpoint["id"],
        "url": "https://crm.example.com/hooks",
        "event_types": ["points.earned", "points.redeemed"],
        "active": True,
        "created_at": endpoint["created_at"],
    }
    assert endpoint["id"].startswith("wh_")
    listed = client.get(HOOKS)
    assert listed.status_code == 200
    assert listed.json == {"webhooks": [endpoint]}
    read = client.get(f"{HOOKS}/{endpoint['id']}")
    assert read.json == endpoint
    assert secret not in listed.get_data(as_text=True) + read.get_data(as_text=True)
    audit = client.get("/v1/audit?program=shop").json["records"]
    assert audit[0]["action"] == "webhook.created"
    assert secret not in str(audit)


def test_an_admin_changes_and_deactivates_an_endpoint(client, ada):
    endpoint = register(client, "https://crm.example.com/hooks")["endpoint"]
    url = f"{HOOKS}/{endpoint['id']}"
    changed = client.patch(
        url, json={"url": "https://crm.example.com/v2", "event_types": ["voucher.issued"]}
    )
    assert changed.status_code == 200
    assert (changed.json["url"], changed.json["event_types"]) == (
        "https://crm.example.com/v2",
        ["voucher.issued"],
    )
    deleted = client.delete(url)
    assert (deleted.status_code, deleted.json["active"]) == (200, False)
    assert client.delete(url).json["active"] is False  # idempotent
    assert client.patch(url, json={"active": True}).json["active"] is True
    actions = [r["action"] for r in client.get("/v1/audit?program=shop").json["records"]]
    assert actions[:3] == ["webhook.updated", "webhook.deactivated", "webhook.updated"]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"url": "ftp://crm.example.com"}, "invalid-request", "url"),
        ({"url": "https://user:secret@crm.example.com"}, "invalid-request", "url"),
        (
            {"url": "https://crm.example.com", "event_types": ["points.everything"]},
            "validation-error",
            "event_types.0",
        ),
        ({}, "validation-error", "url"),
        ({"url": "https://crm.example.com", "secret": "whsec_mine"}, "validation-error", "secret"),
    ],
)
def test_a_bad_endpoint_is_refused_naming_the_field_and_nothing_is_written(
    client, ctx, ada, body, code, field
):
    before = table_counts(ctx)
    assert_problem(client.post(HOOKS, json=body), 422, code, field=field)
    assert table_counts(ctx) == before


def test_only_an_admin_reaches_the_webhooks(app, client, ctx, ada):
    endpoint = register(client, "https://crm.example.com/hooks")["endpoint"]
    for scope in ("checkout", "agent", "supervisor", "marketer"):
        secret = create_key(ctx, CreateKey("k", (scope,), "shop"), Actor("cli:t")).secret
        caller = app.test_client()
        caller.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
        assert_problem(caller.get(HOOKS), 403, "forbidden")
        assert_problem(caller.get(f"{HOOKS}/{endpoint['id']}"), 403, "forbidden")
        assert_problem(
            caller.post(HOOKS, json={"url": "https://evil.example.com"}), 403, "forbidden"
        )
    assert len(client.get(HOOKS).json["webhooks"]) == 1


def test_unknown_endpoints_and_deliveries_are_404(client, ada):
    assert_problem(client.get(f"{HOOKS}/wh_nope"), 404, "webhook-not-found")
    assert_problem(
        client.patch(f"{HOOKS}/wh_nope", json={"active": False}), 404, "webhook-not-found"
    )
    endpoint = register(client, "https://crm.example.com/hooks")["endpoint"]
    assert_problem(
        client.post(f"{HOOKS}/{endpoint['id']}/deliveries/7/replay"), 404, "delivery-not-found"
    )
    assert_problem(client.get("/v1/programs/nowhere/webhooks"), 404, "program-not-found")


def test_deliveries_are_listed_newest_first_filtered_and_paged_and_the_dead_replayed(
    client, ctx, ada, receiver
):
    created = register(client, receiver.url, event_types=["points.earned"])
    receiver.secret = created["secret"]
    deliveries = f"{HOOKS}/{created['endpoint']['id']}/deliveries"
    for points in (1, 2, 3):
        earn(ctx, ada, points)
    earn(ctx, a_member(ctx), 4)
    receiver.answer = lambda m: 500 if m.data["member_id"] == ada.id else 200
    once = DeliveryPolicy(max_attempts=1)
    # One attempt allowed: Ada's first event dies, then (no longer held) her second, her third
    deliver_webhooks(ctx, send=send, policy=once)

    page = client.get(f"{deliveries}?limit=2")
    assert page.status_code == 200
    assert [d["status"] for d in page.json["deliveries"]] == ["delivered", "dead"]
    rest = client.get(f"{deliveries}?limit=2&cursor={page.json['next_cursor']}").json
    assert [d["status"] for d in rest["deliveries"]] == ["dead", "dead"]
    assert rest["next_cursor"] is None
    dead = client.get(f"{deliveries}?status=dead").json["deliveries"]
    assert [(d["event_type"], d["member_id"], d["attempts"], d["last_status"]) for d in dead] == [
        ("points.earned", ada.id, 1, 500)
    ] * 3
    assert dead[0]["message_id"].startswith("msg_")
    assert dead[0]["next_attempt_at"] is None

    receiver.answer = lambda message: 200
    one = client.post(f"{deliveries}/{dead[-1]['id']}/replay")
    assert (one.status_code, one.json["status"], one.json["attempts"]) == (200, "pending", 0)
    assert_problem(client.post(f"{deliveries}/{dead[-1]['id']}/replay"), 409, "conflict")
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    replayed = client.post(f"{deliveries}:replay", json={"status": "dead", "from": since})
    assert (replayed.status_code, replayed.json) == (200, {"replayed": 2})
    deliver_webhooks(ctx, send=send, policy=once)
    assert client.get(f"{deliveries}?status=dead").json["deliveries"] == []
    assert [m.data["points"] for m in receiver.messages()] == [4, 1, 2, 3]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("cursor=nonsense", "cursor"),
        ("page=2", "page"),
    ],
)
def test_bad_delivery_queries_are_refused(client, ada, query, field):
    endpoint = register(client, "https://crm.example.com/hooks")["endpoint"]
    answer = client.get(f"{HOOKS}/{endpoint['id']}/deliveries?{query}")
    assert answer.status_code == 422
    assert field in [e["field"] for e in answer.json["errors"]]


def test_a_replay_window_must_run_forward(client, ada):
    endpoint = register(client, "https://crm.example.com/hooks")["endpoint"]
    answer = client.post(
        f"{HOOKS}/{endpoint['id']}/deliveries:replay",
        json={"from": "2026-03-10T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
    )
    assert_problem(answer, 422, "invalid-request", field="to")
    assert_problem(
        client.post(f"{HOOKS}/{endpoint['id']}/deliveries:replay", json={"status": "pending"}),
        422,
        "validation-error",
        field="status",
    )

"""The audit log: administrative and configuration actions, append-only, queryable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from loyalty.services.access import Actor, CreateKey, create_key
from tests.builders import a_program


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_creating_a_program_and_keys_and_revoking_one_is_audited_with_who_and_what(client, ctx):
    with freeze_time("2026-05-01 09:00:00"):
        a_program(ctx)
    with freeze_time("2026-05-02 10:00:00"):
        created = client.post("/v1/keys", json={"name": "tills", "scopes": ["checkout"],
                                                "program_id": "shop"},
                              headers={"X-Acting-Person": "jane@merchant.example"})
    key_id = created.json["key"]["key_id"]
    with freeze_time("2026-05-03 11:00:00"):
        client.post(f"/v1/keys/{key_id}/revoke")

    records = client.get("/v1/audit?program=shop").json["records"]
    assert [r["action"] for r in records] == ["key.revoked", "key.created", "program.created"]
    revoked, made, program = records
    assert made["acting_person"] == "jane@merchant.example"
    assert made["actor"].startswith("key:") and made["target_id"] == key_id
    assert made["after"] == {"name": "tills", "scopes": ["checkout"], "program_id": "shop"}
    assert revoked["before"] == {"revoked_at": None} and revoked["after"]["revoked_at"]
    assert program["actor"] == "cli" and program["after"]["currency"] == "EUR"
    assert program["at"] == "2026-05-01T09:00:00+00:00"


def test_the_audit_log_filters_by_actor_and_time_and_pages(client, ctx):
    a_program(ctx)
    for day in (1, 2, 3):
        with freeze_time(datetime(2026, 6, day, 12, tzinfo=UTC)):
            create_key(ctx, CreateKey(f"k{day}", ("agent",), "shop"), Actor(f"cli:op{day % 2}"))
    by_actor = client.get("/v1/audit?actor=cli:op1").json["records"]
    assert [r["after"]["name"] for r in by_actor] == ["k3", "k1"]
    window = client.get("/v1/audit?since=2026-06-02T00:00:00Z&until=2026-06-03T00:00:00Z")
    assert [r["after"]["name"] for r in window.json["records"]] == ["k2"]
    first = client.get("/v1/audit?program=shop&limit=2").json
    second = client.get(f"/v1/audit?program=shop&limit=2&cursor={first['next_cursor']}").json
    names = [r["action"] for r in first["records"] + second["records"]]
    assert names == ["key.created"] * 3 + ["program.created"] and second["next_cursor"] is None


def test_only_admins_read_the_audit_log_and_a_program_admin_only_its_own(client, ctx):
    a_program(ctx)
    a_program(ctx, "other")
    agent = create_key(ctx, CreateKey("a", ("agent",), "shop"), Actor("cli:x")).secret
    other_admin = create_key(ctx, CreateKey("b", ("admin",), "other"), Actor("cli:x")).secret
    assert client.get("/v1/audit", headers=bearer(agent)).status_code == 403
    seen = client.get("/v1/audit", headers=bearer(other_admin)).json["records"]
    assert seen and {r["program_id"] for r in seen} == {"other"}
    assert client.get("/v1/audit?program=shop", headers=bearer(other_admin)).status_code == 403


def test_the_database_refuses_to_change_or_delete_an_audit_record(ctx):
    a_program(ctx)
    for statement in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log"):
        with ctx.uow() as uow, pytest.raises(Exception, match="append-only"):
            uow.session.execute(text(statement))

"""Who may do what. Every route declares its scopes; every other caller is turned away and
nothing is written. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from api.app import create_app
from api.auth import PUBLIC_ENDPOINTS, declared_access
from loyalty.adapters.db import make_engine
from loyalty.adapters.orm import ApiKeyRow, Base
from loyalty.domain.access import NewKey, Scope
from loyalty.services.access import Actor, CreateKey, create_key, key_cache, revoke_key
from loyalty.services.bootstrap import bootstrap
from tests.builders import a_member, a_program, earn

KEY_SCOPES = ["checkout", "agent", "supervisor", "marketer", "admin"]


def key(ctx, *scopes: str, program: str | None = "shop") -> str:
    command = CreateKey("test key", scopes, program, all_programs=program is None)
    return create_key(ctx, command, Actor("cli:tests")).secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def row_counts(ctx) -> dict[str, int]:
    with ctx.uow(read_only=True) as uow:
        return {
            table.name: uow.session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def purchase_body(member_id: str) -> dict[str, object]:
    return {"member": {"id": member_id}, "external_id": "T-1",
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "currency": "EUR", "lines": [{"sku": "A", "quantity": 1, "unit_price": "10.00"}]}


BODIES = {
    "members.Members": {"identities": [{"kind": "card", "value": "99999"}]},
    "purchases.Purchases": None,  # filled with the member's id
    "points.Debits": {"points": 1, "external_id": "D-1"},
    "access.Keys": {"name": "intruder", "scopes": ["admin"], "all_programs": True},
    "rules.Events": None,  # filled with the member's id
    "rules.Draft": {"settings": {}, "rules": []},
    "rules.Publish": {},
    "rules.Simulate": {"event": {"type": "signup"}, "hypothetical_member": {}},
    "rules.Backtest": {"since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"},
    "points.Tier": {"tier": "gold", "reason": "goodwill"},
    "rewards.Redemptions": {"reward_id": "coffee", "external_id": "R-1"},
    "rewards.VoucherConsume": {"reference": "T-9"},
    "rewards.Returns": {"external_id": "RET-1", "lines": [{"sku": "A", "quantity": 1}]},
    "rewards.PurchaseCancel": {},
    "desk.Adjustments": {"points": 10, "reason": "goodwill", "external_id": "A-1"},
    "desk.MemberFreeze": {"reason": "x"},
    "desk.MemberUnfreeze": {"reason": "x"},
    "desk.MemberClose": {"reason": "x"},
    "desk.MemberReopen": {"reason": "x"},
    "desk.Merge": {"merge": "mem_other"},
    "desk.Transfers": {"to_member": "mem_other", "points": 1, "external_id": "T-1"},
    "purchase_batches.PurchaseBatch": None,  # filled with the member's id
    "engagement.Feedback": {"external_id": "S-1", "kind": "nps", "score": 9,
                            "channel": "email"},
    "webhooks.Webhooks": {"url": "https://intruder.example.com/hooks"},
    "webhooks.Webhook": {"active": False},  # PATCH (and DELETE, which sends no body)
    "webhooks.DeliveriesReplay": {"status": "dead"},
    "webhooks.DeliveryReplay": None,
}


@pytest.fixture
def world(ctx):
    """Program "shop" with Ada (who holds a member token) and Bob (with 100 points), program
    "other", and one key per scope of "shop"."""
    a_program(ctx)
    a_program(ctx, "other")
    ada, bob = a_member(ctx, "card:1111"), a_member(ctx, "card:2222")
    earn(ctx, bob, 100)
    keys = {scope: key(ctx, scope) for scope in KEY_SCOPES}
    keys["admin of another program"] = key(ctx, "admin", program="other")
    return {"ada": ada, "bob": bob, "keys": keys}


def member_token(client, member_id: str, secret: str) -> str:
    answer = client.post(f"/v1/programs/shop/members/{member_id}/tokens", headers=bearer(secret))
    assert answer.status_code == 201, answer.json
    assert answer.json["token"].startswith("lmt_")
    return answer.json["token"]


def protected_routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            access = declared_access(app, rule.endpoint, method)
            if access is None or not access.public:
                yield rule, method, access


def test_every_route_declares_who_may_call_it(app):
    undeclared = [f"{method} {rule.rule}" for rule in app.url_map.iter_rules()
                  for method in rule.methods - {"HEAD", "OPTIONS"}
                  if declared_access(app, rule.endpoint, method) is None]
    assert undeclared == []
    public = sorted(rule.rule for rule in app.url_map.iter_rules()
                    if declared_access(app, rule.endpoint, "GET")
                    and declared_access(app, rule.endpoint, "GET").public)
    assert public == ["/docs", "/health", "/openapi.json", "/problems/<code>", "/redoc"]
    assert {rule.endpoint for rule in app.url_map.iter_rules()} >= PUBLIC_ENDPOINTS


def test_every_caller_a_route_does_not_accept_is_turned_away_and_nothing_is_written(
        app, ctx, world):
    anonymous = app.test_client()
    token = member_token(anonymous, world["ada"].id, world["keys"]["checkout"])
    callers = {"anonymous": None, **world["keys"], "member token of Ada": token}
    checked = 0
    for rule, method, access in protected_routes(app):
        assert access is not None
        url = (rule.rule.replace("<program>", "shop").replace("<member_id>", world["bob"].id)
               .replace("<key_id>", "0123456789abcdef"))
        url = re.sub(r"<int[^>]*:(version|delivery_id)>", "1", url)
        body = BODIES.get(rule.endpoint)
        if rule.endpoint == "purchases.Purchases":
            body = purchase_body(world["bob"].id)
        if rule.endpoint == "purchase_batches.PurchaseBatch":
            body = {"purchases": [purchase_body(world["bob"].id)]}
        if rule.endpoint == "rules.Events":
            body = {"member": {"id": world["bob"].id}, "type": "signup", "external_id": "E-1",
                    "occurred_at": "2026-01-01T00:00:00Z"}
        for caller, secret in callers.items():
            scope = caller.split(" ")[0]
            allowed = (
                secret is not None and caller != "admin of another program"
                and not caller.startswith("member token")
                and (Scope(scope) in access.scopes or (scope == "admin" and access.scopes)))
            if allowed:
                continue
            before = row_counts(ctx)
            answer = anonymous.open(url, method=method, json=body,
                                    headers=bearer(secret) if secret else {})
            expected = {"anonymous": 401, "member token of Ada": 404 if access.for_members
                        else 403, "admin of another program": 404 if "<program>" in rule.rule
                        else 200}.get(caller, 403)
            if expected == 200:
                continue  # an admin of another program on a route of no program: its own data
            assert answer.status_code == expected, (caller, method, rule.rule, answer.json)
            assert answer.mimetype == "application/problem+json"
            after = row_counts(ctx)
            assert {t: n for t, n in after.items() if t != "instance_secrets"} == {
                t: n for t, n in before.items() if t != "instance_secrets"}, (caller, rule.rule)
            checked += 1
    assert checked > 50


def test_a_checkout_key_reaches_checkout_routes_but_not_the_ledger_or_keys(client, ctx, world):
    checkout = bearer(world["keys"]["checkout"])
    bob = world["bob"].id
    assert client.get(f"/v1/programs/shop/members/{bob}/balance", headers=checkout).status_code \
        == 200
    assert client.post("/v1/programs/shop/purchases", json=purchase_body(bob),
                       headers=checkout).status_code == 201
    assert client.get(f"/v1/programs/shop/members/{bob}/ledger", headers=checkout).status_code \
        == 403
    assert client.get("/v1/keys", headers=checkout).status_code == 403
    agent = bearer(world["keys"]["agent"])
    assert client.get(f"/v1/programs/shop/members/{bob}/ledger", headers=agent).status_code == 200
    assert client.post("/v1/programs/shop/purchases", json=purchase_body(bob),
                       headers=agent).status_code == 403


def test_a_member_token_reads_its_own_member_only(client, world):
    token = member_token(client, world["ada"].id, world["keys"]["checkout"])
    ada, bob = world["ada"].id, world["bob"].id
    own = client.get(f"/v1/programs/shop/members/{ada}/balance", headers=bearer(token))
    assert own.status_code == 200 and own.json["member_id"] == ada
    assert client.get(f"/v1/programs/shop/members/{ada}/ledger",
                      headers=bearer(token)).status_code == 200
    other = client.get(f"/v1/programs/shop/members/{bob}/balance", headers=bearer(token))
    missing = client.get("/v1/programs/shop/members/mem_doesnotexist/balance",
                         headers=bearer(world["keys"]["admin"]))
    assert other.status_code == missing.status_code == 404
    # Nothing tells another member from no member: the answers differ only by the id asked for.
    assert json.dumps(other.json).replace(bob, "X") == json.dumps(missing.json).replace(
        "mem_doesnotexist", "X")
    assert client.post("/v1/programs/shop/purchases", json=purchase_body(ada),
                       headers=bearer(token)).status_code == 403


def test_a_member_token_expires_and_cannot_be_forged(client, world):
    with freeze_time(datetime.now(UTC)) as frozen:
        token = member_token(client, world["ada"].id, world["keys"]["checkout"])
        url = f"/v1/programs/shop/members/{world['ada'].id}/balance"
        assert client.get(url, headers=bearer(token)).status_code == 200
        frozen.tick(timedelta(seconds=901))
        expired = client.get(url, headers=bearer(token))
    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"].startswith("Bearer")
    body, signature = token.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature
    assert client.get(url, headers=bearer(forged)).status_code == 401


def test_a_revoked_key_and_the_tokens_it_issued_stop_working(client, ctx, world):
    checkout = world["keys"]["checkout"]
    token = member_token(client, world["ada"].id, checkout)
    key_id = checkout.split("_")[1]
    revoked = client.post(f"/v1/keys/{key_id}/revoke")
    assert revoked.status_code == 200 and revoked.json["revoked_at"] is not None
    url = f"/v1/programs/shop/members/{world['ada'].id}/balance"
    assert client.get(url, headers=bearer(checkout)).status_code == 401
    assert client.get(url, headers=bearer(token)).status_code == 401


# -- the keys a worker keeps (LOYALTY_API_KEY_CACHE_SECONDS) -------------------------------------


def caching_keys_for(seconds: int, settings, ctx):
    """A client of an API that reuses a key it has read for ``seconds``."""
    app = create_app(settings.model_copy(update={"api_key_cache_seconds": seconds}), context=ctx)
    return app.test_client()


@pytest.fixture
def elsewhere(settings):
    """The same database as seen by another process: another gunicorn worker, or the CLI."""
    engine = make_engine(settings)
    yield bootstrap(settings, engine=engine)
    engine.dispose()


def key_id(secret: str) -> str:
    return secret.split("_")[1]


def test_a_cached_key_revoked_in_this_process_is_refused_at_once(settings, ctx, world):
    client = caching_keys_for(300, settings, ctx)
    checkout = world["keys"]["checkout"]
    token = member_token(client, world["ada"].id, checkout)
    url = f"/v1/programs/shop/members/{world['ada'].id}/balance"
    assert client.get(url, headers=bearer(checkout)).status_code == 200
    assert client.get(url, headers=bearer(token)).status_code == 200

    revoke_key(ctx, key_id(checkout), Actor("cli:tests"))

    assert client.get(url, headers=bearer(checkout)).status_code == 401
    assert client.get(url, headers=bearer(token)).status_code == 401


def test_a_key_revoked_by_another_process_is_refused_once_the_cache_time_has_passed(
        settings, ctx, world, elsewhere):
    with freeze_time(datetime.now(UTC)) as frozen:
        client = caching_keys_for(5, settings, ctx)
        checkout = world["keys"]["checkout"]
        token = member_token(client, world["ada"].id, checkout)
        url = f"/v1/programs/shop/members/{world['ada'].id}/balance"
        assert client.get(url, headers=bearer(checkout)).status_code == 200

        revoke_key(elsewhere, key_id(checkout), Actor("cli:ops"))
        frozen.tick(timedelta(seconds=4))
        # The documented window: this worker read the key less than 5 seconds ago.
        assert client.get(url, headers=bearer(checkout)).status_code == 200
        assert client.get(url, headers=bearer(token)).status_code == 200
        frozen.tick(timedelta(seconds=1))
        assert client.get(url, headers=bearer(checkout)).status_code == 401
        assert client.get(url, headers=bearer(token)).status_code == 401


def test_without_the_cache_a_key_revoked_by_another_process_is_refused_at_once(
        settings, ctx, world, elsewhere):
    client = caching_keys_for(0, settings, ctx)
    checkout = world["keys"]["checkout"]
    token = member_token(client, world["ada"].id, checkout)
    url = f"/v1/programs/shop/members/{world['ada'].id}/balance"
    assert client.get(url, headers=bearer(checkout)).status_code == 200

    revoke_key(elsewhere, key_id(checkout), Actor("cli:ops"))

    assert client.get(url, headers=bearer(checkout)).status_code == 401
    assert client.get(url, headers=bearer(token)).status_code == 401
    assert len(key_cache(ctx)) == 0


def test_a_wrong_secret_for_a_cached_key_id_is_refused(settings, ctx, world):
    client = caching_keys_for(300, settings, ctx)
    checkout = world["keys"]["checkout"]
    url = f"/v1/programs/shop/members/{world['bob'].id}/balance"
    assert client.get(url, headers=bearer(checkout)).status_code == 200

    for wrong in (checkout[:-1] + ("a" if checkout[-1] != "a" else "b"),
                  f"lk_{key_id(checkout)}_{'0' * 32}"):
        refused = client.get(url, headers=bearer(wrong))
        assert refused.status_code == 401 and refused.json["detail"] == "unknown API key"
    assert client.get(url, headers=bearer(checkout)).status_code == 200


def test_unknown_keys_and_wrong_secrets_are_not_kept(settings, ctx, world):
    client = caching_keys_for(300, settings, ctx)
    url = f"/v1/programs/shop/members/{world['bob'].id}/balance"
    guesses = [NewKey.generate().secret for _ in range(50)]
    guesses.append(f"lk_{key_id(world['keys']['agent'])}_{'0' * 32}")
    assert {client.get(url, headers=bearer(g)).status_code for g in guesses} == {401}
    assert len(key_cache(ctx)) == 0
    assert client.get(url, headers=bearer(world["keys"]["agent"])).status_code == 200
    assert len(key_cache(ctx)) == 1


def test_a_cached_key_still_records_its_last_use_once_a_minute(settings, ctx, world):
    agent = world["keys"]["agent"]
    url = f"/v1/programs/shop/members/{world['bob'].id}/balance"

    def last_used_at() -> datetime | None:
        with ctx.uow(read_only=True) as uow:
            return uow.session.get(ApiKeyRow, key_id(agent)).last_used_at

    start = datetime.now(UTC).replace(microsecond=0)
    with freeze_time(start) as frozen:
        client = caching_keys_for(300, settings, ctx)
        assert client.get(url, headers=bearer(agent)).status_code == 200
        assert last_used_at() == start
        frozen.tick(timedelta(seconds=30))
        assert client.get(url, headers=bearer(agent)).status_code == 200
        assert last_used_at() == start  # written at most once a minute
        frozen.tick(timedelta(seconds=31))
        assert client.get(url, headers=bearer(agent)).status_code == 200
        assert last_used_at() == start + timedelta(seconds=61)


def test_a_key_of_one_program_cannot_touch_another_programs_data(client, ctx, world):
    other_admin = bearer(world["keys"]["admin of another program"])
    bob = world["bob"].id
    before = row_counts(ctx)
    for answer in (
        client.get(f"/v1/programs/shop/members/{bob}/balance", headers=other_admin),
        client.post("/v1/programs/shop/purchases", json=purchase_body(bob), headers=other_admin),
        client.post(f"/v1/programs/shop/members/{bob}/debits",
                    json={"points": 10, "external_id": "X"}, headers=other_admin),
    ):
        assert answer.status_code == 404
        assert answer.json["type"] == "/problems/program-not-found"
    assert row_counts(ctx) == before
    listed = client.get("/v1/keys", headers=other_admin).json["keys"]
    assert {k["program_id"] for k in listed} == {"other"}


def test_keys_are_shown_once_stored_as_a_hash_and_their_use_is_recorded(client, ctx):
    a_program(ctx)
    created = client.post("/v1/keys", json={"name": "tills", "scopes": ["checkout"],
                                            "program_id": "shop"})
    assert created.status_code == 201
    secret = created.json["secret"]
    assert re.fullmatch(r"lk_[0-9a-z]{16}_[0-9a-z]{32}", secret)
    with ctx.uow(read_only=True) as uow:
        row = uow.session.get(ApiKeyRow, created.json["key"]["key_id"])
        assert secret not in json.dumps({c.name: str(getattr(row, c.name))
                                         for c in ApiKeyRow.__table__.columns})
        assert row.last_used_at is None
    assert "secret" not in json.dumps(client.get("/v1/keys").json)
    client.get("/v1/programs/shop/members?identity=card:1", headers=bearer(secret))
    with ctx.uow(read_only=True) as uow:
        assert uow.session.get(ApiKeyRow, created.json["key"]["key_id"]).last_used_at is not None


def test_a_key_must_say_whether_it_belongs_to_one_program_or_all(client, ctx):
    a_program(ctx)
    answer = client.post("/v1/keys", json={"name": "vague", "scopes": ["admin"]})
    assert answer.status_code == 422
    assert answer.json["errors"][0]["field"] == "program_id"
    assert client.post("/v1/keys", json={"name": "m", "scopes": ["member"],
                                         "program_id": "shop"}).status_code == 422


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/members", {"identities": [{"kind": "card", "value": "5"}], "status": "frozen"}, "status"),
    ("/members", {"identities": [{"kind": "card", "value": "5"}], "id": "mem_x"}, "id"),
    ("/purchases", "purchase+points_earned", "points_earned"),
    ("/members/{bob}/debits", {"points": 1, "external_id": "D", "balance": 10**6}, "balance"),
])
def test_a_body_cannot_set_what_it_does_not_own(client, ctx, world, path, body, field):
    bob = world["bob"].id
    if body == "purchase+points_earned":
        body = {**purchase_body(bob), "points_earned": 10**6}
    before = row_counts(ctx)
    answer = client.post("/v1/programs/shop" + path.format(bob=bob), json=body)
    assert answer.status_code == 422
    assert field in [e["field"] for e in answer.json["errors"]]
    assert row_counts(ctx) == before


def test_a_body_over_the_size_limit_is_refused_with_413(settings, ctx, world):
    app = create_app(settings.model_copy(update={"max_body_bytes": 2048}), context=ctx)
    client = app.test_client()
    body = purchase_body(world["bob"].id)
    body["promo_codes"] = ["X" * 60] * 50
    answer = client.post("/v1/programs/shop/purchases", data=json.dumps(body),
                         content_type="application/json", headers=bearer(world["keys"]["checkout"]))
    assert answer.status_code == 413
    assert answer.mimetype == "application/problem+json"


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(settings, ctx, world):
    app = create_app(settings.model_copy(update={"rate_limit_per_minute": 3}), context=ctx)
    client = app.test_client()
    url = f"/v1/programs/shop/members/{world['bob'].id}/balance"
    checkout, agent = bearer(world["keys"]["checkout"]), bearer(world["keys"]["agent"])
    statuses = [client.get(url, headers=checkout).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get(url, headers=checkout)
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    assert limited.json["type"] == "/problems/rate-limited"
    assert client.get(url, headers=agent).status_code == 200  # each key has its own budget


def test_member_ids_are_random_not_sequential(ctx):
    a_program(ctx)
    ids = [a_member(ctx).id for _ in range(20)]
    assert all(re.fullmatch(r"mem_[0-9a-hjkmnp-tv-z]{26}", i) for i in ids)
    assert len({i[4:8] for i in ids}) > 10  # no shared, counting prefix

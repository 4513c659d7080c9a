"""The balance lane answers the most frequent read without Flask, and exactly as Flask would:
the same status, headers and body. Everything it does not answer goes to Flask untouched.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from freezegun import freeze_time
from werkzeug.test import Client

from api.app import create_app
from api.balance_lane import BalanceLane
from loyalty.services.access import Actor, CreateKey, create_key
from tests.api.support import counted_lane
from tests.builders import a_member, a_program, earn


def a_key(ctx, *scopes: str, program: str = "shop") -> str:
    return create_key(ctx, CreateKey("lane", scopes, program), Actor("cli:tests")).secret


@pytest.fixture
def shop(ctx) -> dict[str, Any]:
    """Program "shop" with Ada (40 points) and Bob, program "other", keys of several scopes,
    and a member token of Ada's."""
    a_program(ctx)
    a_program(ctx, "other")
    ada, bob = a_member(ctx, "card:1111"), a_member(ctx, "card:2222")
    earn(ctx, ada, 40)
    keys = {scope: a_key(ctx, scope) for scope in ("checkout", "agent", "marketer", "admin")}
    keys["checkout of other"] = a_key(ctx, "checkout", program="other")
    return {"ada": ada, "bob": bob, "keys": keys}


def member_token(app, member_id: str, secret: str) -> str:
    answer = app.test_client().post(f"/v1/programs/shop/members/{member_id}/tokens",
                                    headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 201, answer.json
    return answer.json["token"]


@pytest.fixture
def lane(settings, ctx) -> BalanceLane:
    return counted_lane(create_app(settings, context=ctx), BalanceLane)


def both(lane: BalanceLane, method: str, path: str, **request: Any) -> tuple[Any, Any]:
    """The answer through the lane and the answer of Flask alone, at one frozen instant."""
    lane.flask.calls = 0
    with freeze_time("2026-11-24 12:00:00"):
        through_lane = Client(lane).open(path, method=method, **request)
        flask_alone = Client(lane.flask.flask).open(path, method=method, **request)
    return through_lane, flask_alone


def assert_same(a: Any, b: Any) -> None:
    assert (a.status, list(a.headers.items()), a.data) == (b.status, list(b.headers.items()),
                                                          b.data)


@pytest.mark.parametrize("caller", ["checkout", "agent", "admin", "member token"])
def test_the_lane_answers_a_balance_itself_exactly_as_flask_does(lane, shop, caller):
    ada = shop["ada"]
    secret = (member_token(lane.app, ada.id, shop["keys"]["checkout"]) if caller == "member token"
              else shop["keys"][caller])
    through_lane, flask_alone = both(lane, "GET", f"/v1/programs/shop/members/{ada.id}/balance",
                                     headers={"Authorization": f"Bearer {secret}"})
    assert through_lane.status_code == 200 and through_lane.json["available"] == 40
    assert_same(through_lane, flask_alone)
    assert lane.flask.calls == 0


ELSEWHERE = [
    # (the case, the path after /v1/programs/, the caller's key, other request fields)
    ("an unknown member", "shop/members/mem_nobody/balance", "checkout", {}),
    ("another program's member", "other/members/{ada}/balance", "checkout", {}),
    ("a key of another program", "shop/members/{ada}/balance", "checkout of other", {}),
    ("a scope the route does not accept", "shop/members/{ada}/balance", "marketer", {}),
    ("no key", "shop/members/{ada}/balance", None, {}),
    ("a key that is not ours", "shop/members/{ada}/balance", "lk_forged.secret", {}),
    ("a member token for someone else", "shop/members/{bob}/balance", "token", {}),
    ("a query string", "shop/members/{ada}/balance", "checkout", {"query_string": "x=1"}),
    ("a trailing slash", "shop/members/{ada}/balance/", "checkout", {}),
    ("a control character", "shop/members/mem_%01/balance", "checkout", {}),
    ("a non-ASCII id", "shop/members/mem_%C3%A9/balance", "checkout", {}),
    ("an invalid acting person", "shop/members/{ada}/balance", "checkout",
     {"headers": {"X-Acting-Person": "a\tb"}}),
    ("a body", "shop/members/{ada}/balance", "checkout",
     {"data": b"{}", "content_type": "application/json"}),
    ("another method", "shop/members/{ada}/balance", "checkout", {"method": "HEAD"}),
    ("another route", "shop/members/{ada}/ledger", "agent", {}),
]


@pytest.mark.parametrize(("case", "path", "caller", "fields"), ELSEWHERE,
                         ids=[case for case, *_ in ELSEWHERE])
def test_everything_else_goes_to_flask_untouched(lane, shop, case, path, caller, fields):
    fields = dict(fields)
    method = fields.pop("method", "GET")
    headers = dict(fields.pop("headers", {}))
    if caller == "token":
        caller = member_token(lane.app, shop["ada"].id, shop["keys"]["checkout"])
    if caller is not None:
        headers["Authorization"] = f"Bearer {shop['keys'].get(caller, caller)}"
    url = "/v1/programs/" + path.format(ada=shop["ada"].id, bob=shop["bob"].id)
    through_lane, flask_alone = both(lane, method, url, headers=headers, **fields)
    assert_same(through_lane, flask_alone)
    assert lane.flask.calls == 1


def test_a_request_is_counted_once_against_the_rate_limit(settings, ctx, shop):
    app = create_app(settings.model_copy(update={"rate_limit_per_minute": 3}), context=ctx)
    client = app.test_client()
    checkout = {"Authorization": f"Bearer {shop['keys']['checkout']}"}
    ada, nobody = "/v1/programs/shop/members/{}/balance".format, "mem_nobody"
    statuses = [client.get(ada(shop["ada"].id), headers=checkout).status_code,
                client.get(ada(shop["ada"].id), headers=checkout).status_code,
                client.get(ada(nobody), headers=checkout).status_code,  # Flask answers: 404
                client.get(ada(shop["ada"].id), headers=checkout).status_code]
    assert statuses == [200, 200, 404, 429]

"""The posting lane posts a purchase without Flask, and answers exactly as Flask would: the same
status, headers and body. Everything it does not post goes to Flask with its body, and is
answered as before; a request counts once against the rate limit. Runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from api.app import create_app
from api.posting_lane import PostingLane
from loyalty.adapters.orm import PurchaseRow
from loyalty.services.access import Actor, CreateKey, create_key
from tests.api.support import a_purchase_body, counted_lane, table_counts
from tests.builders import a_member, a_program

PURCHASES = "/v1/programs/shop/purchases"


@pytest.fixture
def shop(ctx) -> dict[str, Any]:
    """Program "shop" with Ada, program "other", and keys of several scopes."""
    a_program(ctx)
    a_program(ctx, "other")
    ada = a_member(ctx, "card:1111")
    keys = {scope: create_key(ctx, CreateKey("lane", (scope,), "shop"), Actor("cli:tests")).secret
            for scope in ("checkout", "marketer")}
    keys["checkout of other"] = create_key(ctx, CreateKey("lane", ("checkout",), "other"),
                                           Actor("cli:tests")).secret
    return {"ada": ada, "keys": keys}


@pytest.fixture
def lane(settings, ctx) -> PostingLane:
    return counted_lane(create_app(settings, context=ctx), PostingLane)


def post(app: Any, body: Any, *, key: str | None, **fields: Any) -> Any:
    headers = dict(fields.pop("headers", {}))
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    fields.setdefault("content_type", "application/json")
    return Client(app).post(fields.pop("path", PURCHASES), data=data, headers=headers, **fields)


def answer_of(response: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    return response.status, list(response.headers.items()), response.data


def test_the_lane_posts_a_purchase_itself_and_answers_as_flask_does(lane, shop, ctx):
    body = a_purchase_body(shop["ada"], "25.00")
    first = post(lane, body, key=shop["keys"]["checkout"])
    assert first.status_code == 201 and first.json["points_earned"] == 25
    assert lane.flask.calls == 0
    # Flask's replay is the stored answer: the lane answered with the same body, byte for byte.
    replay_by_flask = post(lane.flask.flask, body, key=shop["keys"]["checkout"])
    assert replay_by_flask.status_code == 200
    assert replay_by_flask.data == first.data
    # And the lane replays it as Flask does, header for header.
    replay_by_lane = post(lane, body, key=shop["keys"]["checkout"])
    assert answer_of(replay_by_lane) == answer_of(replay_by_flask)
    assert lane.flask.calls == 0
    # A first answer carries Flask's headers, in Flask's order.
    by_flask = post(lane.flask.flask, a_purchase_body(shop["ada"], "25.00"),
                    key=shop["keys"]["checkout"])
    assert by_flask.status == first.status == "201 CREATED"
    assert [name for name, _ in by_flask.headers.items()] == \
        [name for name, _ in first.headers.items()]
    assert by_flask.headers["Content-Type"] == first.headers["Content-Type"]
    assert table_counts(ctx)["purchases"] == 2


def test_an_idempotency_key_is_honoured_by_the_lane(lane, shop):
    body = a_purchase_body(shop["ada"], "10.00")
    headers = {"Idempotency-Key": "till-7-receipt-1"}
    first = post(lane, body, key=shop["keys"]["checkout"], headers=headers)
    again = post(lane, body, key=shop["keys"]["checkout"], headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true" and again.data == first.data
    assert lane.flask.calls == 0
    # The same key with another body is Flask's 422, answered as Flask alone answers it.
    other = a_purchase_body(shop["ada"], "11.00")
    through_lane = post(lane, other, key=shop["keys"]["checkout"], headers=headers)
    alone = post(lane.flask.flask, other, key=shop["keys"]["checkout"], headers=headers)
    assert through_lane.status_code == 422 and answer_of(through_lane) == answer_of(alone)
    assert lane.flask.calls == 1


def _in_a_day() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


ELSEWHERE: list[tuple[str, Any, str | None, dict[str, Any]]] = [
    # (the case, the body (a callable of Ada), the caller's key, other request fields)
    ("a dry run", lambda ada: a_purchase_body(ada), "checkout", {"query_string": "dry_run=true"}),
    ("an unknown field", lambda ada: a_purchase_body(ada, colour="red"), "checkout", {}),
    ("a missing field", lambda ada: {k: v for k, v in a_purchase_body(ada).items()
                                     if k != "currency"}, "checkout", {}),
    ("a body that is not JSON", lambda ada: b"{not json", "checkout", {}),
    ("a JSON array", lambda ada: [a_purchase_body(ada)], "checkout", {}),
    ("another content type", lambda ada: a_purchase_body(ada), "checkout",
     {"content_type": "text/plain"}),
    ("a lone surrogate", lambda ada: json.dumps(a_purchase_body(ada, store="\\ud800x"))
     .replace("\\\\ud800", "\\ud800").encode(), "checkout", {}),
    ("a malformed Idempotency-Key", lambda ada: a_purchase_body(ada), "checkout",
     {"headers": {"Idempotency-Key": "a\tb"}}),
    ("an unknown member", lambda ada: a_purchase_body("card:0000"), "checkout", {}),
    ("another currency", lambda ada: a_purchase_body(ada, currency="USD"), "checkout", {}),
    ("a purchase in the future", lambda ada: a_purchase_body(ada, occurred_at=_in_a_day()),
     "checkout", {}),
    ("an unknown program", lambda ada: a_purchase_body(ada), "checkout",
     {"path": "/v1/programs/nowhere/purchases"}),
    ("a key of another program", lambda ada: a_purchase_body(ada), "checkout of other", {}),
    ("a scope the route does not accept", lambda ada: a_purchase_body(ada), "marketer", {}),
    ("no key", lambda ada: a_purchase_body(ada), None, {}),
    ("a key that is not ours", lambda ada: a_purchase_body(ada), "lk_forged.secret", {}),
]


@pytest.mark.parametrize(("case", "body", "caller", "fields"), ELSEWHERE,
                         ids=[case for case, *_ in ELSEWHERE])
def test_everything_else_goes_to_flask_with_its_body_and_writes_nothing(
        lane, shop, ctx, case, body, caller, fields):
    document = body(shop["ada"])
    key = shop["keys"].get(caller, caller) if caller is not None else None
    before = table_counts(ctx)
    through_lane = post(lane, document, key=key, **fields)
    alone = post(lane.flask.flask, document, key=key, **fields)
    assert through_lane.status_code >= 400 or case == "a dry run"
    assert answer_of(through_lane) == answer_of(alone)
    assert lane.flask.calls == 1
    assert table_counts(ctx) == before


def test_a_posting_is_counted_once_against_the_rate_limit(settings, ctx, shop):
    app = create_app(settings.model_copy(update={"rate_limit_per_minute": 3}), context=ctx)
    checkout = shop["keys"]["checkout"]
    statuses = [post(app, a_purchase_body(shop["ada"]), key=checkout).status_code,
                post(app, a_purchase_body("card:0000"), key=checkout).status_code,  # Flask: 404
                post(app, a_purchase_body(shop["ada"]), key=checkout).status_code,
                post(app, a_purchase_body(shop["ada"]), key=checkout).status_code]
    assert statuses == [201, 404, 201, 429]


# -- group commit: the worker hands the lane the postings that wait together --------------------


def a_request(body: Any, key: str, **fields: Any) -> dict[str, Any]:
    """The WSGI environ of a posting, as the worker hands it to ``post_together``."""
    return EnvironBuilder(path=fields.pop("path", PURCHASES), method="POST",
                          data=json.dumps(body).encode(), content_type="application/json",
                          headers={"Authorization": f"Bearer {key}"}, **fields).get_environ()


def test_postings_that_wait_together_are_posted_in_one_transaction_and_answered_each(
        lane, shop, ctx):
    """``post_together`` posts the plain purchases of different members in one transaction
    (they are recorded at one instant); a second purchase of the same member is posted after
    it, alone; what the lane does not post goes to Flask, which answers it as ever."""
    checkout = shop["keys"]["checkout"]
    bob, cy = a_member(ctx, "card:2222"), a_member(ctx, "card:3333")
    bodies = [a_purchase_body(shop["ada"], "25.00"), a_purchase_body(bob, "30.00"),
              a_purchase_body(cy, "40.00"), a_purchase_body(shop["ada"], "5.00"),
              a_purchase_body("card:0000"), a_purchase_body(bob, "1.00")]
    environs = [a_request(body, checkout) for body in bodies]
    environs[-1]["QUERY_STRING"] = "dry_run=true"
    # The program's first posting compiles it (the general lane): the next ones are plain.
    assert post(lane, a_purchase_body(a_member(ctx)), key=checkout).status_code == 201

    lane.post_together(environs)
    answers = [run_wsgi_app(lane, environ, buffered=True) for environ in environs]

    statuses = [status for _, status, _ in answers]
    assert statuses == ["201 CREATED"] * 4 + ["404 NOT FOUND", "200 OK"]
    assert lane.flask.calls == 2  # the unknown member and the dry run
    bodies_posted = [json.loads(b"".join(body)) for body, _, _ in answers[:4]]
    assert [b["points_earned"] for b in bodies_posted] == [25, 30, 40, 5]
    assert [b["balance"]["available"] for b in bodies_posted] == [25, 30, 40, 30]
    # Each answer is the one stored for its purchase: Flask replays it byte for byte.
    for body, (answer, _, _) in zip(bodies[:4], answers[:4], strict=True):
        replay = post(lane.flask.flask, body, key=checkout)
        assert (replay.status_code, replay.data) == (200, b"".join(answer))
    with ctx.uow(read_only=True) as uow:
        recorded = dict(uow.session.execute(select(PurchaseRow.external_id,
                                                   PurchaseRow.recorded_at)).all())
    at = [recorded[b["external_id"]] for b in bodies_posted]
    assert at[0] == at[1] == at[2] != at[3]  # ada's second purchase was posted alone
    assert table_counts(ctx)["purchases"] == 5


def test_a_posting_of_a_group_is_counted_once_against_the_rate_limit(settings, ctx, shop):
    app = create_app(settings.model_copy(update={"rate_limit_per_minute": 4}), context=ctx)
    checkout = shop["keys"]["checkout"]
    assert post(app, a_purchase_body(a_member(ctx)), key=checkout).status_code == 201
    environs = [a_request(a_purchase_body(shop["ada"]), checkout),
                a_request(a_purchase_body("card:0000"), checkout),  # Flask: 404
                a_request(a_purchase_body(a_member(ctx)), checkout)]

    app.extensions["loyalty_posting_lane"].post_together(environs)
    statuses = [run_wsgi_app(app.wsgi_app, environ, buffered=True)[1] for environ in environs]

    assert statuses == ["201 CREATED", "404 NOT FOUND", "201 CREATED"]
    assert post(app, a_purchase_body(shop["ada"]), key=checkout).status_code == 429

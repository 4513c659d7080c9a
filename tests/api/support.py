"""Helpers for the API tests: request bodies in the API's own shape, and problem checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select

from loyalty.adapters.orm import Base
from loyalty.domain.members import Member
from loyalty.services.context import Context

SHOP = "/v1/programs/shop"
PROBLEM_JSON = "application/problem+json"
_counter = iter(range(1, 10**9))
T = TypeVar("T")


def an_hour_ago() -> str:
    """An ``occurred_at`` safely in the past, with its offset, as a checkout sends it."""
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def member_ref(member: Member | str | dict[str, str]) -> dict[str, str]:
    if isinstance(member, Member):
        return {"id": member.id}
    if isinstance(member, str):
        return {"identity": member}
    return member


def a_purchase_body(member: Member | str | dict[str, str] = "card:1234", amount: str = "10.00",
                    *, external_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A one-line purchase of ``amount`` EUR (tax 0), as a till would post it."""
    body: dict[str, Any] = {
        "member": member_ref(member),
        "external_id": external_id or f"TILL-{next(_counter)}",
        "occurred_at": an_hour_ago(),
        "currency": "EUR",
        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": amount}],
    }
    body.update(fields)
    return body


def an_enrolment(*identities: str, **attributes: Any) -> dict[str, Any]:
    """``an_enrolment("card:1234", "email:ada@example.com", birth_date="1990-04-23")``."""
    return {
        "identities": [
            {"kind": kind, "value": value}
            for kind, value in (identity.split(":", 1) for identity in identities)
        ],
        "attributes": attributes,
    }


def members_url(member: Member | str, tail: str = "") -> str:
    member_id = member.id if isinstance(member, Member) else member
    return f"{SHOP}/members/{member_id}{tail}"


def assert_problem(response: Any, status: int, code: str, *,
                   field: str | None = None) -> dict[str, Any]:
    """The answer is an RFC 9457 problem of type ``/problems/<code>``; when ``field`` is given,
    its ``errors`` name that field with a JSON pointer to it. Returns the problem."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    problem = response.get_json(force=True)
    assert problem["type"] == f"/problems/{code}"
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    if field is not None:
        named = {(error["field"], error["pointer"]) for error in problem.get("errors", [])}
        assert (field, "#/" + field.replace(".", "/")) in named, problem
    return problem


def table_counts(ctx: Context) -> dict[str, int]:
    """How many rows each table holds: equal before and after a refused request."""
    with ctx.uow(read_only=True) as uow:
        return {
            table.name: uow.session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


class Counting:
    """The WSGI callable behind a lane (Flask, or the next lane in), counting the requests
    that reach it."""

    def __init__(self, flask: Any) -> None:
        self.flask, self.calls = flask, 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return self.flask(environ, start_response)


def counted_lane(app: Any, kind: type[T]) -> T:
    """The lane of ``kind`` among those wrapped around ``app``'s WSGI callable, what it hands
    on counted (``lane.flask.calls``; ``lane.flask.flask`` answers without the lane)."""
    found = app.wsgi_app
    while not isinstance(found, kind):
        found = found.flask  # the next lane in, or Flask (which has none: AttributeError)
    found.flask = Counting(found.flask)  # type: ignore[attr-defined]
    return found

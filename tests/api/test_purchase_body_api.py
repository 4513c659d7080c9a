"""``POST .../purchases`` reads its body with the importer's reader and answers without
marshmallow's dump: every body is still accepted or refused as ``PurchaseSchema`` says, with the
schema's problem, and every answer is what ``PurchaseRecordedSchema`` dumps.

The bodies are those that ``tests/unit/test_import_reader.py`` holds the reader to the schema
with: the API tests' payloads, and every kind of wrong value in every field.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import pytest

from api.errors import flatten
from api.schemas import PurchaseRecordedSchema, PurchaseSchema
from loyalty.services.purchases import RecordPurchase, record_purchase
from tests.api.support import SHOP, a_purchase_body, assert_problem, table_counts
from tests.api.test_tiers_api import tiered_program
from tests.builders import a_member, a_program
from tests.unit.test_import_reader import (
    FULL,
    MUTATIONS,
    PATHS,
    PURCHASES,
    a_body,
    a_line,
    with_value,
    without,
)

PURCHASES_URL = f"{SHOP}/purchases"
TOO_LARGE = a_line(quantity=100_000, unit_price="999999999999999.99")
BODIES = [*PURCHASES, *(with_value(FULL, path, value) for path, value in MUTATIONS),
          *(without(FULL, path) for path in PATHS),
          # mistakes that the schema names in another order than the reader does
          a_body(lines=[a_line(), TOO_LARGE], totals={"tax": "1.234"}),
          a_body(lines=[TOO_LARGE, a_line(tax="1.234")], shipping="0.001")]


def the_schemas_problem(body: dict[str, Any]) -> dict[str, Any] | None:
    """The problem that webargs answers for ``body`` with ``PurchaseSchema``, or ``None`` if the
    schema accepts it."""
    try:
        PurchaseSchema().load(body)
    except ma.ValidationError as error:
        errors = flatten(error.messages)
        return {"type": "/problems/validation-error", "title": "Validation error", "status": 422,
                "detail": "; ".join(f"{e['field'] or 'body'}: {e['detail']}" for e in errors),
                "instance": PURCHASES_URL, "errors": errors}
    return None


def test_every_body_the_schema_refuses_is_refused_with_the_schemas_problem(client, ada, ctx):
    refused = [(body, problem) for body in BODIES
               if (problem := the_schemas_problem(body)) is not None]
    before = table_counts(ctx)

    answers = [client.post(PURCHASES_URL, json=body) for body, _ in refused]

    assert len(refused) >= 400
    assert [(answer.status_code, answer.mimetype, answer.get_json()) for answer in answers] == [
        (422, "application/problem+json", problem) for _, problem in refused]
    assert table_counts(ctx) == before


def test_every_body_the_schema_accepts_gets_past_validation(client, ada):
    accepted = [own_purchase(body, index, ada.id) for index, body in enumerate(BODIES)
                if the_schemas_problem(body) is None]

    answers = [client.post(PURCHASES_URL, json=body) for body in accepted]

    assert len(accepted) >= 50
    assert {answer.status_code for answer in answers} <= {201, 404, 409, 422}
    assert not [answer.get_json() for answer in answers
                if answer.get_json().get("type") == "/problems/validation-error"]
    assert sum(answer.status_code == 201 for answer in answers) >= 50


def own_purchase(body: dict[str, Any], index: int, member_id: str) -> dict[str, Any]:
    """``body`` as a purchase of its own (an external id of its own), of the member
    ``member_id`` if it names a member by id."""
    member = {"id": member_id} if "id" in body.get("member", {}) else body["member"]
    return {**body, "external_id": f"ACCEPTED-{index}", "member": member}


@pytest.mark.parametrize("body", ["[]", '"card:1234"', "null", "42", "[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_refused_as_a_whole(client, ada, body):
    response = client.post(PURCHASES_URL, data=body, content_type="application/json")
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"] == [{"field": "", "pointer": "#", "detail": "Invalid input type."}]
    assert problem["detail"] == "body: Invalid input type."


@pytest.mark.parametrize("body", [b'{"member": ', b"\xff{}", '{"x": 1}'.encode("utf-16")])
def test_a_body_that_is_not_utf8_json_is_a_bad_request(client, ada, ctx, body):
    response = client.post(PURCHASES_URL, data=body, content_type="application/json")
    problem = assert_problem(response, 400, "bad-request")
    assert problem["errors"] == [{"field": "", "pointer": "#", "detail": "Invalid JSON body."}]
    assert table_counts(ctx)["purchases"] == 0


def test_an_empty_body_is_refused_naming_every_required_field(client, ada):
    response = client.post(PURCHASES_URL, data="", content_type="application/json")
    problem = assert_problem(response, 422, "validation-error")
    assert [error["field"] for error in problem["errors"]] == [
        "member", "external_id", "occurred_at", "currency", "lines"]


def test_a_body_that_is_not_sent_as_json_is_an_unsupported_media_type(client, ada):
    response = client.post(PURCHASES_URL, data="member=card:1234",
                           content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415, "unsupported-media-type")


def test_an_unknown_query_parameter_is_refused_naming_it(client, ada, ctx):
    response = client.post(f"{PURCHASES_URL}?dry_run=false&verbose=1", json=a_purchase_body())
    assert_problem(response, 422, "validation-error", field="verbose")
    assert table_counts(ctx)["purchases"] == 0


def test_a_dry_run_reads_the_body_as_a_post_does(client, ada, ctx):
    body = a_purchase_body(lines=[{"sku": "S", "quantity": 2, "unit_price": "12.50",
                                   "tax": "2.50", "category": "shoes", "tags": ["new"]}])
    preview = client.post(f"{PURCHASES_URL}?dry_run=true", json=body)
    assert preview.status_code == 200
    assert table_counts(ctx)["purchases"] == 0
    assert preview.get_json()["points"] == client.post(PURCHASES_URL, json=body).get_json()[
        "points_earned"] == 22  # 25.00 paid, of which 2.50 of tax


PROGRAMS = {
    "plain": lambda ctx: a_program(ctx),
    "with a return window": lambda ctx: a_program(ctx, pending={"days": 30}),
    "with expiring points": lambda ctx: a_program(ctx, expiry={
        "mode": "after", "period": 12, "unit": "months", "rounding": "end_of_month"}),
    "with tiers": tiered_program,
}


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_answer_of_a_purchase_is_what_the_schema_dumps_of_it(client, ctx, program):
    PROGRAMS[program](ctx)
    member = a_member(ctx, "card:1234")
    lines = [{"sku": "A", "quantity": 3, "unit_price": "99.90", "discount": "10.00",
              "tax": "40.00", "category": "shoes", "tags": ["new", "sale"]},
             {"sku": "B", "quantity": 1, "unit_price": "0.99"}]
    burned = 0 if program == "with a return window" else 100  # pending points: none to burn
    bodies = [a_purchase_body(member, "300.00"), a_purchase_body(member, lines=lines),
              a_purchase_body(member, "250.00", shipping="4.90", store="paris-1",
                              promo_codes=["WINTER"], points_to_burn=burned),
              a_purchase_body("card:1234", "0.50")]

    for body in bodies:
        first, again = (client.post(PURCHASES_URL, json=body) for _ in range(2))
        command = RecordPurchase(program_id="shop", **PurchaseSchema().load(body))
        replayed = record_purchase(ctx, command)
        assert replayed.replayed
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert first.get_json() == again.get_json() == PurchaseRecordedSchema().dump(
            replayed.result)

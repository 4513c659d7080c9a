"""Purchases posted by checkouts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import marshmallow as ma
import orjson
from flask import jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint
from webargs.flaskparser import is_json_request

from api.auth import requires
from api.errors import flatten, problem_of
from api.importing import purchase_errors_or_command
from api.schemas import (
    BatchResultSchema,
    BatchSchema,
    DryRunQuerySchema,
    PurchaseRecordedSchema,
    PurchaseSchema,
    SimulationSchema,
    dump_purchase_recorded,
)
from api.views import IDEMPOTENCY_KEY_PARAMETER, context, created, json_response, request_key
from loyalty.domain.access import Scope
from loyalty.services.imports import import_purchases
from loyalty.services.purchases import RecordPurchase, record_purchase
from loyalty.services.simulation import preview_purchase

blp = Blueprint(
    "purchases",
    __name__,
    url_prefix="/v1/programs/<program>/purchases",
    description="Purchases posted by checkouts, and the points they earn.",
)


# The body of a purchase: the schema that documents it and words its refusals.
_BODY = PurchaseSchema()
# ``parameters`` in ``@blp.doc`` replaces the list the query schema documents: both are named.
_DRY_RUN_PARAMETER = {
    "in": "query", "name": "dry_run", "required": False,
    "schema": {"type": "boolean", "default": False},
    "description": DryRunQuerySchema().fields["dry_run"].metadata["description"],
}


def purchase_command(program: str) -> RecordPurchase:
    """The ``RecordPurchase`` of the request's body, or the 400 or 422 problem that webargs
    answers with ``PurchaseSchema``. The body is read as webargs reads it, then checked by the
    importer's reader, which makes of it what the schema makes, in an eighth of the time
    (``tests/unit/test_import_reader.py`` holds the two together). A body the reader refuses
    is loaded by the schema after all, so that its problem is the schema's, word for word and
    in the schema's order (the reader names a few mistakes in another order)."""
    parser = blp.ARGUMENTS_PARSER
    payload = _json_body()
    if payload is None:
        payload = parser.load_json(request, _BODY)
    if isinstance(payload, dict):
        found = purchase_errors_or_command(payload, program)
        if isinstance(found, RecordPurchase):
            return found
    return RecordPurchase(program_id=program, **parser.parse(_BODY, location="json"))


def _json_body() -> Any:
    """The JSON body as orjson reads it, or None for webargs to read it (and answer what it
    answers): orjson is stricter (no NaN, no integers past 64 bits, no lone surrogates), so
    what it reads, webargs would read the same, several times slower."""
    if not is_json_request(request):
        return None
    try:
        return orjson.loads(request.get_data(cache=True))
    except orjson.JSONDecodeError:
        return None


def dry_run() -> bool:
    """``?dry_run``, read as ``DryRunQuerySchema`` reads it (unknown parameters refused): a
    query string is parsed only when there is one, as nearly every post has none."""
    if not request.args:
        return False
    query = blp.ARGUMENTS_PARSER.parse(_QUERY, location="query", unknown=ma.RAISE)
    return bool(query["dry_run"])


_QUERY = DryRunQuerySchema()


@blp.route("")
class Purchases(MethodView):
    @requires(Scope.CHECKOUT)
    # The query (``dry_run``) and the body are documented here, and read by ``dry_run`` and
    # ``purchase_command``.
    @blp.doc(requestBody={"required": True,
                          "content": {"application/json": {"schema": PurchaseSchema}}})
    @blp.response(201, PurchaseRecordedSchema)
    @blp.alt_response(200, schema={"oneOf": [
        {"$ref": "#/components/schemas/PurchaseRecorded"},
        {"$ref": "#/components/schemas/Simulation"}]},
        description="A replay (this purchase was already recorded), or a dry run")
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER, _DRY_RUN_PARAMETER])
    def post(self, program: str) -> Any:
        """Record a purchase

        Earns points for the member (named by id or by identity) and answers with the points
        earned (available and pending), the explanation of the calculation and the new balance.
        ``external_id`` (unique per program and ``source``) makes the post idempotent: posting
        the same purchase again answers 200 with the original body and writes nothing; the
        same ``external_id`` with a different payload is a 422. With ``?dry_run=true`` it only
        evaluates and explains (200, a simulation) and writes nothing.
        """
        preview_only = dry_run()
        command = purchase_command(program)
        key = request_key()
        if key is not None:
            command = replace(command, request_key=key)
        if preview_only:
            preview = preview_purchase(context(), command)
            return jsonify(SimulationSchema().dump(preview))
        outcome = record_purchase(context(), command)
        # Dumped by hand as PurchaseRecordedSchema dumps it; @blp.response documents the
        # schema and passes a ready answer through (``created`` makes a replay's 201 a 200).
        answer = json_response(dump_purchase_recorded(outcome.result), 201)
        return created(replace(outcome, result=answer))


# ``.../purchases:batch`` sits beside ``.../purchases`` (a blueprint would add a slash).
batch_blp = Blueprint("purchase_batches", __name__, url_prefix="/v1/programs/<program>",
                      description="Purchases posted in batches.")


@batch_blp.route("/purchases:batch")
class PurchaseBatch(MethodView):
    @requires(Scope.CHECKOUT)
    @batch_blp.arguments(BatchSchema)
    @batch_blp.response(200, BatchResultSchema)
    def post(self, data: dict[str, Any], program: str) -> Any:
        """Record a batch of purchases

        Up to 500 purchases, each validated and recorded as by ``POST .../purchases`` (and
        idempotent per item), in one transaction with a savepoint per item: a bad item is
        answered with its problem without stopping the others. The answer lists every item's
        status (201, 200 for a replay, or its problem's status).
        """
        items: list[dict[str, Any]] = []
        rows = []
        for index, payload in enumerate(data["purchases"]):
            try:
                loaded = PurchaseSchema().load(payload if isinstance(payload, dict) else {})
            except ma.ValidationError as error:
                errors = flatten(error.messages)
                items.append({"index": index, "status": 422, "purchase": None, "problem": {
                    "type": "/problems/validation-error", "title": "Validation error",
                    "status": 422, "errors": errors,
                    "detail": "; ".join(f"{e['field'] or 'body'}: {e['detail']}"
                                        for e in errors)}})
                continue
            rows.append((index, RecordPurchase(program_id=program, **loaded)))

        def heard(index: int, outcome: Any, error: Any) -> None:
            if outcome is not None:
                items.append({"index": index, "status": 200 if outcome.replayed else 201,
                              "purchase": outcome.result, "problem": None})
            else:
                status, body = problem_of(error)
                items.append({"index": index, "status": status, "purchase": None,
                              "problem": body})

        report = import_purchases(context(), rows, batch_size=max(len(rows), 1),
                                  on_row=heard)
        rejected = sum(1 for item in items if item["status"] >= 400)
        return {"imported": report.imported, "duplicates": report.duplicates,
                "rejected": rejected, "results": sorted(items, key=lambda i: i["index"])}

"""Purchases posted by checkouts."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import requires
from api.schemas import (
    DryRunQuerySchema,
    PurchaseRecordedSchema,
    PurchaseSchema,
    SimulationSchema,
)
from api.views import IDEMPOTENCY_KEY_PARAMETER, context, created, request_key
from loyalty.domain.access import Scope
from loyalty.services.purchases import RecordPurchase, record_purchase
from loyalty.services.simulation import preview_purchase

blp = Blueprint(
    "purchases",
    __name__,
    url_prefix="/v1/programs/<program>/purchases",
    description="Purchases posted by checkouts, and the points they earn.",
)


@blp.route("")
class Purchases(MethodView):
    @requires(Scope.CHECKOUT)
    @blp.arguments(DryRunQuerySchema, location="query", unknown=ma.RAISE)
    @blp.arguments(PurchaseSchema)
    @blp.response(201, PurchaseRecordedSchema)
    @blp.alt_response(200, schema={"oneOf": [
        {"$ref": "#/components/schemas/PurchaseRecorded"},
        {"$ref": "#/components/schemas/Simulation"}]},
        description="A replay (this purchase was already recorded), or a dry run")
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, query: dict[str, Any], data: dict[str, Any], program: str) -> Any:
        """Record a purchase

        Earns points for the member (named by id or by identity) and answers with the points
        earned (available and pending), the explanation of the calculation and the new balance.
        ``external_id`` (unique per program and ``source``) makes the post idempotent: posting
        the same purchase again answers 200 with the original body and writes nothing; the
        same ``external_id`` with a different payload is a 422. With ``?dry_run=true`` it only
        evaluates and explains (200, a simulation) and writes nothing.
        """
        command = RecordPurchase(program_id=program, request_key=request_key(), **data)
        if query["dry_run"]:
            preview = preview_purchase(context(), command)
            return jsonify(SimulationSchema().dump(preview))
        return created(record_purchase(context(), command))

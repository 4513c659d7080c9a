"""A member's points: balance, ledger history, debits."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import requires
from api.schemas import (
    BalanceSchema,
    DebitSchema,
    LedgerPageSchema,
    LedgerQuerySchema,
    PointsDebitedSchema,
)
from api.views import IDEMPOTENCY_KEY_PARAMETER, context, created, request_key, settings
from loyalty.domain.access import Scope
from loyalty.domain.errors import InvalidRequest
from loyalty.services import points

blp = Blueprint(
    "points",
    __name__,
    url_prefix="/v1/programs/<program>/members/<member_id>",
    description="A member's points: balance, history and debits.",
)


@blp.route("/balance")
class Balance(MethodView):
    @requires(Scope.CHECKOUT, Scope.AGENT, Scope.MEMBER)
    @blp.response(200, BalanceSchema)
    def get(self, program: str, member_id: str) -> Any:
        """Read the balance

        Available and pending points, lifetime totals, the next expiries (with the last day
        the points can be used, in the program's time zone) and when pending points release.
        """
        return points.get_balance(context(), program, member_id)


@blp.route("/ledger")
class Ledger(MethodView):
    @requires(Scope.AGENT, Scope.MEMBER)
    @blp.arguments(LedgerQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, LedgerPageSchema)
    def get(self, query: dict[str, Any], program: str, member_id: str) -> Any:
        """Page through the ledger

        Newest first; each entry says why it exists. Pass ``next_cursor`` back as ``cursor``
        for the next page.
        """
        limit = query.get("limit", settings().page_size_default)
        if limit > settings().page_size_max:
            raise InvalidRequest(f"limit is at most {settings().page_size_max}", field="limit")
        return points.ledger_history(
            context(), program, member_id, limit=limit, cursor=query.get("cursor")
        )


@blp.route("/debits")
class Debits(MethodView):
    @requires(Scope.CHECKOUT)
    @blp.arguments(DebitSchema)
    @blp.response(201, PointsDebitedSchema)
    @blp.alt_response(200, schema=PointsDebitedSchema, description="Replay of an earlier debit")
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, data: dict[str, Any], program: str, member_id: str) -> Any:
        """Debit points

        Takes points from the soonest-expiring lots first. Never overdraws, even under
        concurrent debits: not enough points is a 409 ``insufficient-points`` problem with
        ``available`` and ``required``. ``external_id`` makes the debit idempotent.
        """
        command = points.DebitPoints(
            program_id=program, member_id=member_id, request_key=request_key(), **data
        )
        return created(points.debit_points(context(), command))

"""A member's points: balance, ledger history, debits."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_principal, requires
from api.schemas import (
    BalanceSchema,
    DebitSchema,
    LedgerPageSchema,
    LedgerQuerySchema,
    PointsDebitedSchema,
    SetTierSchema,
    TierViewSchema,
    dump_balance,
)
from api.views import (
    IDEMPOTENCY_KEY_PARAMETER,
    context,
    created,
    json_response,
    request_key,
    settings,
)
from loyalty.domain.access import Scope
from loyalty.domain.errors import InvalidRequest
from loyalty.services import points, tiers

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
        # Dumped by hand as BalanceSchema dumps it; @blp.response documents the schema and
        # passes a ready answer through.
        return json_response(dump_balance(points.get_balance(context(), program, member_id)))


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


@blp.route("/tier")
class Tier(MethodView):
    @requires(Scope.CHECKOUT, Scope.AGENT, Scope.MEMBER)
    @blp.response(200, TierViewSchema)
    def get(self, program: str, member_id: str) -> Any:
        """Read the tier and its history

        The member's tier, the measure over the current window, the next tier and what is
        still needed for it, when the tier must be requalified and what the member would fall
        to; and every tier change (from, to, when, why).
        """
        view = tiers.tier_view(context(), program, member_id)
        return {"member_id": view.member_id, "history": view.history,
                "tier": points.current_tier_progress(view)}

    @requires(Scope.AGENT)
    @blp.arguments(SetTierSchema)
    @blp.response(200, TierViewSchema)
    def put(self, data: dict[str, Any], program: str, member_id: str) -> Any:
        """Set the tier by hand

        An agent puts the member in a tier, with a reason; until ``until`` it is a floor that
        no period review goes below. Recorded in the tier history and the audit log.
        """
        principal = current_principal()
        view = tiers.set_tier(context(), program, member_id, data["tier"], until=data["until"],
                              reason=data["reason"], actor=principal.actor,
                              acting_person=principal.acting_person)
        return {"member_id": view.member_id, "history": view.history,
                "tier": points.current_tier_progress(view)}

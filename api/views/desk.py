"""The service desk: adjustments (maker-checker), lifecycle, merges, erasure, transfers."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_principal, requires
from api.schemas import (
    AdjustmentListSchema,
    AdjustmentQuerySchema,
    AdjustmentSchema,
    AdjustSchema,
    MemberStateSchema,
    MergedSchema,
    MergeSchema,
    ReasonSchema,
    TransferredSchema,
    TransferSchema,
)
from api.views import IDEMPOTENCY_KEY_PARAMETER, context, created, request_key
from loyalty.domain.access import Scope
from loyalty.services import desk

blp = Blueprint("desk", __name__, url_prefix="/v1/programs/<program>",
                description="The service desk: adjustments, member lifecycle, transfers.")


def _actor() -> desk.Actor:
    principal = current_principal()
    return desk.Actor(principal.actor, principal.acting_person)


@blp.route("/members/<member_id>/adjustments")
class Adjustments(MethodView):
    @requires(Scope.AGENT, Scope.SUPERVISOR)
    @blp.arguments(AdjustSchema)
    @blp.response(201, AdjustmentSchema)
    @blp.alt_response(200, schema=AdjustmentSchema, description="Replay of an adjustment")
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, data: dict[str, Any], program: str, member_id: str) -> Any:
        """Adjust points

        Up or down, with a reason code from the program's list and a note. Within the
        program's per-adjustment and per-day limits it is applied at once (``applied``);
        above them it waits (``pending``) for a supervisor. ``external_id`` makes it
        idempotent.
        """
        command = desk.Adjust(program_id=program, member_id=member_id,
                              request_key=request_key(), **data)
        return created(desk.adjust(context(), command, _actor()))


@blp.route("/adjustments")
class AdjustmentList(MethodView):
    @requires(Scope.AGENT, Scope.SUPERVISOR)
    @blp.arguments(AdjustmentQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, AdjustmentListSchema)
    def get(self, query: dict[str, Any], program: str) -> Any:
        """List adjustments (``?status=pending`` for those awaiting a supervisor)"""
        return {"adjustments": desk.list_adjustments(context(), program, query.get("status"))}


@blp.route("/adjustments/<adjustment_id>/approve")
class AdjustmentApprove(MethodView):
    @requires(Scope.SUPERVISOR)
    @blp.response(200, AdjustmentSchema)
    def post(self, program: str, adjustment_id: str) -> Any:
        """Approve a pending adjustment

        Applies it; the ledger entry names who asked and who approved. No one approves their
        own request (403). An approval that would now overdraw is refused (409) and the
        adjustment stays pending.
        """
        return desk.decide(context(), program, adjustment_id, approve=True, actor=_actor())


@blp.route("/adjustments/<adjustment_id>/reject")
class AdjustmentReject(MethodView):
    @requires(Scope.SUPERVISOR)
    @blp.response(200, AdjustmentSchema)
    def post(self, program: str, adjustment_id: str) -> Any:
        """Reject a pending adjustment"""
        return desk.decide(context(), program, adjustment_id, approve=False, actor=_actor())


def _lifecycle_route(name: str, action: Any, doc: str) -> None:
    class Lifecycle(MethodView):
        @requires(Scope.AGENT)
        @blp.arguments(ReasonSchema)
        @blp.response(200, MemberStateSchema)
        def post(self, data: dict[str, Any], program: str, member_id: str) -> Any:
            return action(context(), program, member_id, data["reason"], _actor())

    Lifecycle.post.__doc__ = doc
    Lifecycle.__name__ = f"Member{name.capitalize()}"
    blp.route(f"/members/<member_id>/{name}")(Lifecycle)


_lifecycle_route("freeze", desk.freeze, """Freeze a member

Suspected fraud or account takeover: the member keeps earning but no point leaves (redeem,
burn, debit, transfer) until unfrozen. The reason is recorded.""")
_lifecycle_route("unfreeze", desk.unfreeze, "Unfreeze a member")
_lifecycle_route("close", desk.close, """Close a member

No more earning. The remaining points are forfeited now or kept for the program's
``closure.keep_days`` (then forfeited by ``loyalty jobs expire``).""")
_lifecycle_route("reopen", desk.reopen, "Reopen a closed member (not a merged or erased one)")


@blp.route("/members/<member_id>/merge")
class Merge(MethodView):
    @requires(Scope.AGENT)
    @blp.arguments(MergeSchema)
    @blp.response(200, MergedSchema)
    def post(self, data: dict[str, Any], program: str, member_id: str) -> Any:
        """Merge a duplicate into this member

        Identities, lots with their expiries, pending points, purchases, vouchers, tier
        qualification and history move here; the duplicate is closed and points here, so its
        old identities find this member.
        """
        return desk.merge(context(), program, member_id, data["merge"], _actor())


@blp.route("/members/<member_id>/erase")
class Erase(MethodView):
    @requires(Scope.SUPERVISOR)
    @blp.response(200, MemberStateSchema)
    def post(self, program: str, member_id: str) -> Any:
        """Erase a member's personal data

        Identities, profile and free text are removed; the member is closed and can no longer
        be found; ledger entries and every figure stay correct.
        """
        return desk.erase(context(), program, member_id, _actor())


@blp.route("/members/<member_id>/transfers")
class Transfers(MethodView):
    @requires(Scope.AGENT, Scope.MEMBER)
    @blp.arguments(TransferSchema)
    @blp.response(201, TransferredSchema)
    @blp.alt_response(200, schema=TransferredSchema, description="Replay of a transfer")
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, data: dict[str, Any], program: str, member_id: str) -> Any:
        """Transfer points to another member

        Only if the program allows it, within its per-transfer and per-period limits, between
        active members; both ledgers are written in one transaction.
        """
        command = desk.Transfer(program_id=program, from_member=member_id,
                                request_key=request_key(), **data)
        return created(desk.transfer(context(), command, _actor()))

"""Rewards, redemptions, vouchers at the till, and returns."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_principal, requires
from api.schemas import (
    CancelPurchaseSchema,
    ConsumeSchema,
    OfferListSchema,
    RedeemedSchema,
    RedeemSchema,
    RedemptionCancelledSchema,
    ReturnRecordedSchema,
    ReturnSchema,
    VoucherSchema,
)
from api.views import IDEMPOTENCY_KEY_PARAMETER, context, created, request_key
from loyalty.domain.access import Scope
from loyalty.domain.errors import InvalidAmount, InvalidRequest
from loyalty.domain.money import Money
from loyalty.services import returns, rewards

blp = Blueprint("rewards", __name__, url_prefix="/v1/programs/<program>",
                description="Rewards and redemptions, vouchers at the till, returns.")


@blp.route("/members/<member_id>/rewards")
class Rewards(MethodView):
    @requires(Scope.CHECKOUT, Scope.AGENT, Scope.MEMBER)
    @blp.response(200, OfferListSchema)
    def get(self, program: str, member_id: str) -> Any:
        """List the rewards the member may take

        Rewards available now (window, tier, stock, per-member limit), each saying whether
        the member can afford it.
        """
        return {"rewards": rewards.catalogue(context(), program, member_id)}


@blp.route("/members/<member_id>/redemptions")
class Redemptions(MethodView):
    @requires(Scope.CHECKOUT, Scope.MEMBER)
    @blp.arguments(RedeemSchema)
    @blp.response(201, RedeemedSchema)
    @blp.alt_response(200, schema=RedeemedSchema, description="Replay of an earlier redemption")
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, data: dict[str, Any], program: str, member_id: str) -> Any:
        """Redeem a reward

        In one transaction: takes the cost from the soonest-expiring points, one unit of
        stock, and issues a voucher. A frozen or closed member cannot redeem (409
        ``member-not-active``); not enough points is 409 ``insufficient-points``; a reward out
        of stock, out of its window, above the member's tier or over its per-member limit is
        409 ``reward-unavailable``. ``external_id`` makes it idempotent.
        """
        command = rewards.Redeem(program_id=program, member_id=member_id,
                                 request_key=request_key(), **data)
        return created(rewards.redeem(context(), command))


@blp.route("/redemptions/<redemption_id>/cancel")
class RedemptionCancel(MethodView):
    @requires(Scope.CHECKOUT, Scope.AGENT)
    @blp.response(200, RedemptionCancelledSchema)
    def post(self, program: str, redemption_id: str) -> Any:
        """Cancel a redemption

        The points go back to the lots they came from, with their original expiry; the unit
        goes back to stock; the voucher is cancelled. A used voucher cannot be cancelled.
        Cancelling twice changes nothing.
        """
        outcome = rewards.cancel_redemption(context(), program, redemption_id,
                                            current_principal().actor)
        return outcome.result


@blp.route("/vouchers/<code>")
class Voucher(MethodView):
    @requires(Scope.CHECKOUT)
    @blp.response(200, VoucherSchema)
    def get(self, program: str, code: str) -> Any:
        """Check a voucher

        Whether it is valid, used, expired or cancelled, and what it gives. Case, spaces and
        dashes in the code do not matter.
        """
        return rewards.check_voucher(context(), program, code)


@blp.route("/vouchers/<code>/consume")
class VoucherConsume(MethodView):
    @requires(Scope.CHECKOUT)
    @blp.arguments(ConsumeSchema)
    @blp.response(200, VoucherSchema)
    def post(self, data: dict[str, Any], program: str, code: str) -> Any:
        """Use a voucher

        Marks it used against a purchase (``reference``). Using it again for the same
        purchase answers the same; for another purchase, or expired or cancelled, is 409
        ``voucher-not-usable``.
        """
        return rewards.consume_voucher(context(), program, code, data["reference"]).result


@blp.route("/purchases/<purchase_id>/returns")
class Returns(MethodView):
    @requires(Scope.CHECKOUT)
    @blp.arguments(ReturnSchema)
    @blp.response(201, ReturnRecordedSchema)
    @blp.alt_response(200, schema=ReturnRecordedSchema, description="Replay of a return")
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, data: dict[str, Any], program: str, purchase_id: str) -> Any:
        """Record a return

        Returned ``lines`` (sku and quantity) or an ``amount``. The purchase's points are
        recomputed on what remains and the difference is reversed (pending points first);
        already-spent points follow the program's negative-balance policy; burned points are
        given back in proportion. ``external_id`` makes it idempotent.
        """
        units: dict[str, int] | None = None
        if "lines" in data:
            units = {}
            for line in data["lines"]:
                units[line["sku"]] = units.get(line["sku"], 0) + line["quantity"]
        amount = None
        if "amount" in data:
            try:
                amount = Money.parse(data["amount"], data["currency"]).minor
            except InvalidAmount as error:
                raise InvalidRequest(error.detail, field="amount") from None
        command = returns.RecordReturn(program_id=program, purchase_id=purchase_id,
                                       external_id=data["external_id"],
                                       occurred_at=data["occurred_at"], lines=units,
                                       amount=amount, currency=data.get("currency"),
                                       request_key=request_key())
        return created(returns.record_return(context(), command))


@blp.route("/purchases/<purchase_id>/cancel")
class PurchaseCancel(MethodView):
    @requires(Scope.CHECKOUT)
    @blp.arguments(CancelPurchaseSchema)
    @blp.response(201, ReturnRecordedSchema)
    @blp.alt_response(200, schema=ReturnRecordedSchema, description="Replay of a cancellation")
    def post(self, data: dict[str, Any], program: str, purchase_id: str) -> Any:
        """Cancel a purchase

        Returns whatever remains of it: every point it still holds is reversed.
        """
        command = returns.RecordReturn(
            program_id=program, purchase_id=purchase_id,
            external_id=data["external_id"] or f"cancel-{purchase_id}", everything=True,
            request_key=request_key())
        return created(returns.record_return(context(), command))

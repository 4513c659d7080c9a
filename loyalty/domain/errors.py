"""Typed domain errors: one vocabulary shared by the use cases, the API and the CLI.

Each error has a stable ``code`` (it becomes the problem ``type`` in the API), a human ``detail``,
and machine-readable ``extensions`` (for example ``available`` and ``required`` on insufficient
points). The API maps each class to an HTTP status in one table.
"""

from __future__ import annotations

from typing import Any


class LoyaltyError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "loyalty-error"
    title = "Loyalty engine error"

    def __init__(self, detail: str, *, field: str | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extensions = extensions


class NotFound(LoyaltyError):
    code = "not-found"
    title = "Not found"


class ProgramNotFound(NotFound):
    code = "program-not-found"
    title = "Program not found"


class MemberNotFound(NotFound):
    code = "member-not-found"
    title = "Member not found"


class VersionNotFound(NotFound):
    code = "version-not-found"
    title = "Program version not found"


class InvalidDefinition(LoyaltyError):
    """A program definition with mistakes; ``problems`` lists each with its path."""

    code = "invalid-definition"
    title = "Invalid program definition"


class Conflict(LoyaltyError):
    code = "conflict"
    title = "Conflict"


class IdentityAlreadyUsed(Conflict):
    code = "identity-already-used"
    title = "Identity already belongs to a member"


class ProgramAlreadyExists(Conflict):
    code = "program-already-exists"
    title = "Program already exists"


class InsufficientPoints(Conflict):
    code = "insufficient-points"
    title = "Insufficient points"


class MemberNotActive(Conflict):
    code = "member-not-active"
    title = "Member is not active"


class IdempotencyKeyReused(LoyaltyError):
    """The same idempotency key (or purchase id) came back with a different request."""

    code = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"


ERASED_ANSWER = {"erased": True}  # what erasure leaves of an answer that named the member


def check_replay(key: str, fingerprint: str, stored_fingerprint: str,
                 stored_answer: dict[str, Any]) -> None:
    """Refuse to replay ``key``'s stored answer for a different request (or an erased one)."""
    if stored_answer == ERASED_ANSWER:
        raise Conflict("this request concerned a member whose data was erased; its answer is "
                       "gone with it")
    if stored_fingerprint != fingerprint:
        kind, _, value = key.partition(":")
        raise IdempotencyKeyReused(f"{kind} key {value!r} was already used for a different "
                                   "request", key=value)


class InvalidRequest(LoyaltyError):
    """A request that is well-formed but breaks a business rule about one field."""

    code = "invalid-request"
    title = "Invalid request"


class InvalidAmount(InvalidRequest):
    code = "invalid-amount"
    title = "Invalid amount"


class CurrencyMismatch(InvalidRequest):
    code = "currency-mismatch"
    title = "Currency does not match the program"


class InvalidIdentity(InvalidRequest):
    code = "invalid-identity"
    title = "Invalid identity"


class Unauthenticated(LoyaltyError):
    """No credentials, or credentials that are not (or no longer) ours."""

    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(LoyaltyError):
    """Valid credentials whose scopes do not reach this route."""

    code = "forbidden"
    title = "Forbidden"


class KeyNotFound(NotFound):
    code = "key-not-found"
    title = "API key not found"


class RewardNotFound(NotFound):
    code = "reward-not-found"
    title = "Reward not found"


class SegmentNotFound(NotFound):
    code = "segment-not-found"
    title = "Segment not found"


class RewardUnavailable(Conflict):
    """The reward exists but this member cannot take it now (stock, window, tier, limit)."""

    code = "reward-unavailable"
    title = "Reward unavailable"


class RewardOutOfStock(RewardUnavailable):
    """Unavailable because no unit is left: the same problem type, and the member is told
    when the reward is back in stock (a proactive notice)."""


class VoucherNotFound(NotFound):
    code = "voucher-not-found"
    title = "Voucher not found"


class VoucherNotUsable(Conflict):
    code = "voucher-not-usable"
    title = "Voucher cannot be used"


class RedemptionNotFound(NotFound):
    code = "redemption-not-found"
    title = "Redemption not found"


class PurchaseNotFound(NotFound):
    code = "purchase-not-found"
    title = "Purchase not found"


class ReturnRefused(Conflict):
    """A return the negative-balance policy refuses, or that returns more than was bought."""

    code = "return-refused"
    title = "Return refused"


class AdjustmentNotFound(NotFound):
    code = "adjustment-not-found"
    title = "Adjustment not found"


class TransfersDisabled(Conflict):
    code = "transfers-disabled"
    title = "Transfers are off in this program"


class WebhookNotFound(NotFound):
    code = "webhook-not-found"
    title = "Webhook endpoint not found"


class DeliveryNotFound(NotFound):
    code = "delivery-not-found"
    title = "Webhook delivery not found"

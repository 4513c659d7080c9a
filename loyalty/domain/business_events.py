"""Business events: what changed, told to the outside world through the outbox and webhooks.

Each event is written to the outbox (``domain_events``) in the transaction of the change it
reports, so an event exists if and only if its change was committed. This module names the event
types and builds their payloads; it is pure (no database): a use case passes what it already
has, and ``uow.outbox.emit(**event)`` writes the row. The bulk importer builds the same rows
with the same functions (``points_earned``) and inserts them many at a time.

Payloads carry ids, points, money as decimal strings, instants as ISO 8601 text, balances after
the change and reason codes or the ledger entry's reason; NEVER personal data (no e-mail, phone,
name, birth date, identity values, profile attributes or free text typed by a person such as
adjustment notes or survey comments), so that a member's erasure leaves nothing personal in
the outbox nor in what was sent. The member is named by its id only (in the row, and in each
webhook's ``data.member_id``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from loyalty.domain.ledger import Balance
from loyalty.domain.notices import NoticeKind

POINTS_EARNED = "points.earned"
POINTS_RELEASED = "points.released"
POINTS_REDEEMED = "points.redeemed"
POINTS_EXPIRED = "points.expired"
POINTS_REVERSED = "points.reversed"
POINTS_ADJUSTED = "points.adjusted"
POINTS_TRANSFERRED = "points.transferred"
TIER_UPGRADED = "tier.upgraded"
TIER_DOWNGRADED = "tier.downgraded"
TIER_WILL_DROP = "tier.will_drop"
TIER_DROP_CANCELLED = "tier.drop_cancelled"
VOUCHER_ISSUED = "voucher.issued"
VOUCHER_CONSUMED = "voucher.consumed"
VOUCHER_CANCELLED = "voucher.cancelled"
MEMBER_MERGED = "member.merged"
MEMBER_ERASED = "member.erased"

# Events other parts of the engine emit with their own payloads (surveys, referrals; the
# notices job's ``notice.<kind>`` types are added by ``known_event_types``).
FEEDBACK_RECORDED = "feedback.recorded"
REFERRAL_STARTED = "referral.started"
REFERRAL_REJECTED = "referral.rejected"
REFERRAL_COMPLETED = "referral.completed"

BUSINESS_EVENT_TYPES = (
    POINTS_EARNED,
    POINTS_RELEASED,
    POINTS_REDEEMED,
    POINTS_EXPIRED,
    POINTS_REVERSED,
    POINTS_ADJUSTED,
    POINTS_TRANSFERRED,
    TIER_UPGRADED,
    TIER_DOWNGRADED,
    TIER_WILL_DROP,
    TIER_DROP_CANCELLED,
    VOUCHER_ISSUED,
    VOUCHER_CONSUMED,
    VOUCHER_CANCELLED,
    MEMBER_MERGED,
    MEMBER_ERASED,
    FEEDBACK_RECORDED,
    REFERRAL_STARTED,
    REFERRAL_REJECTED,
    REFERRAL_COMPLETED,
)


def known_event_types() -> tuple[str, ...]:
    """Every event type a webhook endpoint may subscribe to, sorted."""
    return tuple(sorted({*BUSINESS_EVENT_TYPES, *(kind.event_type for kind in NoticeKind)}))


def _at(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _balance(balance: Balance) -> dict[str, int]:
    return {"available": balance.available, "pending": balance.pending}


def event(
    type: str,
    *,
    program_id: str,
    member_id: str | None,
    occurred_at: datetime,
    recorded_at: datetime,
    **payload: Any,
) -> dict[str, Any]:
    """One outbox row: ``uow.outbox.emit(**event(...))``."""
    return {
        "program_id": program_id,
        "member_id": member_id,
        "type": type,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "payload": payload,
    }


def points_earned(
    *,
    program_id: str,
    member_id: str,
    occurred_at: datetime,
    recorded_at: datetime,
    points: int,
    pending: bool,
    entry_id: int,
    balance: Balance,
    reason: str,
    purchase_id: str | None = None,
    event_id: str | None = None,
    available_at: datetime | None = None,
    expires_at: datetime | None = None,
    program_version: int | None = None,
    rules: Sequence[str] = (),
    debt_paid: int = 0,
) -> dict[str, Any]:
    """Points earned by a purchase (``purchase_id``), a member event (``event_id``) or a tier
    bonus: available at once, or ``pending`` until ``available_at`` (the return window)."""
    return event(
        POINTS_EARNED,
        program_id=program_id,
        member_id=member_id,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        points=points,
        status="pending" if pending else "available",
        available_at=_at(available_at),
        expires_at=_at(expires_at),
        purchase_id=purchase_id,
        event_id=event_id,
        entry_id=entry_id,
        program_version=program_version,
        rules=list(rules),
        debt_paid=debt_paid,
        reason=reason,
        balance=_balance(balance),
    )


def points_released(
    *,
    program_id: str,
    member_id: str,
    occurred_at: datetime,
    recorded_at: datetime,
    points: int,
    entry_id: int,
    purchase_id: str | None,
    debt_paid: int,
    balance: Balance,
) -> dict[str, Any]:
    """Pending points that became available: their purchase's return window closed."""
    return event(
        POINTS_RELEASED,
        program_id=program_id,
        member_id=member_id,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        points=points,
        purchase_id=purchase_id,
        entry_id=entry_id,
        debt_paid=debt_paid,
        balance=_balance(balance),
    )


def points_redeemed(
    *,
    program_id: str,
    member_id: str,
    occurred_at: datetime,
    recorded_at: datetime,
    points: int,
    entry_id: int,
    reason: str | None,
    balance: Balance,
    reward_id: str | None = None,
    redemption_id: str | None = None,
    purchase_id: str | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    """Points spent: on a reward (``reward_id``, ``redemption_id``), to pay part of a purchase
    at the till (``purchase_id``), or by a debit (its ``external_id``; a debit's reason is the
    caller's free text, so it stays out: ``None``)."""
    return event(
        POINTS_REDEEMED,
        program_id=program_id,
        member_id=member_id,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        points=points,
        reward_id=reward_id,
        redemption_id=redemption_id,
        purchase_id=purchase_id,
        external_id=external_id,
        entry_id=entry_id,
        reason=reason,
        balance=_balance(balance),
    )


def points_expired(
    *,
    program_id: str,
    member_id: str,
    occurred_at: datetime,
    recorded_at: datetime,
    points: int,
    cause: str,
    entry_ids: Iterable[int],
    balance: Balance,
    expired: Sequence[tuple[int, datetime]] = (),
) -> dict[str, Any]:
    """Points that expired: ``cause`` is ``expiry`` (lots past their date, ``expired`` lists
    (points, expires_at) per date), ``inactivity`` or ``closure`` (a closed account's points
    forfeited). One event per member and expiry pass, however many lots."""
    return event(
        POINTS_EXPIRED,
        program_id=program_id,
        member_id=member_id,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        points=points,
        cause=cause,
        expired=[{"points": p, "expires_at": _at(at)} for p, at in expired],
        entry_ids=list(entry_ids),
        balance=_balance(balance),
    )


def points_reversed(
    *,
    program_id: str,
    member_id: str,
    occurred_at: datetime,
    recorded_at: datetime,
    points: int,
    not_reversed: int,
    given_back: int,
    purchase_id: str,
    return_id: str,
    balance: Balance,
) -> dict[str, Any]:
    """A return (or cancellation) of a purchase took back what it earned: ``points``
    reversed, ``points_not_reversed`` (already spent, under the clamp policy) and burned points
    ``points_given_back``."""
    return event(
        POINTS_REVERSED,
        program_id=program_id,
        member_id=member_id,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        points=points,
        points_not_reversed=not_reversed,
        points_given_back=given_back,
        purchase_id=purchase_id,
        return_id=return_id,
        debt=balance.debt,
        balance=_balance(balance),
    )


def points_adjusted(
    *,
    program_id: str,
    member_id: str,
    occurred_at: datetime,
    recorded_at: datetime,
    points: int,
    adjustment_id: str | None,
    reason_code: str,
    entry_id: int,
    approved: bool,
    balance: Balance,
) -> dict[str, Any]:
    """An agent's adjustment, up (positive) or down, applied at once or once approved. The
    agent's note is free text and stays out of the payload."""
    return event(
        POINTS_ADJUSTED,
        program_id=program_id,
        member_id=member_id,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        points=points,
        adjustment_id=adjustment_id,
        reason_code=reason_code,
        entry_id=entry_id,
        approved=approved,
        balance=_balance(balance),
    )


def points_transferred(
    *,
    program_id: str,
    member_id: str,
    occurred_at: datetime,
    recorded_at: datetime,
    points: int,
    transfer_id: str,
    from_member: str,
    to_member: str,
    balance: Balance,
) -> dict[str, Any]:
    """One side of a transfer between members: negative ``points`` for the sender, positive
    for the receiver (each gets its own event)."""
    return event(
        POINTS_TRANSFERRED,
        program_id=program_id,
        member_id=member_id,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        points=points,
        transfer_id=transfer_id,
        from_member_id=from_member,
        to_member_id=to_member,
        balance=_balance(balance),
    )


def voucher_issued(
    *,
    program_id: str,
    member_id: str,
    at: datetime,
    redemption_id: str,
    reward_id: str,
    code: str,
    points: int,
    expires_at: datetime,
) -> dict[str, Any]:
    """A reward was redeemed: its voucher (the code is what the till validates)."""
    return event(
        VOUCHER_ISSUED,
        program_id=program_id,
        member_id=member_id,
        occurred_at=at,
        recorded_at=at,
        redemption_id=redemption_id,
        reward_id=reward_id,
        voucher_code=code,
        points=points,
        expires_at=_at(expires_at),
    )


def voucher_consumed(
    *,
    program_id: str,
    member_id: str,
    at: datetime,
    redemption_id: str,
    reward_id: str,
    code: str,
    reference: str,
) -> dict[str, Any]:
    """A voucher was used at the till against ``reference`` (the purchase)."""
    return event(
        VOUCHER_CONSUMED,
        program_id=program_id,
        member_id=member_id,
        occurred_at=at,
        recorded_at=at,
        redemption_id=redemption_id,
        reward_id=reward_id,
        voucher_code=code,
        reference=reference,
    )


def voucher_cancelled(
    *,
    program_id: str,
    member_id: str,
    at: datetime,
    redemption_id: str,
    reward_id: str,
    code: str,
    points: int,
    balance: Balance,
) -> dict[str, Any]:
    """A redemption was cancelled: its voucher is void and its points are back."""
    return event(
        VOUCHER_CANCELLED,
        program_id=program_id,
        member_id=member_id,
        occurred_at=at,
        recorded_at=at,
        redemption_id=redemption_id,
        reward_id=reward_id,
        voucher_code=code,
        points=points,
        balance=_balance(balance),
    )


def member_merged(
    *,
    program_id: str,
    member_id: str,
    at: datetime,
    survivor_id: str,
    points_moved: int,
    pending_moved: int,
    tier: str | None,
    survivor_balance: Balance,
) -> dict[str, Any]:
    """``member_id`` (the duplicate) moved into ``survivor_id``. The event belongs to the
    duplicate's stream, after everything that happened to it, and is its last."""
    return event(
        MEMBER_MERGED,
        program_id=program_id,
        member_id=member_id,
        occurred_at=at,
        recorded_at=at,
        survivor_id=survivor_id,
        points_moved=points_moved,
        pending_moved=pending_moved,
        tier=tier,
        survivor_balance=_balance(survivor_balance),
    )


def member_erased(*, program_id: str, member_id: str, at: datetime) -> dict[str, Any]:
    """The member's personal data was erased: receivers delete what they hold of it."""
    return event(
        MEMBER_ERASED, program_id=program_id, member_id=member_id, occurred_at=at, recorded_at=at
    )

"""Recording a purchase: the checkout's hot path.

One transaction: claim the purchase's idempotency keys, read the member's status, evaluate the
earn seam, insert the purchase, append the earn entry and its lot, update the summary row.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from loyalty.domain.basket import Basket, PurchaseLine
from loyalty.domain.errors import CurrencyMismatch, InvalidRequest, MemberNotActive, MemberNotFound
from loyalty.domain.ledger import BalanceChange, EntryKind, LotStatus, NewEntry
from loyalty.domain.members import MemberStatus, new_id
from loyalty.domain.money import format_minor
from loyalty.domain.time import utc
from loyalty.rules.earning import calculator_for
from loyalty.services.context import Context
from loyalty.services.idempotency import (
    IdempotencyKey,
    Outcome,
    claims,
    dump,
    fingerprint,
    load,
    serialisable,
)
from loyalty.services.members import MemberRef, resolve_member_id


@dataclass(frozen=True)
class DeclaredTotals:
    """Totals as the checkout computed them; when given, they must match the lines."""

    total: int | None = None
    tax: int | None = None
    discount: int | None = None


@dataclass(frozen=True)
class RecordPurchase:
    program_id: str
    member: MemberRef
    external_id: str
    occurred_at: datetime
    currency: str
    lines: tuple[PurchaseLine, ...]
    source: str = "default"
    channel: str = "pos"
    store: str | None = None
    shipping: int = 0
    totals: DeclaredTotals = DeclaredTotals()
    promo_codes: tuple[str, ...] = ()
    request_key: IdempotencyKey | None = None


@dataclass(frozen=True)
class BalanceSnapshot:
    available: int
    pending: int


@dataclass(frozen=True)
class PurchaseRecorded:
    purchase_id: str
    member_id: str
    external_id: str
    source: str
    occurred_at: datetime
    currency: str
    total: str
    earn_base: str
    points_earned: int
    points_available: int
    points_pending: int
    available_at: datetime | None
    expires_at: datetime | None
    explanation: tuple[dict[str, object], ...]
    balance: BalanceSnapshot


def record_purchase(ctx: Context, command: RecordPurchase) -> Outcome[PurchaseRecorded]:
    command = replace(command, occurred_at=utc(command.occurred_at))
    now = ctx.clock.now()
    if command.occurred_at > now + ctx.future_tolerance:
        raise InvalidRequest("occurred_at is in the future", field="occurred_at")
    basket = Basket(
        currency=command.currency,
        occurred_at=command.occurred_at,
        lines=command.lines,
        shipping=command.shipping,
        channel=command.channel,
        store=command.store,
        promo_codes=command.promo_codes,
    )
    _check_totals(basket, command.totals)
    natural = (
        f"purchase:{command.source}:{command.external_id}",
        fingerprint(replace(command, request_key=None)),
    )

    with ctx.uow() as uow:
        program = uow.programs.get(command.program_id)
        keys = claims(natural, command.request_key)
        stored = uow.idempotency.claim(program.id, keys, now)
        if stored is not None:
            return Outcome(load(PurchaseRecorded, stored), replayed=True)
        if command.currency != program.currency:
            raise CurrencyMismatch(
                f"this program runs in {program.currency}, not {command.currency}",
                field="currency",
            )
        member_id = resolve_member_id(uow, program.id, command.member)
        status = uow.members.status_of(program.id, member_id)
        if status is None:
            raise MemberNotFound(
                f"there is no member {member_id!r} in this program", field="member"
            )
        if status is MemberStatus.CLOSED:
            raise MemberNotActive("a closed member no longer earns points", status=status.value)

        earned = calculator_for(program.settings).evaluate(basket)
        purchase_id = new_id("pur")
        uow.purchases.add(
            id=purchase_id,
            program_id=program.id,
            member_id=member_id,
            source=command.source,
            external_id=command.external_id,
            occurred_at=command.occurred_at,
            recorded_at=now,
            channel=command.channel,
            store=command.store,
            currency=command.currency,
            total=basket.total,
            tax=basket.tax,
            discount=basket.discount,
            shipping=basket.shipping,
            earn_base=earned.earn_base,
            points_earned=earned.points,
            lines=[_line_json(line) for line in basket.lines],
        )
        settings = program.settings
        available_at = settings.pending.available_at(command.occurred_at)
        if available_at is not None and available_at <= now:
            available_at = None  # a late-posted purchase whose return window already closed
        expires_at = settings.expiry.expires_at(command.occurred_at, program.tz)
        explanation = tuple(line.as_dict() for line in earned.explanation)
        if earned.points > 0:
            pending = available_at is not None
            lot_id = uow.ledger.add_lot(
                program_id=program.id,
                member_id=member_id,
                purchase_id=purchase_id,
                points=earned.points,
                status=LotStatus.PENDING if pending else LotStatus.AVAILABLE,
                earned_at=command.occurred_at,
                available_at=available_at,
                expires_at=expires_at,
            )
            uow.ledger.append(
                program.id,
                member_id,
                NewEntry(
                    kind=EntryKind.PENDING_EARN if pending else EntryKind.EARN,
                    points=earned.points,
                    available_delta=0 if pending else earned.points,
                    pending_delta=earned.points if pending else 0,
                    occurred_at=command.occurred_at,
                    reason=f"purchase {command.external_id}",
                    purchase_id=purchase_id,
                    lot_id=lot_id,
                    rule_id=earned.rule_id,
                    rule_version=earned.rule_version,
                    explanation=explanation,
                ),
                now,
            )
            balance = uow.ledger.apply(
                member_id,
                BalanceChange(
                    available=0 if pending else earned.points,
                    pending=earned.points if pending else 0,
                    lifetime_earned=earned.points,
                ),
                now,
            )
        else:
            pending = False
            balance = uow.ledger.balance(member_id)
        result = PurchaseRecorded(
            purchase_id=purchase_id,
            member_id=member_id,
            external_id=command.external_id,
            source=command.source,
            occurred_at=command.occurred_at,
            currency=command.currency,
            total=format_minor(basket.total, basket.currency),
            earn_base=format_minor(earned.earn_base, basket.currency),
            points_earned=earned.points,
            points_available=0 if pending else earned.points,
            points_pending=earned.points if pending else 0,
            available_at=available_at if earned.points > 0 else None,
            expires_at=expires_at if earned.points > 0 else None,
            explanation=explanation,
            balance=BalanceSnapshot(balance.available, balance.pending),
        )
        uow.idempotency.store(program.id, [k for k, _ in keys], dump(result))
        uow.commit()
    return Outcome(result)


def _check_totals(basket: Basket, declared: DeclaredTotals) -> None:
    for name, computed in (
        ("total", basket.total),
        ("tax", basket.tax),
        ("discount", basket.discount),
    ):
        given = getattr(declared, name)
        if given is not None and given != computed:
            raise InvalidRequest(
                f"totals.{name} is {format_minor(given, basket.currency)} but the lines "
                f"add up to {format_minor(computed, basket.currency)}",
                field=f"totals.{name}",
            )
    for index, line in enumerate(basket.lines):
        if line.amount < 0:
            raise InvalidRequest(
                "a line's discount exceeds its price", field=f"lines.{index}.discount"
            )
        if line.tax > line.amount:
            raise InvalidRequest("a line's tax exceeds its amount", field=f"lines.{index}.tax")


def _line_json(line: PurchaseLine) -> dict[str, object]:
    return {
        "sku": line.sku,
        "category": line.category,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "discount": line.discount,
        "tax": line.tax,
        "tags": list(line.tags),
    }


serialisable(RecordPurchase, PurchaseRecorded)

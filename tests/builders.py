"""Small domain-language builders, so that tests read as the scenario they check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from loyalty.domain.basket import PurchaseLine
from loyalty.domain.members import Identity, Member
from loyalty.domain.money import Money
from loyalty.rules.program import Program
from loyalty.services.context import Context
from loyalty.services.members import EnrollMember, MemberRef, enroll_member
from loyalty.services.points import DebitPoints, PointsDebited, debit_points
from loyalty.services.programs import CreateProgram, create_program
from loyalty.services.purchases import PurchaseRecorded, RecordPurchase, record_purchase

PROGRAM = "shop"
_counter = iter(range(1, 10**9))


def a_program(
    ctx: Context,
    program_id: str = PROGRAM,
    *,
    currency: str = "EUR",
    time_zone: str = "Europe/Paris",
    **settings: Any,
) -> Program:
    """A program earning 1 point per EUR (floor), unless ``settings`` say otherwise."""
    return create_program(
        ctx, CreateProgram(program_id, f"Program {program_id}", currency, time_zone, settings)
    )


def a_member(ctx: Context, *identities: str, program_id: str = PROGRAM) -> Member:
    identities = identities or (f"card:{next(_counter):08d}",)
    return enroll_member(
        ctx, EnrollMember(program_id, tuple(Identity.parse(i) for i in identities))
    ).result


def a_purchase(
    member: Member | str,
    amount: str = "10.00",
    *,
    external_id: str | None = None,
    occurred_at: datetime | None = None,
    program_id: str = PROGRAM,
    currency: str = "EUR",
    **fields: Any,
) -> RecordPurchase:
    """A one-line purchase of ``amount`` (tax 0) by ``member`` (a Member, or ``"card:..."``)."""
    if isinstance(member, Member):
        ref = MemberRef(member_id=member.id)
    else:
        ref = MemberRef(identity=Identity.parse(member))
    fields.setdefault("lines", (PurchaseLine("SKU-1", 1, Money.parse(amount, currency).minor),))
    return RecordPurchase(
        program_id=program_id,
        member=ref,
        external_id=external_id or f"T-{next(_counter)}",
        occurred_at=occurred_at or datetime.now(UTC),
        currency=currency,
        **fields,
    )


def earn(ctx: Context, member: Member, points: int, **fields: Any) -> PurchaseRecorded:
    """Post a purchase worth ``points`` whole euros (1 point per EUR programs)."""
    return record_purchase(ctx, a_purchase(member, f"{points}.00", **fields)).result


def debit(
    ctx: Context,
    member: Member,
    points: int,
    external_id: str | None = None,
    program_id: str = PROGRAM,
) -> PointsDebited:
    return debit_points(
        ctx, DebitPoints(program_id, member.id, points, external_id or f"D-{next(_counter)}")
    ).result

"""A small demo program, loaded by ``make run`` into an empty database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from loyalty.domain.basket import PurchaseLine
from loyalty.domain.members import Identity
from loyalty.services.access import Actor, CreateKey, create_key
from loyalty.services.context import Context
from loyalty.services.members import EnrollMember, MemberRef, enroll_member
from loyalty.services.programs import CreateProgram, create_program
from loyalty.services.purchases import RecordPurchase, record_purchase

DEMO_SETTINGS = {
    "earn": {"points_per_unit": "1", "rounding": "floor"},
    "pending": {"days": 0},
    "expiry": {"mode": "after", "period": 12, "unit": "months", "rounding": "end_of_month"},
}


DEMO_SCOPES = ("checkout", "agent", "supervisor", "marketer", "admin")


@dataclass(frozen=True)
class DemoLoaded:
    program_id: str
    members: tuple[tuple[str, str], ...]  # (member id, identity)
    keys: tuple[tuple[str, str], ...]  # (scope, key): one demo key per scope


def load_demo(ctx: Context, program_id: str = "demo") -> DemoLoaded | None:
    """Create the demo program, two members and a key per scope, if there is no program yet."""
    with ctx.uow(read_only=True) as uow:
        if uow.programs.list_ids():
            return None
    create_program(
        ctx, CreateProgram(program_id, "Demo Coffee & Co", "EUR", "Europe/Paris", DEMO_SETTINGS)
    )
    ada = enroll_member(
        ctx,
        EnrollMember(
            program_id,
            (Identity.of("card", "1234 5678"), Identity.of("email", "ada@example.com")),
            {"first_name": "Ada", "birth_date": "1990-12-10"},
        ),
    ).result
    grace = enroll_member(
        ctx,
        EnrollMember(
            program_id, (Identity.of("phone", "+33 6 12 34 56 78"),), {"first_name": "Grace"}
        ),
    ).result
    record_purchase(
        ctx,
        RecordPurchase(
            program_id=program_id,
            member=MemberRef(member_id=ada.id),
            external_id="DEMO-0001",
            occurred_at=ctx.clock.now() - timedelta(days=3),
            currency="EUR",
            store="paris-01",
            lines=(
                PurchaseLine("ESPRESSO-BEANS", 2, 1290, tax=215, category="coffee"),
                PurchaseLine("MUG", 1, 900, discount=100, tax=133, category="merch"),
            ),
        ),
    )
    keys = tuple(
        (scope, create_key(ctx, CreateKey(f"demo {scope} key", (scope,), program_id),
                           Actor("cli:demo")).secret)
        for scope in DEMO_SCOPES
    )
    return DemoLoaded(program_id, ((ada.id, "card:12345678"), (grace.id, "phone:+33612345678")),
                      keys)

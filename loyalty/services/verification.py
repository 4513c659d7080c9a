"""The ledger's invariants, checked over every member (``loyalty ledger verify``).

For every member: the summary row equals the sums of its entries (available, pending and each
lifetime total); available and pending equal what the member's lots hold; every lot's remainder
equals its points less what entries took from it, and is never negative; every entry has a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.services.context import Context


@dataclass(frozen=True)
class Breach:
    member_id: str
    problem: str


@dataclass(frozen=True)
class VerificationReport:
    members_checked: int
    breaches: tuple[Breach, ...]

    @property
    def ok(self) -> bool:
        return not self.breaches


def verify_ledger(ctx: Context) -> VerificationReport:
    with ctx.uow(read_only=True) as uow:
        members = uow.ledger.member_count()
        breaches = uow.ledger.breaches()
    return VerificationReport(members, tuple(Breach(m, p) for m, p in breaches))

"""Scheduled jobs: expire points, release pending points.

Both are idempotent (a second run finds nothing left to do) and safe to run while purchases and
debits arrive and while another copy of the job runs: each member is locked before its lots are
re-read, and work is committed in batches so a stopped job loses at most one batch of progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from loyalty.domain.business_events import points_released
from loyalty.domain.ledger import (
    Allocation,
    BalanceChange,
    EntryKind,
    ExpiryMode,
    NewEntry,
    PeriodUnit,
)
from loyalty.services.context import Context
from loyalty.services.desk import forfeit_closed
from loyalty.services.ledger_writes import expire_due_lots, expire_if_inactive


@dataclass(frozen=True)
class JobReport:
    members: int
    points: int
    entries: int


def expire_points(ctx: Context, *, batch_size: int = 500) -> JobReport:
    """Expire what is left of every lot past its expiry, one expire entry per member and
    instant; and, in programs whose policy is inactivity, every point of members inactive for
    too long."""
    now = ctx.clock.now()
    members = points = entries = 0
    zones: dict[str, str] = {}
    while True:
        with ctx.uow() as uow:
            member_ids = uow.ledger.members_with_lots_due_to_expire(now, batch_size)
            if not member_ids:
                break
            for member_id in member_ids:
                program_id = uow.ledger.program_of_member(member_id)
                if program_id not in zones:
                    zones[program_id] = uow.programs.get(program_id).time_zone
                uow.ledger.lock_member(member_id)
                lots = uow.ledger.available_lots(member_id)
                _, expired, written = expire_due_lots(uow, program_id, member_id, lots, now,
                                                      zones[program_id])
                if expired:
                    members += 1
                    points += expired
                    entries += written
            uow.commit()
    inactive = _expire_inactive(ctx, now, batch_size)
    closed = forfeit_closed(ctx)  # closed accounts whose points were kept for a while
    return JobReport(members + inactive.members, points + inactive.points + closed,
                     entries + inactive.entries)


def _expire_inactive(ctx: Context, now: datetime, batch_size: int) -> JobReport:
    members = points = 0
    with ctx.uow(read_only=True) as uow:
        programs = [uow.programs.get(pid) for pid in uow.programs.list_ids()]
        policies = {p.id: uow.programs.compiled_at(p, now).definition.settings.expiry
                    for p in programs}
    for program in programs:
        policy = policies[program.id]
        if policy.mode is not ExpiryMode.INACTIVITY:
            continue
        # A loose bound (rounding only ever extends the deadline); each member is checked
        # exactly, locked, before anything expires.
        days = policy.period * (28 if policy.unit is PeriodUnit.MONTHS else 1)
        before = now - timedelta(days=days)
        after: str | None = None
        while True:
            with ctx.uow() as uow:
                page = uow.ledger.inactive_members(program.id, before, after=after,
                                                   limit=batch_size)
                for member_id, _ in page:
                    balance = uow.ledger.lock_member(member_id)
                    lots = uow.ledger.available_lots(member_id)
                    alive = expire_if_inactive(uow, program, member_id, lots, policy, now)
                    if not alive and lots:
                        members += 1
                        points += balance.available - uow.ledger.balance(member_id).available
                uow.commit()
            if len(page) < batch_size:
                break
            after = page[-1][0]
    return JobReport(members, points, members)


def release_pending(ctx: Context, *, batch_size: int = 500) -> JobReport:
    """Make pending points available once their return window has closed."""
    now = ctx.clock.now()
    members: set[str] = set()
    points = entries = 0
    while True:
        with ctx.uow() as uow:
            due = uow.ledger.pending_lots_due(now, batch_size)
            if not due:
                break
            for lot_id, program_id, member_id, purchase_id, available_at in due:
                uow.ledger.lock_member(member_id)
                remaining = uow.ledger.release_lot(lot_id)
                if remaining is None:
                    continue  # another run released it first
                members.add(member_id)
                if remaining == 0:
                    continue  # everything was reversed while pending: nothing to release
                entry_id = uow.ledger.append(
                    program_id,
                    member_id,
                    NewEntry(
                        kind=EntryKind.RELEASE,
                        points=remaining,
                        available_delta=remaining,
                        pending_delta=-remaining,
                        occurred_at=available_at,
                        reason="pending points became available: the return window closed",
                        purchase_id=purchase_id,
                        lot_id=lot_id,
                    ),
                    now,
                )
                paid = min(remaining, uow.ledger.lock_member(member_id).debt)
                if paid:  # a return left a debt: released points pay it first
                    uow.ledger.take_from_lots(entry_id, [Allocation(lot_id, paid)])
                balance = uow.ledger.apply(
                    member_id,
                    BalanceChange(available=remaining, pending=-remaining, debt=-paid),
                    now,
                )
                uow.outbox.emit(**points_released(
                    program_id=program_id, member_id=member_id, occurred_at=available_at,
                    recorded_at=now, points=remaining, entry_id=entry_id,
                    purchase_id=purchase_id, debt_paid=paid, balance=balance))
                points += remaining
                entries += 1
            uow.commit()
    return JobReport(len(members), points, entries)

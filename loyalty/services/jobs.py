"""Scheduled jobs: expire points, release pending points.

Both are idempotent (a second run finds nothing left to do) and safe to run while purchases and
debits arrive and while another copy of the job runs: each member is locked before its lots are
re-read, and work is committed in batches so a stopped job loses at most one batch of progress.
"""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.domain.ledger import BalanceChange, EntryKind, NewEntry
from loyalty.services.context import Context
from loyalty.services.ledger_writes import expire_due_lots


@dataclass(frozen=True)
class JobReport:
    members: int
    points: int
    entries: int


def expire_points(ctx: Context, *, batch_size: int = 500) -> JobReport:
    """Expire what is left of every lot past its expiry, one expire entry per member and instant."""
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
                _, expired, written = expire_due_lots(
                    uow, program_id, member_id, lots, now, zones[program_id]
                )
                if expired:
                    members += 1
                    points += expired
                    entries += written
            uow.commit()
    return JobReport(members, points, entries)


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
                uow.ledger.append(
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
                uow.ledger.apply(
                    member_id, BalanceChange(available=remaining, pending=-remaining), now
                )
                points += remaining
                entries += 1
            uow.commit()
    return JobReport(len(members), points, entries)

"""The ledger's write steps shared by use cases and jobs (all within the caller's transaction).

Every read-then-write of a member's points starts with ``lock_member``; see ``adapters.db``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from loyalty.domain.business_events import points_expired
from loyalty.domain.ledger import (
    Allocation,
    BalanceChange,
    EntryKind,
    ExpiryMode,
    ExpiryPolicy,
    Lot,
    NewEntry,
    last_usable_day,
)
from loyalty.domain.time import zone


def expire_due_lots(
    uow: Any,
    program_id: str,
    member_id: str,
    lots: list[Lot],
    now: datetime,
    time_zone: str | None = None,
) -> tuple[list[Lot], int, int]:
    """Expire what is left of ``lots`` past their expiry; return the lots still alive, the
    points expired and the entries written. One expire entry per expiry instant, dated then,
    and one ``points.expired`` event for them all."""
    due: dict[datetime, list[Lot]] = defaultdict(list)
    alive: list[Lot] = []
    for lot in lots:
        if lot.is_due_to_expire(now):
            assert lot.expires_at is not None
            due[lot.expires_at].append(lot)
        else:
            alive.append(lot)
    expired_total = 0
    tz = zone(time_zone) if time_zone else None
    entry_ids: list[int] = []
    expired: list[tuple[int, datetime]] = []
    balance = None
    for expires_at in sorted(due):
        group = due[expires_at]
        points = sum(lot.remaining for lot in group)
        when = f" (last usable day {last_usable_day(expires_at, tz).isoformat()})" if tz else ""
        entry_id = uow.ledger.append(
            program_id,
            member_id,
            NewEntry(
                kind=EntryKind.EXPIRE,
                points=-points,
                available_delta=-points,
                pending_delta=0,
                occurred_at=expires_at,
                reason=f"{points} points expired unused{when}",
            ),
            now,
        )
        uow.ledger.take_from_lots(entry_id, [Allocation(lot.id, lot.remaining) for lot in group])
        balance = uow.ledger.apply(member_id, BalanceChange(available=-points,
                                                            lifetime_expired=points), now)
        expired_total += points
        entry_ids.append(entry_id)
        expired.append((points, expires_at))
    if balance is not None:
        uow.outbox.emit(**points_expired(
            program_id=program_id, member_id=member_id, occurred_at=expired[-1][1],
            recorded_at=now, points=expired_total, cause="expiry", entry_ids=entry_ids,
            balance=balance, expired=expired))
    return alive, expired_total, len(due)


def expire_if_inactive(uow: Any, program: Any, member_id: str, lots: list[Lot],
                       policy: ExpiryPolicy, now: datetime) -> list[Lot]:
    """Under the inactivity policy, expire every point of a member inactive for too long
    (within the caller's transaction, the member locked); return the lots still alive."""
    if policy.mode is not ExpiryMode.INACTIVITY or not lots:
        return lots
    last = uow.ledger.last_activity(member_id)
    deadline = policy.inactive_from(last, program.tz) if last is not None else None
    if deadline is None or deadline > now:
        return lots
    points = sum(lot.remaining for lot in lots)
    if points <= 0:
        return lots
    entry_id = uow.ledger.append(
        program.id,
        member_id,
        NewEntry(
            kind=EntryKind.EXPIRE,
            points=-points,
            available_delta=-points,
            pending_delta=0,
            occurred_at=deadline,
            reason=(f"{points} points expired: no activity for {policy.period} "
                    f"{policy.unit.value} (last usable day "
                    f"{last_usable_day(deadline, program.tz).isoformat()})"),
        ),
        now,
    )
    uow.ledger.take_from_lots(entry_id, [Allocation(lot.id, lot.remaining) for lot in lots
                                         if lot.remaining > 0])
    balance = uow.ledger.apply(member_id, BalanceChange(available=-points,
                                                        lifetime_expired=points), now)
    uow.outbox.emit(**points_expired(
        program_id=program.id, member_id=member_id, occurred_at=deadline, recorded_at=now,
        points=points, cause="inactivity", entry_ids=[entry_id], balance=balance))
    return []


def spendable_lots(uow: Any, program: Any, member_id: str, now: datetime) -> list[Lot]:
    """Lock the member and return its lots that may be spent now, after writing off what
    expired (by date, or by inactivity). Every way points leave starts here."""
    uow.ledger.lock_member(member_id)
    lots = uow.ledger.available_lots(member_id)
    lots, _, _ = expire_due_lots(uow, program.id, member_id, lots, now, program.time_zone)
    policy = uow.programs.compiled_at(program, now).definition.settings.expiry
    return expire_if_inactive(uow, program, member_id, lots, policy, now)

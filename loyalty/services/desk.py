"""The service desk: adjustments with maker-checker, member lifecycle, transfers.

Agents fix a customer's problem on the spot, within limits the program sets: an adjustment up
to ``agent_limit_per_adjustment`` points, and ``agent_limit_per_day`` in a day (program zone),
is applied at once; above, it waits until a supervisor approves it, and no one approves their
own request. Freezing stops every way points leave (redeem, burn, debit, transfer) while the
member keeps earning; closing stops earning too. Merging moves a person's second record into
the first; erasing removes what identifies a person while every figure stays right. Every
action is in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from loyalty.domain.audit import NewAuditRecord
from loyalty.domain.business_events import (
    member_erased,
    member_merged,
    points_adjusted,
    points_expired,
    points_transferred,
)
from loyalty.domain.errors import (
    AdjustmentNotFound,
    Conflict,
    Forbidden,
    InvalidRequest,
    MemberNotActive,
    MemberNotFound,
    TransfersDisabled,
)
from loyalty.domain.ledger import (
    Allocation,
    BalanceChange,
    EntryKind,
    LotStatus,
    NewEntry,
    allocate_fefo,
)
from loyalty.domain.members import MemberStatus, new_id
from loyalty.domain.tiers import TierChangeReason
from loyalty.rules.definition import Period
from loyalty.rules.engine import period_bounds
from loyalty.rules.program import Program
from loyalty.services.context import Context
from loyalty.services.idempotency import (
    IdempotencyKey,
    Outcome,
    claim,
    fingerprint,
    remember,
    serialisable,
)
from loyalty.services.ledger_writes import spendable_lots
from loyalty.services.referrals import after_merge
from loyalty.services.tiers import move, qualify_event_points


@dataclass(frozen=True)
class Actor:
    name: str  # key:<id> or cli:<operator>
    person: str | None = None


def _audit(uow: Any, actor: Actor, action: str, program_id: str, member_id: str,
           now: datetime, before: dict[str, Any] | None = None,
           after: dict[str, Any] | None = None) -> None:
    uow.audit.append(NewAuditRecord(
        actor=actor.name, acting_person=actor.person, action=action, target_type="member",
        target_id=member_id, program_id=program_id, member_id=member_id, before=before,
        after=after), now)


# -- adjustments --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adjust:
    program_id: str
    member_id: str
    points: int  # up (positive) or down (negative)
    reason: str  # a code from the program's list
    external_id: str
    note: str | None = None
    request_key: IdempotencyKey | None = None


@dataclass(frozen=True)
class AdjustmentView:
    adjustment_id: str
    member_id: str
    points: int
    reason: str
    note: str | None
    status: str  # applied, pending, rejected
    requested_by: str
    decided_by: str | None
    created_at: datetime
    decided_at: datetime | None


def _adjustment_view(row: Any) -> AdjustmentView:
    return AdjustmentView(row.id, row.member_id, row.points, row.reason, row.note, row.status,
                          row.requested_by, row.decided_by, row.created_at, row.decided_at)


def adjust(ctx: Context, command: Adjust, actor: Actor) -> Outcome[AdjustmentView]:
    if command.points == 0:
        raise InvalidRequest("an adjustment moves some points, up or down", field="points")
    natural = (f"adjustment:{command.external_id}",
               fingerprint(replace(command, request_key=None)))
    now = ctx.clock.now()
    with ctx.uow() as uow:
        program = uow.programs.get(command.program_id)
        keys, replay = claim(uow, program.id, natural, command.request_key, AdjustmentView,
                             now)
        if replay is not None:
            return replay
        member = uow.desk.member_row(program.id, command.member_id)
        if member is None:
            raise MemberNotFound(f"there is no member {command.member_id!r} in this program")
        if member.status == MemberStatus.CLOSED.value:
            raise MemberNotActive("a closed member's points cannot be adjusted",
                                  member_status=member.status)
        settings = uow.programs.compiled_at(program, now).definition.settings.adjustments
        if command.reason not in settings.reasons:
            raise InvalidRequest(f"the reason is one of: {', '.join(settings.reasons)}",
                                 field="reason")
        start, end = period_bounds(Period.DAY, now, program.tz)
        today = uow.desk.adjusted_by(program.id, actor.name, start, end)
        within = (abs(command.points) <= settings.agent_limit_per_adjustment
                  and today + abs(command.points) <= settings.agent_limit_per_day)
        adjustment_id = new_id("adj")
        uow.desk.add_adjustment(
            id=adjustment_id, program_id=program.id, member_id=command.member_id,
            external_id=command.external_id, points=command.points, reason=command.reason,
            note=command.note, status="applied" if within else "pending",
            requested_by=actor.name, requested_person=actor.person, created_at=now)
        if within:
            entry_id = _apply(uow, program, command.member_id, command.points, command.reason,
                              command.note, actor.name, None, now, adjustment_id=adjustment_id)
            uow.desk.set_adjustment(adjustment_id, entry_id=entry_id)
        _audit(uow, actor, "member.adjustment_" + ("applied" if within else "requested"),
               program.id, command.member_id, now,
               after={"adjustment": adjustment_id, "points": command.points,
                      "reason": command.reason})
        result = AdjustmentView(adjustment_id, command.member_id, command.points,
                                command.reason, command.note,
                                "applied" if within else "pending", actor.name, None, now,
                                None)
        remember(uow, program.id, keys, result)
        uow.commit()
    return Outcome(result)


def _apply(uow: Any, program: Program, member_id: str, points: int, reason: str,
           note: str | None, requested_by: str, approved_by: str | None,
           now: datetime, *, adjustment_id: str | None = None) -> int:
    """Write an adjustment to the ledger: a lot for points up, FEFO for points down; and its
    ``points.adjusted`` event."""
    # The note stays with the adjustment (which an erasure can clear); the append-only
    # ledger only gets the reason code, never free text.
    label = f"adjustment ({reason})"
    compiled = uow.programs.compiled_at(program, now)
    if points > 0:
        settings = compiled.definition.settings
        lot_id = uow.ledger.add_lot(
            program_id=program.id, member_id=member_id, purchase_id=None, points=points,
            status=LotStatus.AVAILABLE, earned_at=now, available_at=None,
            expires_at=settings.expiry.expires_at(now, program.tz))
        entry_id = uow.ledger.append(program.id, member_id, NewEntry(
            kind=EntryKind.ADJUST, points=points, available_delta=points, pending_delta=0,
            occurred_at=now, reason=label, lot_id=lot_id, actor=requested_by,
            approved_by=approved_by), now)
        debt = uow.ledger.lock_member(member_id).debt
        paid = min(points, debt)
        if paid:
            uow.ledger.take_from_lots(entry_id, [Allocation(lot_id, paid)])
        balance = uow.ledger.apply(member_id, BalanceChange(
            available=points, lifetime_adjusted=points, debt=-paid), now)
        uow.outbox.emit(**points_adjusted(
            program_id=program.id, member_id=member_id, occurred_at=now, recorded_at=now,
            points=points, adjustment_id=adjustment_id, reason_code=reason, entry_id=entry_id,
            approved=approved_by is not None, balance=balance))
        if settings.adjustments.qualifying and compiled.ladder is not None:
            enrolled_at = uow.members.facts_row(program.id, member_id)[2]
            qualify_event_points(uow, program, compiled, member_id, enrolled_at, points,
                                 occurred_at=now, now=now, reference=f"adjustment {entry_id}")
        return entry_id
    lots = spendable_lots(uow, program, member_id, now)
    allocations = allocate_fefo(lots, -points, now)
    entry_id = uow.ledger.append(program.id, member_id, NewEntry(
        kind=EntryKind.ADJUST, points=points, available_delta=points, pending_delta=0,
        occurred_at=now, reason=label, actor=requested_by, approved_by=approved_by), now)
    uow.ledger.take_from_lots(entry_id, allocations)
    balance = uow.ledger.apply(member_id, BalanceChange(available=points,
                                                        lifetime_adjusted=points), now)
    uow.outbox.emit(**points_adjusted(
        program_id=program.id, member_id=member_id, occurred_at=now, recorded_at=now,
        points=points, adjustment_id=adjustment_id, reason_code=reason, entry_id=entry_id,
        approved=approved_by is not None, balance=balance))
    return entry_id


def decide(ctx: Context, program_id: str, adjustment_id: str, *, approve: bool,
           actor: Actor) -> AdjustmentView:
    """A supervisor approves (applies) or rejects a pending adjustment; never their own.
    An approval that would now overdraw is refused and the adjustment stays pending."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        program = uow.programs.get(program_id)
        row = uow.desk.adjustment(program_id, adjustment_id)
        if row is None:
            raise AdjustmentNotFound(f"there is no adjustment {adjustment_id!r}")
        if row.status != "pending":
            raise Conflict(f"this adjustment is {row.status}, not pending", status_now=row.status)
        if row.requested_by == actor.name:
            raise Forbidden("no one approves or rejects their own request")
        entry_id = None
        if approve:
            entry_id = _apply(uow, program, row.member_id, row.points, row.reason, row.note,
                              row.requested_by, actor.name, now, adjustment_id=row.id)
        uow.desk.set_adjustment(row.id, status="applied" if approve else "rejected",
                                decided_by=actor.name, decided_at=now, entry_id=entry_id)
        _audit(uow, actor, "member.adjustment_" + ("approved" if approve else "rejected"),
               program_id, row.member_id, now, before={"status": "pending"},
               after={"adjustment": row.id, "status": "applied" if approve else "rejected"})
        uow.commit()
        row = uow.desk.adjustment(program_id, adjustment_id)
        assert row is not None
        return _adjustment_view(row)


def list_adjustments(ctx: Context, program_id: str, status: str | None,
                     limit: int = 100) -> list[AdjustmentView]:
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        return [_adjustment_view(row) for row in uow.desk.adjustments(program_id, status, limit)]


# -- lifecycle ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberState:
    member_id: str
    status: str
    reason: str | None
    closed_at: datetime | None
    merged_into: str | None
    erased: bool


def _state(row: Any) -> MemberState:
    return MemberState(row.id, row.status, row.status_reason, row.closed_at, row.merged_into,
                       row.erased_at is not None)


def _lifecycle(ctx: Context, program_id: str, member_id: str, actor: Actor, action: str,
               change: Any) -> MemberState:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        program = uow.programs.get(program_id)
        row = uow.desk.member_row(program_id, member_id)
        if row is None:
            raise MemberNotFound(f"there is no member {member_id!r} in this program")
        before = {"status": row.status, "reason": row.status_reason}
        change(uow, program, row, now)
        row = uow.desk.member_row(program_id, member_id)
        _audit(uow, actor, f"member.{action}", program_id, member_id, now, before=before,
               after={"status": row.status, "reason": row.status_reason})
        uow.commit()
        return _state(row)


def freeze(ctx: Context, program_id: str, member_id: str, reason: str, actor: Actor
           ) -> MemberState:
    """Suspected fraud or a taken-over account: the member keeps earning, but no point
    leaves (no redeem, burn, debit or transfer) until unfrozen."""
    def change(uow: Any, program: Program, row: Any, now: datetime) -> None:
        if row.status == MemberStatus.CLOSED.value:
            raise MemberNotActive("a closed member cannot be frozen", member_status=row.status)
        uow.desk.set_member(row.id, status=MemberStatus.FROZEN.value, status_reason=reason)
    return _lifecycle(ctx, program_id, member_id, actor, "frozen", change)


def unfreeze(ctx: Context, program_id: str, member_id: str, reason: str, actor: Actor
             ) -> MemberState:
    def change(uow: Any, program: Program, row: Any, now: datetime) -> None:
        if row.status != MemberStatus.FROZEN.value:
            raise Conflict(f"the member is {row.status}, not frozen", member_status=row.status)
        uow.desk.set_member(row.id, status=MemberStatus.ACTIVE.value, status_reason=reason)
    return _lifecycle(ctx, program_id, member_id, actor, "unfrozen", change)


def close(ctx: Context, program_id: str, member_id: str, reason: str, actor: Actor
          ) -> MemberState:
    """No more earning. The remaining points are forfeited at once (an expire entry), or
    kept ``keep_days`` (the expiry job forfeits them then; reopening keeps them)."""
    def change(uow: Any, program: Program, row: Any, now: datetime) -> None:
        if row.status == MemberStatus.CLOSED.value:
            raise Conflict("the member is already closed", member_status=row.status)
        uow.desk.set_member(row.id, status=MemberStatus.CLOSED.value, status_reason=reason,
                            closed_at=now)
        closure = uow.programs.compiled_at(program, now).definition.settings.closure
        if closure.remaining_points == "forfeit":
            forfeit(uow, program, row.id, now, "the account was closed")
    return _lifecycle(ctx, program_id, member_id, actor, "closed", change)


def reopen(ctx: Context, program_id: str, member_id: str, reason: str, actor: Actor
           ) -> MemberState:
    def change(uow: Any, program: Program, row: Any, now: datetime) -> None:
        if row.status != MemberStatus.CLOSED.value or row.merged_into or row.erased_at:
            raise Conflict("only a closed member (not merged, not erased) can be reopened",
                           member_status=row.status)
        uow.desk.set_member(row.id, status=MemberStatus.ACTIVE.value, status_reason=reason,
                            closed_at=None)
    return _lifecycle(ctx, program_id, member_id, actor, "reopened", change)


def forfeit(uow: Any, program: Program, member_id: str, now: datetime, why: str) -> int:
    """Expire every point a member holds, pending included: an expire-like entry."""
    uow.ledger.lock_member(member_id)
    open_lots = [lot for lot in uow.ledger.available_lots(member_id)]
    pending = [(lot_id, remaining) for lot_id, remaining in uow.ledger.pending_lots(member_id)]
    available = sum(lot.remaining for lot in open_lots)
    waiting = sum(remaining for _, remaining in pending)
    if not available and not waiting:
        return 0
    entry_id = uow.ledger.append(program.id, member_id, NewEntry(
        kind=EntryKind.EXPIRE, points=-(available + waiting), available_delta=-available,
        pending_delta=-waiting, occurred_at=now,
        reason=f"{available + waiting} points forfeited: {why}"), now)
    uow.ledger.take_from_lots(entry_id, [Allocation(lot.id, lot.remaining) for lot in open_lots
                                         if lot.remaining] +
                              [Allocation(lot_id, r) for lot_id, r in pending if r])
    balance = uow.ledger.apply(member_id, BalanceChange(
        available=-available, pending=-waiting, lifetime_expired=available + waiting), now)
    uow.outbox.emit(**points_expired(
        program_id=program.id, member_id=member_id, occurred_at=now, recorded_at=now,
        points=available + waiting, cause="closure", entry_ids=[entry_id], balance=balance))
    return available + waiting


def forfeit_closed(ctx: Context) -> int:
    """The expiry of points kept after closing: members closed ``keep_days`` ago lose them."""
    now = ctx.clock.now()
    forfeited = 0
    with ctx.uow() as uow:
        for program_id in uow.programs.list_ids():
            program = uow.programs.get(program_id)
            closure = uow.programs.compiled_at(program, now).definition.settings.closure
            if closure.remaining_points != "keep":
                continue
            cutoff = now - timedelta(days=closure.keep_days)
            for member_id in uow.ledger.closed_members_with_points(program_id, cutoff):
                forfeited += forfeit(uow, program, member_id, now,
                                     f"the account closed {closure.keep_days} days ago")
        uow.commit()
    return forfeited


# -- merge --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Merged:
    survivor: str
    merged: str
    points_moved: int
    pending_moved: int
    tier: str | None


def merge(ctx: Context, program_id: str, survivor_id: str, merged_id: str, actor: Actor
          ) -> Merged:
    """One person, two records: the second moves into the first (identities, lots with
    their expiries, pending points, purchases, vouchers, limits' history, tier qualification
    and history), then is closed, pointing to the survivor. Totals are unchanged."""
    if survivor_id == merged_id:
        raise InvalidRequest("a member cannot be merged into itself", field="merge")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        program = uow.programs.get(program_id)
        rows = {}
        for member_id in sorted((survivor_id, merged_id)):  # one lock order: no deadlock
            rows[member_id] = uow.desk.member_row(program_id, member_id)
            if rows[member_id] is None:
                raise MemberNotFound(f"there is no member {member_id!r} in this program")
            uow.ledger.lock_member(member_id)
        survivor, other = rows[survivor_id], rows[merged_id]
        if other.merged_into or other.erased_at or survivor.merged_into or survivor.erased_at:
            raise Conflict("a merged or erased member cannot be merged again")
        if survivor.status == MemberStatus.CLOSED.value:
            raise MemberNotActive("the surviving member is closed",
                                  member_status=survivor.status)
        balance = uow.ledger.balance(merged_id)
        moved_available, moved_pending = balance.available, balance.pending
        uow.desk.move_member_data(merged_id, survivor_id)
        if moved_available or moved_pending or balance.debt:
            uow.ledger.append(program.id, merged_id, NewEntry(
                kind=EntryKind.TRANSFER, points=-(moved_available + moved_pending),
                available_delta=-moved_available, pending_delta=-moved_pending,
                occurred_at=now, reason=f"merged into member {survivor_id}",
                actor=actor.name), now)
            uow.ledger.apply(merged_id, BalanceChange(available=-moved_available,
                                                      pending=-moved_pending,
                                                      debt=-balance.debt), now)
            uow.ledger.append(program.id, survivor_id, NewEntry(
                kind=EntryKind.TRANSFER, points=moved_available + moved_pending,
                available_delta=moved_available, pending_delta=moved_pending,
                occurred_at=now, reason=f"member {merged_id} merged into this one",
                actor=actor.name), now)
            uow.ledger.apply(survivor_id, BalanceChange(available=moved_available,
                                                        pending=moved_pending,
                                                        debt=balance.debt), now,
                             activity_at=uow.ledger.last_activity(merged_id))
        uow.desk.copy_qualification(program.id, merged_id, survivor_id)
        uow.desk.copy_tier_history(program.id, merged_id, survivor_id)
        after_merge(uow, program, survivor_id, merged_id, now)  # referrals
        tier = _merge_tiers(uow, program, survivor_id, merged_id, now)
        uow.desk.set_member(merged_id, status=MemberStatus.CLOSED.value, closed_at=now,
                            merged_into=survivor_id,
                            status_reason=f"merged into {survivor_id}")
        uow.outbox.emit(**member_merged(
            program_id=program.id, member_id=merged_id, at=now, survivor_id=survivor_id,
            points_moved=moved_available, pending_moved=moved_pending, tier=tier,
            survivor_balance=uow.ledger.balance(survivor_id)))
        _audit(uow, actor, "member.merged", program.id, merged_id, now,
               before={"status": other.status},
               after={"merged_into": survivor_id, "points": moved_available,
                      "pending": moved_pending})
        uow.commit()
    return Merged(survivor_id, merged_id, moved_available, moved_pending, tier)


def _merge_tiers(uow: Any, program: Program, survivor_id: str, merged_id: str,
                 now: datetime) -> str | None:
    """The survivor keeps the higher of the two tiers."""
    ladder = uow.programs.compiled_at(program, now).ladder
    if ladder is None:
        return None
    compiled = uow.programs.compiled_at(program, now)
    ours = uow.tiers.lock(program.id, survivor_id, ladder.levels[0].id, now)
    theirs = uow.tiers.get(merged_id)
    current = ladder.level(ours.tier)
    other = ladder.level(theirs.tier if theirs else None)
    if other.rank > current.rank:
        move(uow, program, compiled, survivor_id, current, other, at=now, now=now,
             reason=TierChangeReason.MERGE, detail=f"merged with {merged_id}")
        return other.id
    return current.id


# -- erase --------------------------------------------------------------------------------------


def erase(ctx: Context, program_id: str, member_id: str, actor: Actor) -> MemberState:
    """A data-protection erasure: identities, profile and free text go; the member is closed
    (its points stay, so every figure stays right) and can no longer be found.

    The records merged into it are the same person's: they are erased with it (a merge moves
    the identities and the history, but a merged record keeps its own profile, notes and
    notices), each with its own ``member.erased`` event and audit record."""
    def change(uow: Any, program: Program, row: Any, now: datetime) -> None:
        if row.erased_at is not None:
            raise Conflict("this member was already erased")
        uow.desk.erase(row.id, now)
        if row.status != MemberStatus.CLOSED.value:
            uow.desk.set_member(row.id, status=MemberStatus.CLOSED.value, closed_at=now)
        uow.outbox.emit(**member_erased(program_id=program.id, member_id=row.id, at=now))
        for merged in uow.desk.merged_into(row.id):
            uow.desk.erase(merged, now)
            uow.outbox.emit(**member_erased(program_id=program.id, member_id=merged, at=now))
            _audit(uow, actor, "member.erased", program.id, merged, now,
                   before={"merged_into": row.id}, after={"erased_with": row.id})
    return _lifecycle(ctx, program_id, member_id, actor, "erased", change)


# -- transfers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    program_id: str
    from_member: str
    to_member: str
    points: int
    external_id: str
    request_key: IdempotencyKey | None = None


@dataclass(frozen=True)
class Transferred:
    transfer_id: str
    from_member: str
    to_member: str
    points: int
    from_available: int
    to_available: int


def transfer(ctx: Context, command: Transfer, actor: Actor) -> Outcome[Transferred]:
    """Move points between two active members in one transaction. Both are locked in one
    order (no deadlock); the points leave the sender's soonest-expiring lots and arrive with
    the same expiries."""
    if command.points <= 0:
        raise InvalidRequest("a transfer moves a positive number of points", field="points")
    if command.from_member == command.to_member:
        raise InvalidRequest("a member cannot transfer to itself", field="to_member")
    natural = (f"transfer:{command.external_id}",
               fingerprint(replace(command, request_key=None)))
    now = ctx.clock.now()
    with ctx.uow() as uow:
        program = uow.programs.get(command.program_id)
        keys, replay = claim(uow, program.id, natural, command.request_key, Transferred,
                             now)
        if replay is not None:
            return replay
        settings = uow.programs.compiled_at(program, now).definition.settings.transfers
        if not settings.enabled:
            raise TransfersDisabled("this program does not allow transfers between members")
        if command.points > settings.per_transfer:
            raise InvalidRequest(f"at most {settings.per_transfer} points per transfer",
                                 field="points", maximum=settings.per_transfer)
        for member_id in sorted((command.from_member, command.to_member)):
            status = uow.members.status_of(program.id, member_id)
            if status is None:
                raise MemberNotFound(f"there is no member {member_id!r} in this program",
                                     field="to_member" if member_id == command.to_member
                                     else None)
            if status is not MemberStatus.ACTIVE:
                raise MemberNotActive(f"transfers are only between active members; "
                                      f"{member_id} is {status.value}",
                                      member_status=status.value)
            uow.ledger.lock_member(member_id)
        start, end = period_bounds(Period(settings.per_period.period), now, program.tz)
        sent = uow.desk.transferred_out(command.from_member, start, end)
        if sent + command.points > settings.per_period.points:
            raise InvalidRequest(f"at most {settings.per_period.points} points a "
                                 f"{settings.per_period.period}; {sent} already sent",
                                 field="points")
        lots = spendable_lots(uow, program, command.from_member, now)
        if uow.ledger.debt_of(command.from_member):
            raise Conflict("a member who owes points cannot transfer any")
        allocations = allocate_fefo(lots, command.points, now)
        expiry = {lot.id: lot.expires_at for lot in lots}
        earned = {lot.id: lot.earned_at for lot in lots}
        transfer_id = new_id("trf")
        out_entry = uow.ledger.append(program.id, command.from_member, NewEntry(
            kind=EntryKind.TRANSFER, points=-command.points, available_delta=-command.points,
            pending_delta=0, occurred_at=now, external_ref=command.external_id,
            reason=f"transferred {command.points} to member {command.to_member}",
            actor=actor.name), now)
        uow.ledger.take_from_lots(out_entry, allocations)
        sender = uow.ledger.apply(command.from_member, BalanceChange(available=-command.points),
                                  now, activity_at=now)
        lot_ids = [uow.ledger.add_lot(
            program_id=program.id, member_id=command.to_member, purchase_id=None,
            points=a.points, status=LotStatus.AVAILABLE, earned_at=earned[a.lot_id],
            available_at=None, expires_at=expiry[a.lot_id]) for a in allocations]
        uow.ledger.append(program.id, command.to_member, NewEntry(
            kind=EntryKind.TRANSFER, points=command.points, available_delta=command.points,
            pending_delta=0, occurred_at=now, external_ref=command.external_id,
            reason=f"received {command.points} from member {command.from_member}",
            lot_id=lot_ids[0] if len(lot_ids) == 1 else None, actor=actor.name), now)
        receiver = uow.ledger.apply(command.to_member, BalanceChange(available=command.points),
                                    now, activity_at=now)
        uow.desk.add_transfer(id=transfer_id, program_id=program.id,
                              from_member=command.from_member, to_member=command.to_member,
                              points=command.points, external_id=command.external_id,
                              created_at=now)
        uow.outbox.emit_many([points_transferred(
            program_id=program.id, member_id=member_id, occurred_at=now, recorded_at=now,
            points=points, transfer_id=transfer_id, from_member=command.from_member,
            to_member=command.to_member, balance=balance)
            for member_id, points, balance in ((command.from_member, -command.points, sender),
                                               (command.to_member, command.points, receiver))])
        _audit(uow, actor, "member.transfer", program.id, command.from_member, now,
               after={"transfer": transfer_id, "to": command.to_member,
                      "points": command.points})
        result = Transferred(transfer_id, command.from_member, command.to_member,
                             command.points, sender.available, receiver.available)
        remember(uow, program.id, keys, result)
        uow.commit()
    return Outcome(result)


serialisable(Adjust, AdjustmentView, Transfer, Transferred)

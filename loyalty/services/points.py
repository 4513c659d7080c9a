"""A member's points: debit them, read the balance, page through the ledger."""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from loyalty.domain.business_events import points_redeemed
from loyalty.domain.errors import InvalidRequest, MemberNotActive, MemberNotFound
from loyalty.domain.ledger import (
    Balance,
    BalanceChange,
    Entry,
    EntryKind,
    LotStatus,
    NewEntry,
    allocate_fefo,
    last_usable_day,
)
from loyalty.domain.members import MemberStatus
from loyalty.domain.money import format_minor
from loyalty.domain.tiers import Measure
from loyalty.rules.engine import CompiledProgram
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
from loyalty.services.tiers import current_progress


@dataclass(frozen=True)
class DebitPoints:
    program_id: str
    member_id: str
    points: int
    external_id: str
    reason: str = "points debit"
    request_key: IdempotencyKey | None = None


@dataclass(frozen=True)
class LotTaken:
    points: int
    expires_at: datetime | None


@dataclass(frozen=True)
class PointsDebited:
    entry_id: int
    member_id: str
    external_id: str
    points: int
    taken_from: tuple[LotTaken, ...]
    available: int
    pending: int


def debit_points(ctx: Context, command: DebitPoints) -> Outcome[PointsDebited]:
    """Take points from the member's soonest-expiring lots; never overdraw, even concurrently."""
    if command.points <= 0:
        raise InvalidRequest("a debit takes a positive number of points", field="points")
    natural = (f"debit:{command.external_id}", fingerprint(replace(command, request_key=None)))
    with ctx.uow() as uow:
        program = uow.programs.get(command.program_id)
        now = ctx.clock.now()
        keys, replay = claim(uow, program.id, natural, command.request_key, PointsDebited,
                             now)
        if replay is not None:
            return replay
        status = uow.members.status_of(program.id, command.member_id)
        if status is None:
            raise MemberNotFound(f"there is no member {command.member_id!r} in this program")
        if status is not MemberStatus.ACTIVE:
            raise MemberNotActive(
                f"a {status.value} member cannot spend points", member_status=status.value
            )
        lots = spendable_lots(uow, program, command.member_id, now)
        allocations = allocate_fefo(lots, command.points, now)
        entry_id = uow.ledger.append(
            program.id,
            command.member_id,
            NewEntry(
                kind=EntryKind.REDEEM,
                points=-command.points,
                available_delta=-command.points,
                pending_delta=0,
                occurred_at=now,
                reason=command.reason,
                external_ref=command.external_id,
            ),
            now,
        )
        uow.ledger.take_from_lots(entry_id, allocations)
        balance = uow.ledger.apply(
            command.member_id,
            BalanceChange(available=-command.points, lifetime_redeemed=command.points),
            now,
            activity_at=now,
        )
        uow.outbox.emit(**points_redeemed(
            program_id=program.id, member_id=command.member_id, occurred_at=now,
            recorded_at=now, points=command.points, entry_id=entry_id,
            reason=None,  # the caller's free text stays in the ledger, out of webhooks
            balance=balance, external_id=command.external_id))
        expiry = {lot.id: lot.expires_at for lot in lots}
        result = PointsDebited(
            entry_id=entry_id,
            member_id=command.member_id,
            external_id=command.external_id,
            points=command.points,
            taken_from=tuple(LotTaken(a.points, expiry[a.lot_id]) for a in allocations),
            available=balance.available,
            pending=balance.pending,
        )
        remember(uow, program.id, keys, result)
        uow.commit()
    return Outcome(result)


@dataclass(frozen=True)
class ExpiringPoints:
    points: int
    expires_at: datetime
    last_usable_day: date


@dataclass(frozen=True)
class PendingPoints:
    points: int
    available_at: datetime | None


@dataclass(frozen=True)
class TierProgress:
    """The member's tier and what it takes to move: measures are decimal strings for spend
    (in the program's currency) and whole numbers as text for points and purchases."""

    tier: str
    tier_name: str
    measure_kind: str
    measure: str
    next_tier: str | None
    next_tier_name: str | None
    needed: str | None
    requalify_by: datetime | None
    would_fall_to: str | None
    floor_until: datetime | None


@dataclass(frozen=True)
class BalanceView:
    member_id: str
    status: str
    available: int
    pending: int
    lifetime_earned: int
    lifetime_redeemed: int
    lifetime_expired: int
    next_expiries: tuple[ExpiringPoints, ...]
    pending_releases: tuple[PendingPoints, ...]
    as_of: datetime
    tier: TierProgress | None = None


def get_balance(ctx: Context, program_id: str, member_id: str, *, expiries: int = 5) -> BalanceView:
    """The member's points as of now. Lots already past their expiry count as gone, even before
    the expiry job writes their expire entries.

    The read most calls make (a program without a tier ladder, compiled already by this
    process) is one statement through the driver; a tier's progress, a version not compiled
    yet, or an unknown program or member take the repositories' reads."""
    now = ctx.clock.now()
    with ctx.uow(read_only=True) as uow:
        state = uow.snapshot.balance_state(program_id, member_id, now)
        compiled = None
        if state is not None and state.version is not None and state.published_at is not None:
            compiled = uow.snapshot.compiled(program_id, state.version, state.published_at)
        uow.rollback()  # the snapshot's connection goes back to the pool
        if state is not None and compiled is not None and compiled.ladder is None:
            program = Program(program_id, state.name, state.currency, state.time_zone)
            return _balance_view(program, compiled, member_id, MemberStatus(state.status),
                                 Balance(*state.balance), state.last_activity_at, state.lots,
                                 None, now, expiries)
        program = uow.programs.get(program_id)
        found = uow.ledger.summary(program_id, member_id)
        if found is None:
            raise MemberNotFound(f"there is no member {member_id!r} in this program")
        status, balance, last_activity = found
        lots = uow.ledger.open_lots(member_id)
        compiled = uow.programs.compiled_at(program, now)
        tier = None
        if compiled.ladder is not None:
            profile = uow.members.facts_row(program_id, member_id)
            shown = current_progress(uow, program, compiled, member_id, profile[2], now)
            tier = _tier_progress(shown, compiled.ladder.measure, program.currency)
    return _balance_view(program, compiled, member_id, status, balance, last_activity, lots,
                         tier, now, expiries)


def _balance_view(program: Program, compiled: CompiledProgram, member_id: str,
                  status: MemberStatus, balance: Balance, last_activity: datetime | None,
                  lots: list[tuple[str, int, datetime | None, datetime | None]],
                  tier: TierProgress | None, now: datetime, expiries: int) -> BalanceView:
    policy = compiled.definition.settings.expiry
    inactive_from = (policy.inactive_from(last_activity, program.tz)
                     if last_activity is not None else None)
    overdue = 0
    by_expiry: dict[datetime, int] = defaultdict(int)
    by_release: dict[datetime | None, int] = defaultdict(int)
    for lot_status, remaining, available_at, expires_at in lots:
        if lot_status == LotStatus.PENDING.value:
            by_release[available_at] += remaining
        elif (expires_at is not None and expires_at <= now) or (
                inactive_from is not None and inactive_from <= now):
            overdue += remaining
        elif expires_at is not None:
            by_expiry[expires_at] += remaining
        elif inactive_from is not None:
            by_expiry[inactive_from] += remaining  # unless the member is active before then
    return BalanceView(
        member_id=member_id,
        status=status.value,
        available=balance.available - overdue,
        pending=balance.pending,
        lifetime_earned=balance.lifetime_earned,
        lifetime_redeemed=balance.lifetime_redeemed,
        lifetime_expired=balance.lifetime_expired + overdue,
        next_expiries=tuple(
            ExpiringPoints(points, at, last_usable_day(at, program.tz))
            for at, points in sorted(by_expiry.items())[:expiries]
        ),
        pending_releases=tuple(
            PendingPoints(points, at)
            for at, points in sorted(by_release.items(), key=lambda item: item[0] or now)
        ),
        as_of=now,
        tier=tier,
    )


@dataclass(frozen=True)
class LedgerPage:
    entries: tuple[Entry, ...]
    next_cursor: str | None


def ledger_history(
    ctx: Context, program_id: str, member_id: str, *, limit: int, cursor: str | None = None
) -> LedgerPage:
    """The member's ledger, newest first, ``limit`` entries a page, each with its reason."""
    before_id = None
    if cursor is not None:
        before_id = decode_cursor(cursor)
        if before_id is None:
            raise InvalidRequest("this cursor was not given by this API", field="cursor")
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        if uow.members.status_of(program_id, member_id) is None:
            raise MemberNotFound(f"there is no member {member_id!r} in this program")
        entries = uow.ledger.entries(member_id, before_id=before_id, limit=limit + 1)
    has_more = len(entries) > limit
    entries = entries[:limit]
    return LedgerPage(tuple(entries), encode_cursor(entries[-1].id) if has_more else None)


def encode_cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"e{entry_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        entry_id = int(text[1:]) if text.startswith("e") else None
        return entry_id if entry_id is not None and 0 < entry_id < 2**63 else None
    except (ValueError, UnicodeDecodeError):
        return None


serialisable(DebitPoints, PointsDebited)


def _tier_progress(shown: Any, measure: Measure, currency: str) -> TierProgress | None:
    if shown is None:
        return None

    def text(value: int | None) -> str | None:
        if value is None:
            return None
        return format_minor(value, currency) if measure is Measure.SPEND else str(value)

    return TierProgress(
        tier=shown.tier.id, tier_name=shown.tier.name, measure_kind=measure.value,
        measure=text(shown.measure) or "0",
        next_tier=shown.next_tier.id if shown.next_tier else None,
        next_tier_name=shown.next_tier.name if shown.next_tier else None,
        needed=text(shown.needed), requalify_by=shown.requalify_by,
        would_fall_to=shown.would_fall_to.id if shown.would_fall_to else None,
        floor_until=shown.floor_until,
    )


def current_tier_progress(view: Any) -> TierProgress | None:
    """A tier view's progress in the balance answer's terms."""
    if view.progress is None or view.measure is None:
        return None
    return _tier_progress(view.progress, view.measure, view.currency)

"""Rewards: the catalogue a member may take, redeeming points for a voucher, the till's
voucher checks, and cancelling a redemption.

Redeeming is one transaction: the member is locked, expired points are written off, the cost is
taken from the soonest-expiring lots, one unit of stock is taken by a conditional update, and a
voucher with an unguessable code is issued. Any failure leaves nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from loyalty.domain.business_events import (
    points_redeemed,
    voucher_cancelled,
    voucher_consumed,
    voucher_issued,
)
from loyalty.domain.errors import (
    MemberNotActive,
    MemberNotFound,
    RedemptionNotFound,
    RewardNotFound,
    RewardOutOfStock,
    RewardUnavailable,
    VoucherNotFound,
    VoucherNotUsable,
)
from loyalty.domain.ledger import BalanceChange, EntryKind, NewEntry, allocate_fefo
from loyalty.domain.members import MemberStatus, new_id
from loyalty.domain.rewards import new_voucher_code, normalise_code
from loyalty.rules.definition import Reward
from loyalty.rules.engine import CompiledProgram, period_bounds, window_bounds
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
from loyalty.services.notices import record_reward_wait
from loyalty.services.points import get_balance


@dataclass(frozen=True)
class Offer:
    reward_id: str
    name: str
    description: str | None
    cost: int
    kind: str
    gives: dict[str, str]
    affordable: bool
    stock_left: int | None


def _gives(reward: Reward) -> dict[str, str]:
    found = {"amount": reward.amount, "percent": (format(reward.percent.normalize(), "f")
                                                  if reward.percent is not None else None),
             "sku": reward.sku}
    return {key: value for key, value in found.items() if value is not None}


OUT_OF_STOCK = "it is out of stock"


def _why_not(uow: Any, program: Program, compiled: CompiledProgram, reward: Reward,
             member_id: str, now: datetime, issued: dict[str, int]) -> str | None:
    """Why the member may not take ``reward`` now, or ``None``."""
    bounds = window_bounds(reward.window, program.tz)  # the same semantics as rules' windows
    if bounds is not None:
        start, end = bounds
        if (start is not None and now < start) or (end is not None and now >= end):
            return "it is not available at this time"
    if reward.tiers is not None:
        state = uow.tiers.get(member_id)
        tier = compiled.ladder.level(state.tier if state else None).id if compiled.ladder else None
        if tier not in reward.tiers:
            return f"it is for members of the tiers {', '.join(reward.tiers)}"
    if reward.stock is not None and issued.get(reward.id, 0) >= reward.stock:
        return OUT_OF_STOCK
    if reward.per_member is not None:
        start, end = period_bounds(reward.per_member.period, now, program.tz)
        if uow.rewards.redeemed_between(member_id, reward.id, start, end) >= \
                reward.per_member.count:
            return (f"a member may take it {reward.per_member.count} time(s) per "
                    f"{reward.per_member.period.value}")
    return None


def catalogue(ctx: Context, program_id: str, member_id: str) -> list[Offer]:
    """The rewards this member is allowed to take now, each saying whether it is affordable."""
    now = ctx.clock.now()
    # what the balance answer shows as available: net of debt and of points past expiry
    spendable = get_balance(ctx, program_id, member_id).available
    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(program_id)
        compiled = uow.programs.compiled_at(program, now)
        issued = uow.rewards.issued(program_id)
        offers = []
        for reward in compiled.definition.rewards:
            if _why_not(uow, program, compiled, reward, member_id, now, issued) is None:
                left = reward.stock - issued.get(reward.id, 0) if reward.stock is not None \
                    else None
                offers.append(Offer(reward.id, reward.name, reward.description, reward.cost,
                                    reward.kind.value, _gives(reward), spendable >= reward.cost,
                                    left))
    return offers


@dataclass(frozen=True)
class Redeem:
    program_id: str
    member_id: str
    reward_id: str
    external_id: str
    request_key: IdempotencyKey | None = None


@dataclass(frozen=True)
class VoucherView:
    code: str
    state: str  # valid, used, expired, cancelled
    reward_id: str
    kind: str
    gives: dict[str, Any]
    member_id: str
    redemption_id: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_reference: str | None


@dataclass(frozen=True)
class Redeemed:
    redemption_id: str
    member_id: str
    reward_id: str
    reward_name: str
    points: int
    status: str
    voucher: VoucherView
    available: int


def redeem(ctx: Context, command: Redeem) -> Outcome[Redeemed]:
    try:
        return _redeem(ctx, command)
    except RewardOutOfStock:
        # The refusal rolled its transaction back (the idempotency claim with it, so a retry
        # once there is stock again redeems): the wait, to tell the member when the reward is
        # back, is recorded in a transaction of its own.
        record_reward_wait(ctx, command.program_id, command.reward_id, command.member_id)
        raise


def _redeem(ctx: Context, command: Redeem) -> Outcome[Redeemed]:
    natural = (f"redemption:{command.external_id}",
               fingerprint(replace(command, request_key=None)))
    with ctx.uow() as uow:
        program = uow.programs.get(command.program_id)
        now = ctx.clock.now()
        keys, replay = claim(uow, program.id, natural, command.request_key, Redeemed,
                             now)
        if replay is not None:
            return replay
        status = uow.members.status_of(program.id, command.member_id)
        if status is None:
            raise MemberNotFound(f"there is no member {command.member_id!r} in this program")
        if status is not MemberStatus.ACTIVE:
            raise MemberNotActive(
                f"a {status.value} member cannot redeem rewards"
                + (" (the account is frozen, e.g. while fraud is looked into)"
                   if status is MemberStatus.FROZEN else ""), member_status=status.value)
        compiled = uow.programs.compiled_at(program, now)
        reward = compiled.definition.reward(command.reward_id)
        if reward is None:
            raise RewardNotFound(f"there is no reward {command.reward_id!r} in this program",
                                 field="reward_id")
        lots = spendable_lots(uow, program, command.member_id, now)
        why = _why_not(uow, program, compiled, reward, command.member_id, now,
                       uow.rewards.issued(program.id))
        if why is not None:
            refusal = RewardOutOfStock if why == OUT_OF_STOCK else RewardUnavailable
            raise refusal(f"this member cannot take {reward.name!r}: {why}",
                          reward_id=reward.id)
        debt = uow.ledger.debt_of(command.member_id)
        if debt:
            from loyalty.domain.errors import InsufficientPoints

            spendable = sum(lot.remaining for lot in lots) - debt
            raise InsufficientPoints(f"the member owes {debt} points from a return",
                                     available=max(spendable, 0), required=reward.cost)
        allocations = allocate_fefo(lots, reward.cost, now)
        if reward.stock is not None and not uow.rewards.take_unit(program.id, reward.id,
                                                                  reward.stock):
            raise RewardOutOfStock(f"{reward.name!r} is out of stock", reward_id=reward.id)
        redemption_id, code = new_id("red"), new_voucher_code()
        reason = f"redeemed {reward.cost} for {reward.name} (voucher {code})"
        entry_id = uow.ledger.append(program.id, command.member_id, NewEntry(
            kind=EntryKind.REDEEM, points=-reward.cost, available_delta=-reward.cost,
            pending_delta=0, occurred_at=now, external_ref=command.external_id,
            reason=reason), now)
        uow.ledger.take_from_lots(entry_id, allocations)
        balance = uow.ledger.apply(command.member_id,
                                   BalanceChange(available=-reward.cost,
                                                 lifetime_redeemed=reward.cost),
                                   now, activity_at=now)
        expires_at = now + timedelta(days=reward.voucher_days)
        uow.rewards.add_redemption(
            id=redemption_id, program_id=program.id, member_id=command.member_id,
            reward_id=reward.id, reward_name=reward.name, points=reward.cost, status="issued",
            external_id=command.external_id, entry_id=entry_id, voucher_code=code,
            created_at=now)
        uow.rewards.add_voucher(
            code=code, program_id=program.id, member_id=command.member_id,
            redemption_id=redemption_id, reward_id=reward.id, kind=reward.kind.value,
            gives=_gives(reward), status="valid", issued_at=now, expires_at=expires_at)
        uow.outbox.emit_many([
            points_redeemed(program_id=program.id, member_id=command.member_id,
                            occurred_at=now, recorded_at=now, points=reward.cost,
                            entry_id=entry_id, reason=reason,
                            balance=balance, reward_id=reward.id, redemption_id=redemption_id),
            voucher_issued(program_id=program.id, member_id=command.member_id, at=now,
                           redemption_id=redemption_id, reward_id=reward.id, code=code,
                           points=reward.cost, expires_at=expires_at)])
        voucher = VoucherView(code, "valid", reward.id, reward.kind.value, _gives(reward),
                              command.member_id, redemption_id, now, expires_at, None, None)
        result = Redeemed(redemption_id, command.member_id, reward.id, reward.name, reward.cost,
                          "issued", voucher, balance.available)
        remember(uow, program.id, keys, result)
        uow.commit()
    return Outcome(result)


def _view(row: Any, now: datetime) -> VoucherView:
    state = row.status
    if state == "valid" and row.expires_at <= now:
        state = "expired"
    return VoucherView(row.code, state, row.reward_id, row.kind, dict(row.gives), row.member_id,
                       row.redemption_id, row.issued_at, row.expires_at, row.used_at,
                       row.used_reference)


def check_voucher(ctx: Context, program_id: str, code: str) -> VoucherView:
    """The till's question: is this voucher good, and what does it give?"""
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        row = uow.rewards.voucher(program_id, normalise_code(code))
        if row is None:
            raise VoucherNotFound("there is no such voucher in this program")
        return _view(row, ctx.clock.now())


def consume_voucher(ctx: Context, program_id: str, code: str, reference: str
                    ) -> Outcome[VoucherView]:
    """Mark a voucher used against a purchase. Consuming it again for the same purchase
    replays; for another purchase, or once expired or cancelled, it is refused."""
    code = normalise_code(code)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.programs.get(program_id)
        row = uow.rewards.voucher(program_id, code, lock=True)
        if row is None:
            raise VoucherNotFound("there is no such voucher in this program")
        view = _view(row, now)
        if view.state == "used" and row.used_reference == reference:
            return Outcome(view, replayed=True)
        if view.state != "valid":
            raise VoucherNotUsable(f"this voucher is {view.state}"
                                   + (f" (used for {row.used_reference})"
                                      if view.state == "used" else ""), state=view.state)
        uow.rewards.set_voucher(code, status="used", used_at=now, used_reference=reference)
        uow.outbox.emit(**voucher_consumed(
            program_id=program_id, member_id=row.member_id, at=now,
            redemption_id=row.redemption_id, reward_id=row.reward_id, code=code,
            reference=reference))
        uow.commit()
    return Outcome(replace(view, state="used", used_at=now, used_reference=reference))


@dataclass(frozen=True)
class RedemptionCancelled:
    redemption_id: str
    member_id: str
    points: int
    status: str
    available: int


def cancel_redemption(ctx: Context, program_id: str, redemption_id: str, actor: str
                      ) -> Outcome[RedemptionCancelled]:
    """Give the points back to the lots they came from (with their original expiry) and the
    unit back to stock; the voucher is cancelled. A used voucher cannot be cancelled."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.programs.get(program_id)
        row = uow.rewards.redemption(program_id, redemption_id)
        if row is None:
            raise RedemptionNotFound(f"there is no redemption {redemption_id!r}")
        uow.ledger.lock_member(row.member_id)
        if row.status == "cancelled":
            balance = uow.ledger.balance(row.member_id)
            return Outcome(RedemptionCancelled(row.id, row.member_id, row.points, "cancelled",
                                               balance.available), replayed=True)
        voucher = uow.rewards.voucher(program_id, row.voucher_code, lock=True)
        if voucher is not None and voucher.status == "used":
            raise VoucherNotUsable("the voucher was already used: the redemption stands",
                                   state="used")
        restorations = uow.ledger.taken_by(row.entry_id)
        entry_id = uow.ledger.append(program_id, row.member_id, NewEntry(
            kind=EntryKind.REDEEM, points=row.points, available_delta=row.points,
            pending_delta=0, occurred_at=now, actor=actor,
            reason=f"redemption of {row.reward_name} cancelled: {row.points} points back"), now)
        uow.ledger.put_back(entry_id, restorations)
        balance = uow.ledger.apply(row.member_id, BalanceChange(
            available=row.points, lifetime_redeemed=-row.points), now)
        uow.rewards.set_redemption(row.id, status="cancelled", cancelled_at=now)
        uow.rewards.set_voucher(row.voucher_code, status="cancelled")
        uow.outbox.emit(**voucher_cancelled(
            program_id=program_id, member_id=row.member_id, at=now, redemption_id=row.id,
            reward_id=row.reward_id, code=row.voucher_code, points=row.points,
            balance=balance))
        compiled = uow.programs.compiled_at(uow.programs.get(program_id), now)
        reward = compiled.definition.reward(row.reward_id)
        if reward is None or reward.stock is not None:
            uow.rewards.give_unit_back(program_id, row.reward_id)
        uow.commit()
    return Outcome(RedemptionCancelled(row.id, row.member_id, row.points, "cancelled",
                                       balance.available))


serialisable(Redeem, Redeemed)

"""Earning points: gathering what the rules need, and writing what they gave.

The rules themselves are a pure evaluation (``rules.engine``); this module is the I/O around it,
within the caller's transaction: the member's facts before, and after, the lot, the ledger entry
(with the program version, the rules that applied and the explanation), the summary row, and
the bookkeeping of limited rules (per-member awards, total budgets).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.domain.business_events import points_earned
from loyalty.domain.ledger import (
    Allocation,
    Balance,
    BalanceChange,
    EntryKind,
    LotStatus,
    NewEntry,
)
from loyalty.rules.engine import (
    CompiledProgram,
    Evaluation,
    MemberFacts,
    days_window_start,
    period_bounds,
)
from loyalty.rules.program import Program
from loyalty.services.segment_facts import history_facts


def member_facts(uow: Any, program: Program, compiled: CompiledProgram, member_id: str,
                 at: datetime, *, status: str, attributes: dict[str, Any],
                 enrolled_at: datetime | None, for_update: bool = True,
                 trigger: str = "purchase", replaying: int | None = None,
                 tier: str | None = None) -> MemberFacts:
    """The facts the rules of ``trigger`` ask about, and only those (each costs a query).

    With ``for_update`` (the write path), the budgets of budgeted rules are locked until commit,
    so that two purchases cannot both spend the last of a budget.

    With ``replaying`` (the id of a purchase's earn entry), the facts that purchase, made at
    ``at``, was evaluated with, as the records tell them now (a return re-evaluates what the
    purchase keeps): its history before ``at``, and what the limited rules gave in the periods
    of ``at`` before that entry (not the purchase's own awards, nor later ones), in ``tier``
    (the one it earned at, which the caller knows). Budgets are not replayed (a re-evaluation
    spends none): a budgeted rule counts as having budget left, and the re-evaluation is held
    to what the purchase earned anyway."""
    tracked = compiled.tracked_rules(trigger)
    awarded = {}
    for rule in tracked:
        for cap in rule.limits.per_member:
            start, end = period_bounds(cap.period, at, program.tz)
            awarded[(rule.id, cap.period)] = uow.usage.awarded_between(
                member_id, rule.id, start, end, before_entry=replaying)
    once = [rule.id for rule in tracked if rule.limits.once_per_member]
    spent = uow.usage.lock_budget if for_update else uow.usage.budget_spent
    budget_left = {} if replaying is not None else {
        rule.id: rule.limits.budget - spent(program.id, rule.id)
        for rule in tracked if rule.limits.budget is not None
    }
    if replaying is None and compiled.ladder is not None:
        state = uow.tiers.get(member_id)
        tier = compiled.ladder.level(state.tier if state else None).id
    return MemberFacts(
        tier=tier,
        status=status,
        attributes=attributes,
        enrolled_at=enrolled_at,
        purchases=(uow.usage.purchases_before(member_id, at)
                   if compiled.needs_purchase_count() else 0),
        spend_last_days={days: uow.usage.spend_between(
                             member_id, days_window_start(at, days, program.tz), at)
                         for days in compiled.spend_windows()},
        awarded=awarded,
        rules_ever=frozenset(uow.usage.rules_ever_awarded(
            member_id, once, before_entry=replaying) if once else ()),
        budget_left=budget_left,
        # recent purchases and the preferred channel: only when a rule in force asks
        **(history_facts(uow, program, compiled.needs, member_id, at)
           if compiled.needs.history else {}),
    )


@dataclass(frozen=True)
class Earned:
    balance: Balance
    pending: bool
    available_at: datetime | None
    expires_at: datetime | None
    entry_id: int | None


def write_earn(uow: Any, program: Program, compiled: CompiledProgram, member_id: str,
               evaluation: Evaluation, *, occurred_at: datetime, now: datetime, reason: str,
               purchase_id: str | None = None, event_id: str | None = None,
               may_wait: bool = True) -> Earned:
    """Append the earn (pending during a return window when ``may_wait``), its lot, the
    summary change and the limited rules' bookkeeping."""
    settings = compiled.definition.settings
    available_at = settings.pending.available_at(occurred_at) if may_wait else None
    if available_at is not None and available_at <= now:
        available_at = None  # posted after its return window closed
    expires_at = settings.expiry.expires_at(occurred_at, program.tz)
    points = evaluation.points
    if points <= 0:
        return Earned(uow.ledger.balance(member_id), False, None, None, None)
    pending = available_at is not None
    lot_id = uow.ledger.add_lot(
        program_id=program.id, member_id=member_id, purchase_id=purchase_id, points=points,
        status=LotStatus.PENDING if pending else LotStatus.AVAILABLE, earned_at=occurred_at,
        available_at=available_at, expires_at=expires_at,
    )
    balance = uow.ledger.apply(
        member_id,
        BalanceChange(available=0 if pending else points, pending=points if pending else 0,
                      lifetime_earned=points),
        now,
        activity_at=occurred_at,
    )
    # The update locked the summary row and returned its debt (a return under the "allow"
    # policy): available points pay it first, with no extra query in the common case.
    paid = 0 if pending else min(points, balance.debt)
    if paid:
        reason = f"{reason}; {paid} of them paid the debt a return left"
    applied = evaluation.applied
    entry_id = uow.ledger.append(
        program.id,
        member_id,
        NewEntry(
            kind=EntryKind.PENDING_EARN if pending else EntryKind.EARN,
            points=points,
            available_delta=0 if pending else points,
            pending_delta=points if pending else 0,
            occurred_at=occurred_at,
            reason=reason,
            purchase_id=purchase_id,
            event_id=event_id,
            lot_id=lot_id,
            rule_id=applied[0].rule_id if len(applied) == 1 else None,
            rule_version=evaluation.version,
            rules=tuple(result.rule_id for result in applied),
            explanation=evaluation.explanation(),
        ),
        now,
    )
    if paid:
        uow.ledger.take_from_lots(entry_id, [Allocation(lot_id, paid)])
        balance = uow.ledger.apply(member_id, BalanceChange(debt=-paid), now)
    # The outbox: one more INSERT, of what is already at hand (no read).
    uow.outbox.emit(**points_earned(
        program_id=program.id, member_id=member_id, occurred_at=occurred_at, recorded_at=now,
        points=points, pending=pending, entry_id=entry_id, balance=balance, reason=reason,
        purchase_id=purchase_id, event_id=event_id, available_at=available_at,
        expires_at=expires_at, program_version=evaluation.version,
        rules=[result.rule_id for result in applied], debt_paid=paid))
    limited = {rule.id: rule for rule in compiled.tracked_rules()}
    awards = [(r.rule_id, r.points) for r in applied if r.rule_id in limited]
    uow.usage.record_awards(program.id, member_id, entry_id, occurred_at, awards)
    for rule_id, awarded in awards:
        if limited[rule_id].limits.budget is not None:
            uow.usage.spend_budget(program.id, rule_id, awarded)
    return Earned(balance, pending, available_at, expires_at, entry_id)

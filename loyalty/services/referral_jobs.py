"""The referrals job: qualify pending referrals on their referee's first qualifying
purchase, and complete those whose purchase has cleared its return window, firing a
``referral_completed`` event for each member (``loyalty jobs referrals``). The rules of the game
are in ``loyalty.domain.referrals`` and ``loyalty.services.referrals``.

It is not on the purchase path: a purchase costs nothing more for being a referee's. Set-based
where it can be: a page of pending referrals is qualified with one query and one
``executemany``; each completion is its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.domain import business_events
from loyalty.domain.members import MemberStatus
from loyalty.domain.referrals import (
    REFEREE_CLOSED,
    REFERRER_CLOSED,
    ReferralStatus,
    cap_reached,
    clears_at,
    minimum_minor,
    returned,
    still_qualifies,
)
from loyalty.rules.definition import Period
from loyalty.rules.engine import period_bounds
from loyalty.rules.program import Program
from loyalty.rules.settings import ProgramSettings
from loyalty.services.context import Context
from loyalty.services.events import earn_event
from loyalty.services.referrals import reject

REFERRAL_COMPLETED = "referral_completed"


@dataclass
class ReferralsReport:
    qualified: int = 0  # a first qualifying purchase was found
    completed: int = 0  # both rewarded (by the rules of referral_completed)
    referrer_unrewarded: int = 0  # completed for the referee only (cap, closed referrer)
    back_to_pending: int = 0  # the qualifying purchase was returned before it cleared
    rejected: int = 0  # the referee's account was closed


def complete_referrals(ctx: Context, *, batch_size: int = 500) -> ReferralsReport:
    """Move referrals on, in every program that takes them: completes those whose qualifying
    purchase has cleared (or sends them back to pending if it was returned), then qualifies
    pending ones on their referee's first qualifying purchase, then completes those of these
    that are already clear. Idempotent (a second run finds nothing to do), committed a page at
    a time, and safe beside another copy: each referral moves only from the status it was
    read in, and is locked while it completes (another copy skips it)."""
    now = ctx.clock.now()
    report = ReferralsReport()
    with ctx.uow(read_only=True) as uow:
        programs = [uow.programs.get(program_id) for program_id in uow.programs.list_ids()]
        settings = {
            program.id: uow.programs.compiled_at(program, now).definition.settings
            for program in programs
        }
    for program in programs:
        if not settings[program.id].referrals.enabled:
            continue  # referrals wait, untouched, until the program takes them again
        _settle_due(ctx, program, settings[program.id], now, batch_size, report)
        _qualify(ctx, program, settings[program.id], now, batch_size, report)
        _settle_due(ctx, program, settings[program.id], now, batch_size, report)
    return report


def _qualify(
    ctx: Context,
    program: Program,
    settings: ProgramSettings,
    now: datetime,
    batch_size: int,
    report: ReferralsReport,
) -> None:
    minimum = minimum_minor(settings.referrals.minimum_purchase, program.currency)
    after: str | None = None
    while True:
        with ctx.uow() as uow:
            page = uow.referrals.pending_page(program.id, after=after, limit=batch_size)
            found = uow.referrals.first_qualifying_purchases(page, minimum) if page else []
            report.qualified += uow.referrals.qualify(
                [
                    (
                        referral,
                        purchase,
                        clears_at(
                            occurred_at, settings.referrals.clear_after_days, settings.pending.days
                        ),
                    )
                    for referral, purchase, occurred_at in found
                ]
            )
            uow.commit()
        if len(page) < batch_size:
            return
        after = page[-1]


def _settle_due(
    ctx: Context,
    program: Program,
    settings: ProgramSettings,
    now: datetime,
    batch_size: int,
    report: ReferralsReport,
) -> None:
    """Settle the due referrals, read a page at a time. Each is settled in a transaction of
    its own: it writes two members' ledgers, locked in one order, so two copies of the job
    (or a purchase) never wait on each other in a circle."""
    after: str | None = None
    while True:
        with ctx.uow(read_only=True) as uow:
            page = uow.referrals.due_page(program.id, now, after=after, limit=batch_size)
        for referral_id in page:
            with ctx.uow() as uow:
                _settle(uow, program, settings, referral_id, now, report)
                uow.commit()
        if len(page) < batch_size:
            return
        after = page[-1]


def _settle(
    uow: Any,
    program: Program,
    settings: ProgramSettings,
    referral_id: str,
    now: datetime,
    report: ReferralsReport,
) -> None:
    referral = uow.referrals.lock_due(referral_id, now)
    if referral is None:
        return  # another copy of the job settled it
    minimum = minimum_minor(settings.referrals.minimum_purchase, program.currency)
    standing = uow.referrals.purchase_standing(referral.purchase_id)
    if standing is None or not still_qualifies(*standing, minimum):
        uow.referrals.set(
            referral.id,
            status=ReferralStatus.PENDING.value,
            purchase_id=None,
            clears_at=None,
            reason=returned(referral.purchase_id),
        )
        report.back_to_pending += 1
        return
    referee = uow.referrals.member_state(program.id, referral.referee_id)
    if referee is None or referee.status == MemberStatus.CLOSED.value:
        reject(uow, program, referral, REFEREE_CLOSED, now)
        report.rejected += 1
        return
    for member_id in sorted({referral.referee_id, referral.referrer_id}):  # one lock order
        uow.ledger.lock_member(member_id)
    _fire(uow, program, referral, "referee", now)
    reason = _referrer_not_rewarded(uow, program, settings, referral, now)
    if reason is None:
        _fire(uow, program, referral, "referrer", now)
        report.completed += 1
    else:
        report.referrer_unrewarded += 1
    uow.referrals.set(
        referral.id, status=ReferralStatus.COMPLETED.value, completed_at=now, reason=reason
    )
    uow.outbox.emit(
        program_id=program.id,
        member_id=referral.referee_id,
        type=business_events.REFERRAL_COMPLETED,
        occurred_at=now,
        recorded_at=now,
        payload={
            "referral": referral.id,
            "referrer": referral.referrer_id,
            "referee": referral.referee_id,
            "referrer_rewarded": reason is None,
        },
    )


def _referrer_not_rewarded(
    uow: Any, program: Program, settings: ProgramSettings, referral: Any, now: datetime
) -> str | None:
    """Why the referrer gets nothing for this referral, or ``None``."""
    referrer = uow.referrals.member_state(program.id, referral.referrer_id)
    if referrer is None or referrer.status == MemberStatus.CLOSED.value:
        return REFERRER_CLOSED
    cap, period = (settings.referrals.max_rewarded_per_referrer, settings.referrals.cap_period)
    start = end = None
    if period != "lifetime":
        start, end = period_bounds(Period(period), now, program.tz)
    if uow.referrals.rewarded_count(referral.referrer_id, start, end) >= cap:
        return cap_reached(cap, period)
    return None


def _fire(uow: Any, program: Program, referral: Any, role: str, now: datetime) -> None:
    member_id = referral.referee_id if role == "referee" else referral.referrer_id
    earn_event(
        uow,
        program,
        member_id,
        REFERRAL_COMPLETED,
        f"referral:{referral.id}:{role}",
        now,
        {"role": role, "referral": referral.id},
        now,
    )

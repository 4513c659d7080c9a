"""Tiers as use cases: qualifying, moving up and down, benefits, history, progress.

Upgrades happen in the purchase's own transaction, with the member's tier row locked so that
concurrent purchases take turns (one upgrade, not two). Downgrades happen in the review job
(``loyalty jobs tiers``), per the program's policy. Every change is recorded in the tier
history and as a domain event (``tier.upgraded``, ``tier.downgraded``, ``tier.will_drop``)
for the notifications to deliver.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from loyalty.domain.audit import NewAuditRecord
from loyalty.domain.basket import Basket
from loyalty.domain.errors import InvalidRequest, MemberNotFound
from loyalty.domain.tiers import (
    DowngradePolicy,
    Ladder,
    Level,
    Measure,
    Progress,
    TierChangeReason,
    WindowKind,
    progress,
)
from loyalty.rules.engine import CompiledProgram, Evaluation, MemberFacts, RuleResult
from loyalty.rules.program import Program
from loyalty.services.context import Context
from loyalty.services.earning import write_earn

TICK = timedelta(microseconds=1)  # the smallest step: "up to and including" an instant


def measure_as_of(uow: Any, ladder: Ladder, member_id: str, at: datetime,
                  enrolled_at: datetime, program: Program) -> int:
    """The member's measure over the window, counting everything up to ``at`` included."""
    start, end = window_as_of(ladder, at, enrolled_at, program)
    return uow.tiers.measure(member_id, ladder.measure, start, end)


def window_as_of(ladder: Ladder, at: datetime, enrolled_at: datetime,
                 program: Program) -> tuple[datetime | None, datetime]:
    """The [start, end) of the measure as of ``at``, ``at`` included (start None: always)."""
    return ladder.window_start(at, enrolled_at, program.tz), at + TICK


@dataclass(frozen=True)
class Qualified:
    """A purchase's evaluation at the right tier, and the upgrade it makes, if any."""

    evaluation: Evaluation
    before: Level
    after: Level
    spend: int
    points: int


def qualify_purchase(uow: Any, program: Program, compiled: CompiledProgram, member_id: str,
                     enrolled_at: datetime, basket: Basket, facts: MemberFacts,
                     now: datetime) -> Qualified:
    """Evaluate a purchase at the member's tier, and tell whether it crosses a threshold. With
    ``upgrade_earns_at_new_tier`` the crossing purchase is evaluated again at the new tier."""
    ladder = compiled.ladder
    assert ladder is not None and compiled.definition.tiers is not None
    state = uow.tiers.lock(program.id, member_id, ladder.levels[0].id, now)
    current = ladder.level(state.tier)
    evaluation = compiled.evaluate_purchase(basket, replace(facts, tier=current.id))
    before = measure_as_of(uow, ladder, member_id, basket.occurred_at, enrolled_at, program)
    contribution = {Measure.SPEND: basket.lines_total,
                    Measure.POINTS: evaluation.qualifying_points, Measure.PURCHASES: 1}
    reached = ladder.reached(before + contribution[ladder.measure])
    if reached.rank > current.rank and compiled.definition.tiers.upgrade_earns_at_new_tier:
        evaluation = compiled.evaluate_purchase(basket, replace(facts, tier=reached.id))
    target = reached if reached.rank > current.rank else current
    return Qualified(evaluation, current, target, basket.lines_total,
                     evaluation.qualifying_points)


def qualify_event_points(uow: Any, program: Program, compiled: CompiledProgram,
                         member_id: str, enrolled_at: datetime, points: int, *,
                         occurred_at: datetime, now: datetime, reference: str) -> None:
    """Qualifying points an event earned count toward tiers, and may cross a threshold."""
    ladder = compiled.ladder
    assert ladder is not None
    state = uow.tiers.lock(program.id, member_id, ladder.levels[0].id, now)
    uow.tiers.record_activity(program_id=program.id, member_id=member_id,
                              occurred_at=occurred_at, spend=0, points=points, purchases=0,
                              source="event", reference=reference)
    current = ladder.level(state.tier)
    reached = ladder.reached(measure_as_of(uow, ladder, member_id, occurred_at, enrolled_at,
                                           program))
    if reached.rank > current.rank:
        move(uow, program, compiled, member_id, current, reached, at=occurred_at, now=now,
             reason=TierChangeReason.THRESHOLD, detail=f"event {reference}")


def after_purchase(uow: Any, program: Program, compiled: CompiledProgram, member_id: str,
                   qualified: Qualified, *, occurred_at: datetime, now: datetime,
                   purchase_id: str) -> None:
    """Record the purchase's qualifying activity and make its upgrade, with its bonuses."""
    uow.tiers.record_activity(program_id=program.id, member_id=member_id,
                              occurred_at=occurred_at, spend=qualified.spend,
                              points=qualified.points, purchases=1, source="purchase",
                              reference=purchase_id)
    if qualified.after.rank > qualified.before.rank:
        move(uow, program, compiled, member_id, qualified.before, qualified.after,
             at=occurred_at, now=now, reason=TierChangeReason.THRESHOLD,
             detail=f"purchase {purchase_id}")


def move(uow: Any, program: Program, compiled: CompiledProgram, member_id: str, old: Level,
         new: Level, *, at: datetime, now: datetime, reason: TierChangeReason,
         detail: str | None = None, actor: str | None = None, **state: Any) -> None:
    """Change the member's tier: state, history, event, and the bonus of each level reached
    for the first time."""
    uow.tiers.update(member_id, tier=new.id, achieved_at=at, drop_to=None, drop_at=None,
                     updated_at=now, **state)
    uow.tiers.record_change(program_id=program.id, member_id=member_id, from_tier=old.id,
                            to_tier=new.id, at=at, reason=reason.value, detail=detail,
                            actor=actor)
    up = new.rank > old.rank
    uow.outbox.emit(program_id=program.id, member_id=member_id,
                    type="tier.upgraded" if up else "tier.downgraded", occurred_at=at,
                    recorded_at=now, payload={"from": old.id, "to": new.id,
                                              "reason": reason.value})
    if up:
        _bonuses(uow, program, compiled, member_id, old, new, at=at, now=now)


def _bonuses(uow: Any, program: Program, compiled: CompiledProgram, member_id: str, old: Level,
             new: Level, *, at: datetime, now: datetime) -> None:
    tiers = compiled.definition.tiers
    assert tiers is not None
    reached = [level for level in tiers.levels[old.rank + 1:new.rank + 1] if level.bonus_points]
    already = uow.usage.rules_ever_awarded(member_id, [f"tier-bonus-{lv.id}" for lv in reached])
    for level in reached:
        rule_id = f"tier-bonus-{level.id}"
        if rule_id in already:
            continue  # a tier's bonus is given once, however often it is reached
        result = RuleResult(rule_id, f"bonus for reaching {level.name}", True,
                            level.bonus_points, f"{level.bonus_points} points for reaching "
                            f"{level.name}", qualifying=False)
        evaluation = Evaluation(level.bonus_points, 0, compiled.version, (result,))
        earned = write_earn(uow, program, compiled, member_id, evaluation, occurred_at=at,
                            now=now, reason=f"tier bonus: reached {level.name}",
                            may_wait=False)
        uow.usage.record_awards(program.id, member_id, earned.entry_id, at,
                                [(rule_id, level.bonus_points)])


def after_return(uow: Any, program: Program, compiled: CompiledProgram, member_id: str, *,
                 enrolled_at: datetime, occurred_at: datetime, now: datetime, spend: int,
                 points: int, purchases: int, reference: str) -> None:
    """A return reduces the qualifying measure. A tier reached during the current period on
    what was returned is taken back at once (down to what the measure still reaches, never
    below the tier held when the period began, nor the agent's floor); other drops wait for
    the period review."""
    uow.tiers.record_activity(program_id=program.id, member_id=member_id,
                              occurred_at=occurred_at, spend=-spend, points=-points,
                              purchases=-purchases, source="return", reference=reference)
    ladder = compiled.ladder
    if ladder is None:
        return
    state = uow.tiers.lock(program.id, member_id, ladder.levels[0].id, now)
    current = ladder.level(state.tier)
    measure = measure_as_of(uow, ladder, member_id, now, enrolled_at, program)
    if measure >= current.threshold:
        return
    period_start = ladder.period_bounds(now, enrolled_at, program.tz)[0]
    if ladder.window is WindowKind.LIFETIME:
        period_start = state.achieved_at  # in a lifetime window, the tier's own start
    if state.achieved_at < period_start:
        return  # the tier was held before this period: the review decides
    held = tier_at(uow, ladder, member_id, period_start)
    floor = _floor(ladder, state, now)
    target = max((ladder.reached(measure), held, floor or ladder.levels[0]),
                 key=lambda level: level.rank)
    if target.rank < current.rank:
        move(uow, program, compiled, member_id, current, target, at=now, now=now,
             reason=TierChangeReason.RETURN, detail=f"return {reference}")


def tier_at(uow: Any, ladder: Ladder, member_id: str, instant: datetime) -> Level:
    """The member's tier just before ``instant``, from its tier history."""
    for change in uow.tiers.history(member_id, 1000):  # newest first
        if change.at < instant:
            return ladder.level(change.to_tier)
    return ladder.levels[0]


def _floor(ladder: Ladder, state: Any, at: datetime) -> Level | None:
    if state.manual_tier is None or (state.manual_until is not None
                                     and state.manual_until <= at):
        return None
    return ladder.level(state.manual_tier)


# -- the agent's manual tier ------------------------------------------------------------------


def set_tier(ctx: Context, program_id: str, member_id: str, tier_id: str, *,
             until: datetime | None, reason: str, actor: str,
             acting_person: str | None = None) -> TierView:
    """An agent sets the member's tier; until ``until`` it is a floor no review goes below."""
    now = ctx.clock.now()
    if until is not None and until <= now:
        raise InvalidRequest("a manual tier ends in the future", field="until")
    with ctx.uow() as uow:
        program = uow.programs.get(program_id)
        compiled = uow.programs.compiled_at(program, now)
        ladder = compiled.ladder
        if ladder is None:
            raise InvalidRequest("this program has no tiers", field="tier")
        if tier_id not in {level.id for level in ladder.levels}:
            raise InvalidRequest(f"there is no tier {tier_id!r} in this program", field="tier")
        if uow.members.status_of(program_id, member_id) is None:
            raise MemberNotFound(f"there is no member {member_id!r} in this program")
        state = uow.tiers.lock(program_id, member_id, ladder.levels[0].id, now)
        old, new = ladder.level(state.tier), ladder.level(tier_id)
        move(uow, program, compiled, member_id, old, new, at=now, now=now,
             reason=TierChangeReason.MANUAL, detail=reason, actor=actor,
             manual_tier=new.id, manual_until=until)
        uow.audit.append(NewAuditRecord(
            actor=actor, acting_person=acting_person, action="member.tier_set",
            target_type="member", target_id=member_id, program_id=program_id,
            member_id=member_id, before={"tier": old.id},
            after={"tier": new.id, "until": until.isoformat() if until else None,
                   "reason": reason},
        ), now)
        uow.commit()
    return tier_view(ctx, program_id, member_id)


# -- what members and agents read ---------------------------------------------------------------


@dataclass(frozen=True)
class TierChange:
    from_tier: str | None
    to_tier: str
    at: datetime
    reason: str
    detail: str | None


@dataclass(frozen=True)
class TierView:
    member_id: str
    progress: Progress | None
    measure: Measure | None
    history: tuple[TierChange, ...]
    currency: str


def current_progress(uow: Any, program: Program, compiled: CompiledProgram, member_id: str,
                     enrolled_at: datetime, now: datetime) -> Progress | None:
    ladder = compiled.ladder
    if ladder is None:
        return None
    state = uow.tiers.get(member_id)
    tier = ladder.level(state.tier if state else None)
    measure = measure_as_of(uow, ladder, member_id, now, enrolled_at, program)
    floor = _floor(ladder, state, now) if state else None
    return progress(ladder, tier, measure, now=now, enrolled_at=enrolled_at, tz=program.tz,
                    floor=floor, floor_until=state.manual_until if floor else None)


def tier_view(ctx: Context, program_id: str, member_id: str, *, limit: int = 50) -> TierView:
    now = ctx.clock.now()
    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(program_id)
        profile = uow.members.facts_row(program_id, member_id)
        if profile is None:
            raise MemberNotFound(f"there is no member {member_id!r} in this program")
        compiled = uow.programs.compiled_at(program, now)
        shown = current_progress(uow, program, compiled, member_id, profile[2], now)
        history = tuple(TierChange(c.from_tier, c.to_tier, c.at, c.reason, c.detail)
                        for c in uow.tiers.history(member_id, limit))
    return TierView(member_id, shown, compiled.ladder.measure if compiled.ladder else None,
                    history, program.currency)


# -- the review job -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TierReview:
    members: int
    upgraded: int
    downgraded: int
    drops_scheduled: int
    drops_cancelled: int


def review_tiers(ctx: Context, *, batch_size: int = 200) -> TierReview:
    """Review every member's tier: moves up those a changed ladder lifts, reviews each
    qualification period that has ended (per the downgrade policy, with grace), and applies
    drops whose grace is over unless the member requalified. Idempotent: each period is
    reviewed once per member; safe while purchases arrive (each member is locked)."""
    now = ctx.clock.now()
    counts = {"members": 0, "upgraded": 0, "downgraded": 0, "scheduled": 0, "cancelled": 0}
    with ctx.uow(read_only=True) as uow:
        programs = [uow.programs.get(pid) for pid in uow.programs.list_ids()]
    for program in programs:
        after: str | None = None
        while True:
            with ctx.uow() as uow:
                compiled = uow.programs.compiled_at(program, now)
                if compiled.ladder is None:
                    break
                page = uow.tiers.members(program.id, after=after, limit=batch_size)
                read = _read_page(uow, program, compiled.ladder, page, now)
                for member_id, enrolled_at in page:
                    _review_member(uow, program, compiled, member_id, enrolled_at, now, counts,
                                   read)
                    counts["members"] += 1
                uow.commit()
            if len(page) < batch_size:
                break
            after = page[-1][0]
    return TierReview(counts["members"], counts["upgraded"], counts["downgraded"],
                      counts["scheduled"], counts["cancelled"])


@dataclass(frozen=True)
class _Page:
    """What the review reads of a page of members in a few statements, not a few per member
    (over 100,000 members those round trips were most of the job): the tier states they have,
    locked as ``lock`` locks one; their measure as of now; and their measure over the
    qualification period that ended last (empty when periods are never reviewed)."""

    states: dict[str, Any]
    measures: dict[str, int]
    period_measures: dict[str, int]


def _read_page(uow: Any, program: Program, ladder: Ladder,
               page: list[tuple[str, datetime]], now: datetime) -> _Page:
    states = uow.tiers.lock_existing([member_id for member_id, _ in page])
    measures = uow.tiers.measures(ladder.measure, {
        member_id: window_as_of(ladder, now, enrolled_at, program)
        for member_id, enrolled_at in page})
    period_measures: dict[str, int] = {}
    if ladder.downgrade is not DowngradePolicy.NONE and ladder.window is not WindowKind.LIFETIME:
        period_measures = uow.tiers.measures(ladder.measure, {
            member_id: _last_period(ladder, now, enrolled_at, program)
            for member_id, enrolled_at in page})
    return _Page(states, measures, period_measures)


def _last_period(ladder: Ladder, now: datetime, enrolled_at: datetime,
                 program: Program) -> tuple[datetime | None, datetime]:
    """The [start, end) measured by the review of the qualification period that ended last."""
    period_end = ladder.period_bounds(now, enrolled_at, program.tz)[0]
    return ladder.window_start(period_end - TICK, enrolled_at, program.tz), period_end


def _review_member(uow: Any, program: Program, compiled: CompiledProgram, member_id: str,
                   enrolled_at: datetime, now: datetime, counts: dict[str, int],
                   read: _Page) -> None:
    ladder = compiled.ladder
    assert ladder is not None
    existing = read.states.get(member_id)
    measure = read.measures[member_id]
    ids = {level.id for level in ladder.levels}
    if existing is None and ladder.reached(measure).rank == 0:
        return  # at the lowest level with nothing to review: no row to write
    # an existing state is already locked (``_read_page``): ``lock`` would only read it again
    state = (existing if existing is not None
             else uow.tiers.lock(program.id, member_id, ladder.levels[0].id, now))
    current = ladder.level(state.tier)
    floor = _floor(ladder, state, now)

    # A changed ladder: a tier that no longer exists, or thresholds that now lift the member.
    reached = ladder.reached(measure)
    if state.tier not in ids or reached.rank > current.rank:
        target = max((reached, floor or ladder.levels[0]), key=lambda level: level.rank)
        if state.tier not in ids or target.rank > current.rank:
            old = Level(state.tier, state.tier, 0, -1) if state.tier not in ids else current
            move(uow, program, compiled, member_id, old, target, at=now, now=now,
                 reason=TierChangeReason.LADDER, detail="the tier ladder changed")
            counts["upgraded"] += target.rank > current.rank
            state = uow.tiers.lock(program.id, member_id, ladder.levels[0].id, now)
            current = target

    if ladder.downgrade is DowngradePolicy.NONE or ladder.window is WindowKind.LIFETIME:
        return

    # A scheduled drop whose grace is over: unless the member requalified meanwhile.
    if state.drop_at is not None and state.drop_at <= now:
        if measure >= current.threshold:
            uow.tiers.update(member_id, drop_to=None, drop_at=None, updated_at=now)
            uow.outbox.emit(program_id=program.id, member_id=member_id,
                            type="tier.drop_cancelled", occurred_at=now, recorded_at=now,
                            payload={"tier": current.id})
            counts["cancelled"] += 1
        else:
            target = ladder.level(state.drop_to)
            if floor is not None and floor.rank > target.rank:
                target = floor
            if target.rank < current.rank:
                move(uow, program, compiled, member_id, current, target, at=state.drop_at,
                     now=now, reason=TierChangeReason.PERIOD_REVIEW,
                     detail="the grace period ended")
                counts["downgraded"] += 1
                current = target
            else:
                uow.tiers.update(member_id, drop_to=None, drop_at=None, updated_at=now)
        state = uow.tiers.lock(program.id, member_id, ladder.levels[0].id, now)

    # The review of the period that ended last, once.
    period_end = ladder.period_bounds(now, enrolled_at, program.tz)[0]
    reviewed = state.reviewed_through or ladder.period_bounds(
        state.achieved_at, enrolled_at, program.tz)[0]
    if reviewed >= period_end:
        return
    measured = read.period_measures[member_id]  # over _last_period: read with the page
    review_floor = floor if floor is not None and (
        state.manual_until is None or state.manual_until > period_end) else None
    target = ladder.after_review(current, measured, review_floor)
    # A member who already requalified in the new period keeps what the new period reaches.
    requalified = ladder.reached(measure)
    if requalified.rank > target.rank:
        target = current if requalified.rank >= current.rank else requalified
    uow.tiers.update(member_id, reviewed_through=period_end, updated_at=now)
    if target.rank >= current.rank:
        return
    if ladder.grace_days:
        drop_at = period_end + timedelta(days=ladder.grace_days)
        if drop_at <= now:  # the job did not run during the grace: the drop is due
            move(uow, program, compiled, member_id, current, target, at=drop_at, now=now,
                 reason=TierChangeReason.PERIOD_REVIEW, detail="the grace period ended")
            counts["downgraded"] += 1
            return
        uow.tiers.update(member_id, drop_to=target.id, drop_at=drop_at, updated_at=now)
        uow.outbox.emit(program_id=program.id, member_id=member_id, type="tier.will_drop",
                        occurred_at=now, recorded_at=now,
                        payload={"from": current.id, "to": target.id,
                                 "drop_at": drop_at.isoformat(),
                                 "days": (drop_at - now).days})
        counts["scheduled"] += 1
        return
    move(uow, program, compiled, member_id, current, target, at=period_end, now=now,
         reason=TierChangeReason.PERIOD_REVIEW,
         detail=f"the period ending {period_end:%Y-%m-%d} measured {measured}")
    counts["downgraded"] += 1


# -- changing the ladder ------------------------------------------------------------------------


@dataclass(frozen=True)
class TierMoves:
    """What publishing a ladder would do to today's members."""

    members: int
    up: int
    down: int
    unchanged: int
    by_tier: dict[str, int]  # members per tier of the new ladder, after the moves


def preview_tier_moves(ctx: Context, program_id: str, definition: Any) -> TierMoves:
    """Members who would move up (at once, through the job) and down (at the next review)
    under ``definition``'s ladder, measured as of now."""
    now = ctx.clock.now()
    up = down = same = 0
    by_tier: dict[str, int] = {}
    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(program_id)
        compiled = CompiledProgram(definition, currency=program.currency,
                                   time_zone=program.time_zone)
        ladder = compiled.ladder
        if ladder is None:
            raise InvalidRequest("this definition has no tiers", field="tiers")
        old_ladder = uow.programs.compiled_at(program, now).ladder
        after: str | None = None
        while True:
            page = uow.tiers.members(program_id, after=after, limit=1000)
            for member_id, enrolled_at in page:
                state = uow.tiers.get(member_id)
                held = state.tier if state else (old_ladder.levels[0].id if old_ladder else "")
                measure = measure_as_of(uow, ladder, member_id, now, enrolled_at, program)
                reached = ladder.reached(measure)
                current = next((lv for lv in ladder.levels if lv.id == held), None)
                if current is None or reached.rank > current.rank:
                    target = reached
                else:
                    target = ladder.after_review(current, measure, None)
                if current is None:
                    moved = "up" if old_ladder is None or target.threshold else "same"
                else:
                    moved = ("up" if target.rank > current.rank else
                             "down" if target.rank < current.rank else "same")
                up += moved == "up"
                down += moved == "down"
                same += moved == "same"
                by_tier[target.id] = by_tier.get(target.id, 0) + 1
            if len(page) < 1000:
                break
            after = page[-1][0]
    return TierMoves(up + down + same, up, down, same, by_tier)

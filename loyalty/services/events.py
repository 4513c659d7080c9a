"""Events: things members do that rules may reward (sign-up, review, birthday, any custom type).

Posting an event is idempotent like a purchase: ``external_id`` is unique per program. Event
points are available at once (there is nothing to return).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from loyalty.domain.basket import Event
from loyalty.domain.errors import InvalidRequest, MemberNotActive, MemberNotFound
from loyalty.domain.members import MemberStatus, new_id
from loyalty.domain.time import local_date, utc
from loyalty.rules.program import Program
from loyalty.services.context import Context
from loyalty.services.earning import member_facts, write_earn
from loyalty.services.idempotency import (
    IdempotencyKey,
    Outcome,
    claim,
    fingerprint,
    remember,
    serialisable,
)
from loyalty.services.members import MemberRef, resolve_member_id
from loyalty.services.purchases import BalanceSnapshot
from loyalty.services.tiers import qualify_event_points

_TYPE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class RecordEvent:
    program_id: str
    member: MemberRef
    type: str
    external_id: str
    occurred_at: datetime
    properties: dict[str, Any] = field(default_factory=dict)
    request_key: IdempotencyKey | None = None


@dataclass(frozen=True)
class EventRecorded:
    event_id: str
    member_id: str
    type: str
    external_id: str
    occurred_at: datetime
    points_earned: int
    expires_at: datetime | None
    program_version: int | None
    explanation: tuple[dict[str, object], ...]
    balance: BalanceSnapshot


# Events whose checks live in the engine: posting them directly would skip those checks.
ENGINE_EVENTS = frozenset({"survey_answered", "referral_completed"})


def record_event(ctx: Context, command: RecordEvent) -> Outcome[EventRecorded]:
    if not _TYPE.match(command.type):
        raise InvalidRequest("an event type has 1 to 64 lower-case letters, digits, '-', '_' "
                             "or '.'", field="type")
    if command.type in ENGINE_EVENTS:
        raise InvalidRequest(f"{command.type!r} events are fired by the engine itself (when a "
                             "survey is answered, when a referral completes), not posted",
                             field="type")
    command = replace(command, occurred_at=utc(command.occurred_at))
    now = ctx.clock.now()
    if command.occurred_at > now + ctx.future_tolerance:
        raise InvalidRequest("occurred_at is in the future", field="occurred_at")
    natural = (f"event:{command.external_id}", fingerprint(replace(command, request_key=None)))
    with ctx.uow() as uow:
        program = uow.programs.get(command.program_id)
        keys, replay = claim(uow, program.id, natural, command.request_key, EventRecorded,
                             now)
        if replay is not None:
            return replay
        member_id = resolve_member_id(uow, program.id, command.member)
        result = earn_event(uow, program, member_id, command.type, command.external_id,
                            command.occurred_at, command.properties, now)
        remember(uow, program.id, keys, result)
        uow.commit()
    return Outcome(result)


def earn_event(uow: Any, program: Program, member_id: str, event_type: str, external_id: str,
               occurred_at: datetime, properties: dict[str, Any], now: datetime
               ) -> EventRecorded:
    """Record an event of ``member_id`` and earn what its rules give, in the caller's unit
    of work: the caller claims any idempotency key and commits. Other use cases fire events
    through it as part of their own write (a survey answer, a completed referral)."""
    profile = uow.members.facts_row(program.id, member_id)
    if profile is None:
        raise MemberNotFound(f"there is no member {member_id!r} in this program",
                             field="member")
    status, attributes, enrolled_at = profile
    if status is MemberStatus.CLOSED:
        raise MemberNotActive("a closed member no longer earns points",
                              member_status=status.value)
    compiled = uow.programs.compiled_at(program, occurred_at)
    facts = member_facts(uow, program, compiled, member_id, occurred_at,
                         status=status.value, attributes=attributes, enrolled_at=enrolled_at,
                         trigger=event_type)
    event = Event(event_type, occurred_at, dict(properties))
    evaluation = compiled.evaluate_event(event, facts)
    event_id = new_id("evt")
    uow.events.add(id=event_id, program_id=program.id, member_id=member_id,
                   type=event_type, external_id=external_id,
                   occurred_at=occurred_at, recorded_at=now,
                   properties=dict(properties), points_earned=evaluation.points)
    earned = write_earn(uow, program, compiled, member_id, evaluation,
                        occurred_at=occurred_at, now=now,
                        reason=f"{event_type} event {external_id}",
                        event_id=event_id, may_wait=False)
    if compiled.ladder is not None and evaluation.qualifying_points:
        qualify_event_points(uow, program, compiled, member_id, enrolled_at,
                             evaluation.qualifying_points, occurred_at=occurred_at,
                             now=now, reference=event_id)
    return EventRecorded(
        event_id=event_id, member_id=member_id, type=event_type,
        external_id=external_id, occurred_at=occurred_at,
        points_earned=evaluation.points, expires_at=earned.expires_at,
        program_version=compiled.version, explanation=evaluation.explanation(),
        balance=BalanceSnapshot(earned.balance.available, earned.balance.pending),
    )


@dataclass(frozen=True)
class BirthdaysFired:
    members: int
    points: int


def fire_birthdays(ctx: Context, *, batch_size: int = 500) -> BirthdaysFired:
    """Fire a ``birthday`` event for every active member whose birthday is today in their
    program's zone: once per member per year (the event's id holds the year), so running the
    job twice, or in two places, fires once. A 29 February birthday is kept on 28 February in
    other years."""
    now = ctx.clock.now()
    fired = points = 0
    with ctx.uow(read_only=True) as uow:
        programs = [uow.programs.get(pid) for pid in uow.programs.list_ids()]
    for program in programs:
        today = local_date(now, program.tz)
        days = [(today.month, today.day)]
        if (today.month, today.day) == (2, 28) and not _leap(today.year):
            days.append((2, 29))
        for month, day in days:
            after: str | None = None
            while True:
                with ctx.uow(read_only=True) as uow:
                    members, after = uow.events.birthdays(program.id, month, day, after=after,
                                                          limit=batch_size)
                for member_id in members:
                    outcome = record_event(ctx, RecordEvent(
                        program.id, MemberRef(member_id=member_id), "birthday",
                        f"birthday-{member_id}-{today.year}", now,
                        {"year": today.year}))
                    if not outcome.replayed:
                        fired += 1
                        points += outcome.result.points_earned
                if after is None:
                    break
    return BirthdaysFired(fired, points)


def _leap(year: int) -> bool:
    try:
        date(year, 2, 29)
    except ValueError:
        return False
    return True


serialisable(RecordEvent, EventRecorded)

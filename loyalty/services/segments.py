"""Segments: named sets of members, declared in the program definition.

A segment (``segments`` of the definition: ``id``, ``name``, ``description``, ``filter``) is a
boolean tree over member facts only, in the language of rule conditions. It is versioned with
the program: a segment is always read in one version (the one in force now, or ``version``),
and a new published version may change it. Membership is evaluated now: listing compiles the
filter to SQL and lets the database count and page (``adapters.segment_repositories``); a
rule's ``{segment: id}`` condition is evaluated by the rule engine at the purchase or event,
with the member's facts as of then. ``member_in_segment`` is that Python evaluator, applied
now: the two must agree, and the tests hold them to it.

Listings leave out merged duplicates and erased members (they are no longer persons of the
program); closed members are listed (filter on ``member.status`` to leave them out).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.domain.errors import InvalidRequest, MemberNotFound, SegmentNotFound
from loyalty.rules.definition import Segment
from loyalty.rules.engine import CompiledProgram, MemberFacts, days_window_start
from loyalty.rules.program import Program
from loyalty.services.context import Context
from loyalty.services.segment_facts import history_facts


@dataclass(frozen=True)
class SegmentView:
    id: str
    name: str
    description: str | None
    filter: dict[str, Any]
    version: int
    members: int  # how many members belong to it now
    as_of: datetime


@dataclass(frozen=True)
class SegmentList:
    program_id: str
    version: int
    as_of: datetime
    segments: tuple[SegmentView, ...]


@dataclass(frozen=True)
class SegmentMember:
    member_id: str
    status: str
    tier: str | None


@dataclass(frozen=True)
class SegmentMembersPage:
    segment_id: str
    version: int
    as_of: datetime
    members: tuple[SegmentMember, ...]
    next_cursor: str | None


def _compiled(uow: Any, program: Program, version: int | None, now: datetime) -> CompiledProgram:
    if version is None:
        return uow.programs.compiled_at(program, now)
    return uow.programs.compiled(program, version)


def _segment(compiled: CompiledProgram, program: Program, segment_id: str) -> Segment:
    segment = compiled.definition.segment(segment_id)
    if segment is None:
        raise SegmentNotFound(
            f"version {compiled.version} of program {program.id!r} has no segment {segment_id!r}",
            segment=segment_id,
        )
    return segment


def _where(compiled: CompiledProgram, program: Program, now: datetime) -> dict[str, Any]:
    ladder = compiled.ladder
    return {
        "at": now,
        "tz": program.tz,
        "currency": program.currency,
        "ladder": [level.id for level in ladder.levels] if ladder is not None else None,
    }


def _view(
    uow: Any, program: Program, compiled: CompiledProgram, segment: Segment, now: datetime
) -> SegmentView:
    document = segment.model_dump(mode="json", by_alias=True, exclude_unset=True)
    count = uow.segments.count(program.id, segment.filter, **_where(compiled, program, now))
    return SegmentView(
        segment.id,
        segment.name,
        segment.description,
        document["filter"],
        compiled.version or 0,
        count,
        now,
    )


def list_segments(ctx: Context, program_id: str, version: int | None = None) -> SegmentList:
    """The segments of the version in force now (or of ``version``), each with its count."""
    now = ctx.clock.now()
    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(program_id)
        compiled = _compiled(uow, program, version, now)
        views = tuple(
            _view(uow, program, compiled, segment, now) for segment in compiled.definition.segments
        )
    return SegmentList(program.id, compiled.version or 0, now, views)


def get_segment(
    ctx: Context, program_id: str, segment_id: str, version: int | None = None
) -> SegmentView:
    now = ctx.clock.now()
    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(program_id)
        compiled = _compiled(uow, program, version, now)
        return _view(uow, program, compiled, _segment(compiled, program, segment_id), now)


def segment_members(
    ctx: Context,
    program_id: str,
    segment_id: str,
    *,
    limit: int,
    cursor: str | None = None,
    version: int | None = None,
) -> SegmentMembersPage:
    """A page of the segment's members now, by member id; ``next_cursor`` continues it."""
    after = None
    if cursor is not None:
        after = decode_cursor(cursor)
        if after is None:
            raise InvalidRequest("this cursor was not given by this API", field="cursor")
    now = ctx.clock.now()
    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(program_id)
        compiled = _compiled(uow, program, version, now)
        segment = _segment(compiled, program, segment_id)
        rows = uow.segments.members(
            program.id,
            segment.filter,
            after=after,
            limit=limit + 1,
            **_where(compiled, program, now),
        )
    page = rows[:limit]
    return SegmentMembersPage(
        segment.id,
        compiled.version or 0,
        now,
        tuple(SegmentMember(row.member_id, row.status, row.tier) for row in page),
        encode_cursor(page[-1].member_id) if len(rows) > limit else None,
    )


def member_in_segment(
    ctx: Context, program_id: str, segment_id: str, member_id: str, version: int | None = None
) -> bool:
    """Whether the member belongs to the segment now, by the rule engine's evaluator: the
    member's facts gathered as for a purchase made now, and the filter evaluated in Python."""
    now = ctx.clock.now()
    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(program_id)
        compiled = _compiled(uow, program, version, now)
        segment = _segment(compiled, program, segment_id)
        profile = uow.members.facts_row(program.id, member_id)
        if profile is None:
            raise MemberNotFound(f"there is no member {member_id!r} in this program")
        status, attributes, enrolled_at = profile
        needs = compiled.segment_needs(segment.id)
        tier = None
        if compiled.ladder is not None:
            state = uow.tiers.get(member_id)
            tier = compiled.ladder.level(state.tier if state else None).id
        facts = MemberFacts(
            tier=tier,
            status=status.value,
            attributes=attributes,
            enrolled_at=enrolled_at,
            purchases=(uow.usage.purchases_before(member_id, now) if needs.purchase_count else 0),
            spend_last_days={
                days: uow.usage.spend_between(
                    member_id, days_window_start(now, days, program.tz), now
                )
                for days in needs.spend_days
            },
            **history_facts(uow, program, needs, member_id, now),
        )
    return compiled.in_segment(segment.id, facts, now)


def encode_cursor(member_id: str) -> str:
    return base64.urlsafe_b64encode(f"s{member_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    member_id = text[1:]
    if not text.startswith("s") or not 0 < len(member_id) <= 40 or not member_id.isprintable():
        return None
    return member_id

"""Programs and their definitions: create, edit the draft, publish versions, read them.

A program's definition (settings and earn rules) is published as immutable numbered versions. A
purchase or event is evaluated against the version in force at its ``occurred_at``: the highest
version whose ``effective_from`` is not after it (version 1 is in force from the beginning).
Every change is in the audit log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.domain.audit import NewAuditRecord
from loyalty.domain.errors import (
    InvalidDefinition,
    InvalidRequest,
    ProgramAlreadyExists,
    VersionNotFound,
)
from loyalty.domain.money import validate_currency
from loyalty.domain.time import utc, zone
from loyalty.rules.definition import (
    DefinitionError,
    ProgramDefinition,
    load_definition,
    money_problems,
)
from loyalty.rules.program import Program
from loyalty.services.context import Context

_PROGRAM_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class CreateProgram:
    id: str
    name: str
    currency: str
    time_zone: str
    settings: dict[str, Any]
    rules: list[dict[str, Any]] | None = None
    tiers: dict[str, Any] | None = None
    segments: list[dict[str, Any]] | None = None
    rewards: list[dict[str, Any]] | None = None


def validated(document: Any, program: Program) -> ProgramDefinition:
    """The definition in ``document``, or ``InvalidDefinition`` listing every mistake."""
    try:
        definition = load_definition(document)
    except DefinitionError as error:
        raise InvalidDefinition(
            f"{len(error.problems)} mistake(s) in the program definition",
            problems=[{"field": path, "detail": message} for path, message in error.problems],
        ) from None
    problems = [{"field": path, "detail": message}
                for path, message in money_problems(definition, program.currency)]
    settings = definition.settings
    if settings.currency not in (None, program.currency):
        problems.append({"field": "settings.currency",
                         "detail": f"the program runs in {program.currency}"})
    if settings.time_zone not in (None, program.time_zone):
        problems.append({"field": "settings.time_zone",
                         "detail": f"the program's time zone is {program.time_zone}"})
    if problems:
        raise InvalidDefinition("the definition does not fit the program", problems=problems)
    return definition


def _document(definition: ProgramDefinition) -> dict[str, Any]:
    return definition.model_dump(mode="json", by_alias=True, exclude_unset=True)


def create_program(ctx: Context, command: CreateProgram, actor: str = "cli") -> Program:
    if not _PROGRAM_ID.match(command.id):
        raise InvalidRequest(
            "a program id has 1 to 64 lower-case letters, digits, '-' or '_'", field="id"
        )
    try:
        validate_currency(command.currency)
    except ValueError as error:
        raise InvalidRequest(str(error), field="currency") from None
    try:
        zone(command.time_zone)
    except ValueError as error:
        raise InvalidRequest(str(error), field="time_zone") from None
    program = Program(command.id, command.name, command.currency, command.time_zone)
    document: dict[str, Any] = {"settings": command.settings, "rules": command.rules or []}
    if command.tiers is not None:
        document["tiers"] = command.tiers
    if command.segments is not None:
        document["segments"] = command.segments
    if command.rewards is not None:
        document["rewards"] = command.rewards
    definition = validated(document, program)
    document = _document(definition)
    with ctx.uow() as uow:
        if uow.programs.exists(program.id):
            raise ProgramAlreadyExists(f"program {program.id!r} already exists", field="id")
        now = ctx.clock.now()
        uow.programs.add(program, now)
        uow.programs.add_version(program.id, document, at=now, effective_from=None, actor=actor)
        uow.audit.append(NewAuditRecord(
            actor=actor, action="program.created", target_type="program",
            target_id=program.id, program_id=program.id,
            after={"name": program.name, "currency": program.currency,
                   "time_zone": program.time_zone, "definition": document},
        ), now)
        uow.commit()
    return program


@dataclass(frozen=True)
class VersionView:
    program_id: str
    version: int
    published_at: datetime
    effective_from: datetime | None
    published_by: str
    document: dict[str, Any]


@dataclass(frozen=True)
class DraftView:
    program_id: str
    saved: bool  # false: no draft yet; this is the version in force, to start from
    based_on: int | None
    updated_at: datetime | None
    updated_by: str | None
    document: dict[str, Any]


def list_versions(ctx: Context, program_id: str) -> list[VersionView]:
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        return [VersionView(program_id, v.version, v.published_at, v.effective_from,
                            v.published_by, {}) for v in uow.programs.versions(program_id)]


def get_version(ctx: Context, program_id: str, version: int | None = None) -> VersionView:
    """Version ``version``, or the one in force now."""
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        if version is None:
            found = uow.programs.version_in_force(program_id, ctx.clock.now())
            version = found[0] if found else 0
        for info in uow.programs.versions(program_id):
            if info.version == version:
                return VersionView(program_id, info.version, info.published_at,
                                   info.effective_from, info.published_by,
                                   uow.programs.document(program_id, info.version) or {})
    raise VersionNotFound(f"program {program_id!r} has no version {version}")


def get_draft(ctx: Context, program_id: str) -> DraftView:
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        draft = uow.programs.draft(program_id)
        if draft is not None:
            return DraftView(program_id, True, None, draft.updated_at, draft.updated_by,
                             dict(draft.document))
    current = get_version(ctx, program_id)
    return DraftView(program_id, False, current.version, None, None, current.document)


def save_draft(ctx: Context, program_id: str, document: Any, actor: str) -> DraftView:
    """Validate and keep ``document`` as the program's draft; a mistake keeps nothing."""
    with ctx.uow() as uow:
        program = uow.programs.get(program_id)
        clean = _document(validated(document, program))
        now = ctx.clock.now()
        before = uow.programs.draft(program_id)
        uow.audit.append(NewAuditRecord(
            actor=actor, action="program.draft_saved", target_type="program",
            target_id=program_id, program_id=program_id,
            before=dict(before.document) if before is not None else None, after=clean,
        ), now)
        uow.programs.save_draft(program_id, clean, at=now, actor=actor)
        uow.commit()
    return DraftView(program_id, True, None, now, actor, clean)


def publish(ctx: Context, program_id: str, actor: str,
            effective_from: datetime | None = None) -> VersionView:
    """Publish the draft as the next version, in force from ``effective_from`` (default: now;
    never in the past, so that no purchase already recorded changes version)."""
    now = ctx.clock.now()
    if effective_from is not None and utc(effective_from) < now:
        raise InvalidRequest("a version cannot take effect in the past", field="effective_from")
    with ctx.uow() as uow:
        program = uow.programs.get(program_id)
        draft = uow.programs.draft(program_id)
        if draft is None:
            raise InvalidRequest("there is no draft to publish: save one first", field="draft")
        document = _document(validated(draft.document, program))
        effective = utc(effective_from) if effective_from else now
        version = uow.programs.add_version(program_id, document, at=now,
                                           effective_from=effective, actor=actor)
        uow.programs.delete_draft(program_id)
        uow.audit.append(NewAuditRecord(
            actor=actor, action="program.published", target_type="program",
            target_id=program_id, program_id=program_id,
            after={"version": version, "effective_from": effective.isoformat(),
                   "definition": document},
        ), now)
        uow.commit()
    return VersionView(program_id, version, now, effective, actor, document)


def draft_tier_moves(ctx: Context, program_id: str) -> Any:
    """What the draft's tier ladder would do to today's members (see ``preview_tier_moves``)."""
    from loyalty.services.tiers import preview_tier_moves

    with ctx.uow(read_only=True) as uow:
        program = uow.programs.get(program_id)
        draft = uow.programs.draft(program_id)
        if draft is None:
            raise InvalidRequest("there is no draft: save one first", field="draft")
        definition = validated(draft.document, program)
    return preview_tier_moves(ctx, program_id, definition)

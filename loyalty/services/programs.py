"""Programs: create one, read one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from loyalty.domain.audit import NewAuditRecord
from loyalty.domain.errors import InvalidRequest, ProgramAlreadyExists
from loyalty.domain.money import validate_currency
from loyalty.domain.time import zone
from loyalty.rules.program import Program
from loyalty.rules.settings import ProgramSettings
from loyalty.services.context import Context

_PROGRAM_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class CreateProgram:
    id: str
    name: str
    currency: str
    time_zone: str
    settings: dict[str, Any]


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
    try:
        settings = ProgramSettings.model_validate(command.settings)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in ("settings", *first["loc"]))
        raise InvalidRequest(f"{where}: {first['msg']}", field=where) from None
    program = Program(command.id, command.name, command.currency, command.time_zone, settings)
    with ctx.uow() as uow:
        if uow.programs.exists(program.id):
            raise ProgramAlreadyExists(f"program {program.id!r} already exists", field="id")
        now = ctx.clock.now()
        uow.programs.add(program, now)
        uow.audit.append(NewAuditRecord(
            actor=actor, action="program.created", target_type="program",
            target_id=program.id, program_id=program.id,
            after={"name": program.name, "currency": program.currency,
                   "time_zone": program.time_zone,
                   "settings": program.settings.model_dump(mode="json")},
        ), now)
        uow.commit()
    return program


def get_program(ctx: Context, program_id: str) -> Program:
    with ctx.uow(read_only=True) as uow:
        return uow.programs.get(program_id)

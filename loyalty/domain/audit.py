"""The audit log: who did what administrative or configuration action, to what, and when.

Records are append-only (the database refuses to change them), with the state before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class NewAuditRecord:
    actor: str  # key:<id>, member:<id> or cli:<operator>
    action: str  # e.g. key.created, key.revoked, program.created
    target_type: str
    target_id: str
    program_id: str | None = None
    member_id: str | None = None
    acting_person: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    program_id: str | None
    actor: str
    acting_person: str | None
    action: str
    target_type: str
    target_id: str
    member_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None

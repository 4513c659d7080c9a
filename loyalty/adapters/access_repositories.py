"""API keys, instance secrets and the audit log."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from loyalty.adapters.orm import ApiKeyRow, AuditRecordRow, InstanceSecretRow
from loyalty.domain.audit import AuditRecord, NewAuditRecord

_KEYS = ApiKeyRow.__table__.c
# What authenticating a key needs, as one Core statement built once: no ORM identity map, and
# the compiled form is reused by SQLAlchemy's statement cache.
_CREDENTIALS = select(
    _KEYS.key_id, _KEYS.name, _KEYS.program_id, _KEYS.scopes, _KEYS.secret_hash,
    _KEYS.revoked_at, _KEYS.last_used_at,
).where(_KEYS.key_id == bindparam("key_id"))


class KeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, *, key_id: str, name: str, program_id: str | None, scopes: list[str],
            secret_hash: str, at: datetime) -> None:
        self.session.execute(insert(ApiKeyRow).values(
            key_id=key_id, name=name, program_id=program_id, scopes=scopes,
            secret_hash=secret_hash, created_at=at,
        ))

    def get(self, key_id: str) -> ApiKeyRow | None:
        return self.session.get(ApiKeyRow, key_id)

    def credentials(self, key_id: str) -> Row[Any] | None:
        """The key's ``key_id, name, program_id, scopes, secret_hash, revoked_at,
        last_used_at``, or ``None`` if there is no such key."""
        return self.session.execute(_CREDENTIALS, {"key_id": key_id}).one_or_none()

    def revoke(self, key_id: str, at: datetime) -> None:
        self.session.execute(update(ApiKeyRow).where(ApiKeyRow.key_id == key_id)
                             .values(revoked_at=at))

    def touch(self, key_id: str, at: datetime, every: timedelta) -> None:
        """Record the key's last use, writing at most once per ``every``."""
        self.session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.key_id == key_id,
                   (ApiKeyRow.last_used_at.is_(None)) | (ApiKeyRow.last_used_at < at - every))
            .values(last_used_at=at)
        )

    def list(self, program_id: str | None) -> list[ApiKeyRow]:
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.key_id)
        if program_id is not None:
            query = query.where(ApiKeyRow.program_id == program_id)
        return list(self.session.scalars(query))


class SecretRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_or_create(self, name: str, at: datetime) -> str:
        """The named secret; the first caller makes it, concurrent callers all get that one."""
        dialect = self.session.get_bind().dialect.name
        dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.session.execute(
            dialect_insert(InstanceSecretRow)
            .values(name=name, value=secrets.token_hex(32), created_at=at)
            .on_conflict_do_nothing()
        )
        return self.session.scalars(
            select(InstanceSecretRow.value).where(InstanceSecretRow.name == name)
        ).one()


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, record: NewAuditRecord, at: datetime) -> None:
        self.session.execute(insert(AuditRecordRow).values(
            at=at, program_id=record.program_id, actor=record.actor,
            acting_person=record.acting_person, action=record.action,
            target_type=record.target_type, target_id=record.target_id,
            member_id=record.member_id, before=record.before, after=record.after,
        ))

    def find(self, *, program_id: str | None, member_id: str | None, actor: str | None,
             since: datetime | None, until: datetime | None, before_id: int | None,
             limit: int) -> list[AuditRecord]:
        row = AuditRecordRow
        query = select(row)
        filters: list[Any] = []
        if program_id is not None:
            filters.append(row.program_id == program_id)
        if member_id is not None:
            filters.append(row.member_id == member_id)
        if actor is not None:
            filters.append(row.actor == actor)
        if since is not None:
            filters.append(row.at >= since)
        if until is not None:
            filters.append(row.at < until)
        if before_id is not None:
            filters.append(row.id < before_id)
        records = self.session.scalars(query.where(*filters).order_by(row.id.desc()).limit(limit))
        return [
            AuditRecord(
                id=r.id, at=r.at, program_id=r.program_id, actor=r.actor,
                acting_person=r.acting_person, action=r.action, target_type=r.target_type,
                target_id=r.target_id, member_id=r.member_id, before=r.before, after=r.after,
            )
            for r in records
        ]

"""Webhook endpoints and deliveries: fanning the outbox out, claiming due deliveries, and
recording each attempt.

Claims are made so that two delivery jobs running at once do not send the same delivery: on
PostgreSQL the due rows are selected ``FOR UPDATE SKIP LOCKED`` (a second job takes other rows
instead of waiting) and leased (their next attempt moved past the attempt's timeout) before the
claiming transaction commits; on SQLite the claiming transaction holds the database's write lock
(``BEGIN IMMEDIATE``), so claims simply take turns. No transaction stays open while a request is
in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from loyalty.adapters.orm import DomainEventRow, WebhookDeliveryRow, WebhookEndpointRow

_PENDING, _DELIVERED, _DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True)
class DueDelivery:
    """A claimed delivery, with what it takes to send it."""

    id: int
    attempts: int
    endpoint_id: str
    url: str
    secret: str
    event_id: int
    type: str
    occurred_at: datetime
    program_id: str
    member_id: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    event_id: int
    type: str
    member_id: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    recorded_at: datetime


_D, _E = WebhookDeliveryRow, DomainEventRow
_RECORD_COLUMNS = (
    _D.id,
    _D.event_id,
    _E.type,
    _D.member_id,
    _D.status,
    _D.attempts,
    _D.next_attempt_at,
    _D.last_attempt_at,
    _D.last_status,
    _D.last_error,
    _D.delivered_at,
    _E.recorded_at,
)


class WebhookRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    # -- endpoints ------------------------------------------------------------------------

    def add_endpoint(self, **values: Any) -> None:
        self.session.add(WebhookEndpointRow(**values))
        self.session.flush()

    def endpoint(
        self, program_id: str, endpoint_id: str, *, lock: bool = False
    ) -> WebhookEndpointRow | None:
        query = select(WebhookEndpointRow).where(
            WebhookEndpointRow.id == endpoint_id, WebhookEndpointRow.program_id == program_id
        )
        if lock:
            query = query.with_for_update()
        return self.session.execute(
            query.execution_options(populate_existing=True)
        ).scalar_one_or_none()

    def endpoints(self, program_id: str) -> list[WebhookEndpointRow]:
        return list(
            self.session.scalars(
                select(WebhookEndpointRow)
                .where(WebhookEndpointRow.program_id == program_id)
                .order_by(WebhookEndpointRow.created_at, WebhookEndpointRow.id)
            )
        )

    def update_endpoint(self, endpoint_id: str, **values: Any) -> None:
        self.session.execute(
            update(WebhookEndpointRow).where(WebhookEndpointRow.id == endpoint_id).values(**values)
        )

    def newest_event_id(self) -> int:
        return int(self.session.scalar(select(func.max(DomainEventRow.id))) or 0)

    # -- fan-out --------------------------------------------------------------------------

    def events_to_fan_out(self, limit: int) -> list[tuple[int, str, str | None, str]]:
        """(id, program, member, type) of the oldest events not yet fanned out, locked: a
        second job waits, then finds them done."""
        rows = self.session.execute(
            select(_E.id, _E.program_id, _E.member_id, _E.type)
            .where(_E.delivered_at.is_(None))
            .order_by(_E.id)
            .limit(limit)
            .with_for_update()
        ).all()
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    def active_endpoints(self, program_ids: Iterable[str]) -> list[tuple[str, str, list[str], int]]:
        """(id, program, subscribed types, cursor) of the programs' active endpoints."""
        rows = self.session.execute(
            select(
                WebhookEndpointRow.id,
                WebhookEndpointRow.program_id,
                WebhookEndpointRow.event_types,
                WebhookEndpointRow.cursor,
            ).where(
                WebhookEndpointRow.program_id.in_(sorted(set(program_ids))),
                WebhookEndpointRow.active.is_(True),
            )
        ).all()
        return [(row[0], row[1], list(row[2] or []), row[3]) for row in rows]

    def add_deliveries(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert deliveries, skipping any that exist (a fan-out repeated after a crash)."""
        if not rows:
            return
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        self.session.execute(
            dialect_insert(WebhookDeliveryRow).on_conflict_do_nothing(), list(rows)
        )

    def mark_fanned_out(self, event_ids: Sequence[int], at: datetime) -> None:
        self.session.execute(
            update(DomainEventRow).where(DomainEventRow.id.in_(event_ids)).values(delivered_at=at)
        )

    # -- sending --------------------------------------------------------------------------

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[DueDelivery]:
        """Claim up to ``limit`` due deliveries of active endpoints, oldest first, skipping
        any with an earlier pending delivery of the same endpoint and member (in order per
        member); each is leased until ``lease_until``."""
        earlier = aliased(WebhookDeliveryRow)
        held = exists().where(
            earlier.endpoint_id == _D.endpoint_id,
            earlier.member_id == _D.member_id,
            earlier.status == _PENDING,
            earlier.event_id < _D.event_id,
        )
        query = (
            select(_D.id)
            .join(WebhookEndpointRow, WebhookEndpointRow.id == _D.endpoint_id)
            .where(
                _D.status == _PENDING,
                _D.next_attempt_at <= now,
                WebhookEndpointRow.active.is_(True),
                ~held,
            )
            .order_by(_D.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(of=_D, skip_locked=True)
        ids = list(self.session.scalars(query))
        if not ids:
            return []
        self.session.execute(update(_D).where(_D.id.in_(ids)).values(next_attempt_at=lease_until))
        rows = self.session.execute(
            select(
                _D.id,
                _D.attempts,
                _D.endpoint_id,
                WebhookEndpointRow.url,
                WebhookEndpointRow.secret,
                _E.id,
                _E.type,
                _E.occurred_at,
                _E.program_id,
                _E.member_id,
                _E.payload,
            )
            .join(WebhookEndpointRow, WebhookEndpointRow.id == _D.endpoint_id)
            .join(_E, _E.id == _D.event_id)
            .where(_D.id.in_(ids))
            .order_by(_D.id)
        ).all()
        return [DueDelivery(*row[:10], dict(row[10] or {})) for row in rows]

    def record_attempt(self, delivery_id: int, **values: Any) -> None:
        """Write an attempt's outcome, unless the delivery stopped being pending meanwhile."""
        self.session.execute(
            update(_D).where(_D.id == delivery_id, _D.status == _PENDING).values(**values)
        )

    # -- reading and replaying ------------------------------------------------------------

    def deliveries(
        self, endpoint_id: str, *, status: str | None, before_id: int | None, limit: int
    ) -> list[DeliveryRecord]:
        """The endpoint's deliveries, newest first."""
        query = (
            select(*_RECORD_COLUMNS)
            .join(_E, _E.id == _D.event_id)
            .where(_D.endpoint_id == endpoint_id)
        )
        if status is not None:
            query = query.where(_D.status == status)
        if before_id is not None:
            query = query.where(_D.id < before_id)
        rows = self.session.execute(query.order_by(_D.id.desc()).limit(limit)).all()
        return [DeliveryRecord(*row) for row in rows]

    def delivery(self, endpoint_id: str, delivery_id: int) -> DeliveryRecord | None:
        row = self.session.execute(
            select(*_RECORD_COLUMNS)
            .join(_E, _E.id == _D.event_id)
            .where(_D.endpoint_id == endpoint_id, _D.id == delivery_id)
        ).first()
        return None if row is None else DeliveryRecord(*row)

    def replay(
        self,
        endpoint_id: str,
        *,
        status: str,
        since: datetime | None,
        until: datetime | None,
        now: datetime,
        delivery_id: int | None = None,
    ) -> int:
        """Make deliveries pending again, due now, with their attempts counted afresh."""
        conditions = [_D.endpoint_id == endpoint_id, _D.status == status]
        if delivery_id is not None:
            conditions.append(_D.id == delivery_id)
        if since is not None or until is not None:
            window = [_E.id == _D.event_id]
            if since is not None:
                window.append(_E.recorded_at >= since)
            if until is not None:
                window.append(_E.recorded_at < until)
            conditions.append(exists().where(and_(*window)))
        result = self.session.execute(
            update(_D)
            .where(*conditions)
            .values(status=_PENDING, attempts=0, next_attempt_at=now, delivered_at=None)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

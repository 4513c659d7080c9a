"""The outbox: business events written in the transaction of the change they report, from which
notices and webhooks are delivered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from loyalty.adapters.orm import DomainEventRow

# Built once: the purchase posting path emits ``points.earned`` with it (one INSERT, no read).
_INSERT_EVENT = insert(DomainEventRow.__table__)


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def emit(self, *, program_id: str, member_id: str | None, type: str,
             occurred_at: datetime, recorded_at: datetime, payload: dict[str, Any]) -> None:
        """Write one event (``loyalty.domain.business_events`` builds the arguments), on the
        session's connection as the posting path's other prebuilt statements."""
        self.session.connection().execute(_INSERT_EVENT, {
            "program_id": program_id, "member_id": member_id, "type": type,
            "occurred_at": occurred_at, "recorded_at": recorded_at, "payload": payload,
        })

    def emit_many(self, events: Sequence[dict[str, Any]]) -> None:
        """Write several events in one statement (executemany): for bulk paths."""
        if events:
            self.session.connection().execute(_INSERT_EVENT, list(events))

    def events(self, member_id: str) -> list[DomainEventRow]:
        """The member's domain events, oldest first."""
        return list(self.session.scalars(
            select(DomainEventRow).where(DomainEventRow.member_id == member_id)
            .order_by(DomainEventRow.id)))

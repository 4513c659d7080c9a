"""The outbox: business events written in the transaction of the change they report, from which
notices and webhooks are delivered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from loyalty.adapters.orm import DomainEventRow


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def emit(self, *, program_id: str, member_id: str | None, type: str,
             occurred_at: datetime, recorded_at: datetime, payload: dict[str, Any]) -> None:
        self.session.execute(insert(DomainEventRow).values(
            program_id=program_id, member_id=member_id, type=type, occurred_at=occurred_at,
            recorded_at=recorded_at, payload=payload,
        ))

    def events(self, member_id: str) -> list[DomainEventRow]:
        """The member's domain events, oldest first."""
        return list(self.session.scalars(
            select(DomainEventRow).where(DomainEventRow.member_id == member_id)
            .order_by(DomainEventRow.id)))

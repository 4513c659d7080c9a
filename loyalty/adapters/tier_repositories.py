"""Tiers' storage: qualifying activity, each member's tier state and history, domain events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from loyalty.adapters.orm import (
    MemberRow,
    MemberTierRow,
    QualifyingActivityRow,
    TierChangeRow,
)
from loyalty.domain.tiers import Measure

_MEASURE_COLUMN = {
    Measure.SPEND: QualifyingActivityRow.spend,
    Measure.POINTS: QualifyingActivityRow.points,
    Measure.PURCHASES: QualifyingActivityRow.purchases,
}


class TierRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def record_activity(self, *, program_id: str, member_id: str, occurred_at: datetime,
                        spend: int, points: int, purchases: int, source: str,
                        reference: str | None) -> None:
        self.session.execute(insert(QualifyingActivityRow).values(
            program_id=program_id, member_id=member_id, occurred_at=occurred_at, spend=spend,
            points=points, purchases=purchases, source=source, reference=reference,
        ))

    def measure(self, member_id: str, measure: Measure, start: datetime | None,
                end: datetime) -> int:
        """The member's qualifying measure over [start, end) (from the beginning if None)."""
        column = _MEASURE_COLUMN[measure]
        query = select(func.coalesce(func.sum(column), 0)).where(
            QualifyingActivityRow.member_id == member_id,
            QualifyingActivityRow.occurred_at < end)
        if start is not None:
            query = query.where(QualifyingActivityRow.occurred_at >= start)
        return int(self.session.scalar(query) or 0)

    def measures(self, measure: Measure,
                 windows: Mapping[str, tuple[datetime | None, datetime]]) -> dict[str, int]:
        """Each member's qualifying measure over its own [start, end), as ``measure`` reads
        one: for a page of members, one statement per distinct window (one when the window
        does not depend on the member), not one per member."""
        column = _MEASURE_COLUMN[measure]
        members_of: dict[tuple[datetime | None, datetime], list[str]] = {}
        for member_id, window in windows.items():
            members_of.setdefault(window, []).append(member_id)
        found = dict.fromkeys(windows, 0)
        for (start, end), member_ids in members_of.items():
            query = (select(QualifyingActivityRow.member_id, func.coalesce(func.sum(column), 0))
                     .where(QualifyingActivityRow.member_id.in_(member_ids),
                            QualifyingActivityRow.occurred_at < end)
                     .group_by(QualifyingActivityRow.member_id))
            if start is not None:
                query = query.where(QualifyingActivityRow.occurred_at >= start)
            found.update((member_id, int(total or 0))
                         for member_id, total in self.session.execute(query).all())
        return found

    def lock(self, program_id: str, member_id: str, lowest: str, at: datetime) -> MemberTierRow:
        """The member's tier state, created at the lowest level if missing, locked until commit
        (PostgreSQL; SQLite already holds the write lock): concurrent purchases of one member
        take turns, so two that cross a threshold make one upgrade."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        self.session.execute(
            dialect_insert(MemberTierRow).values(
                member_id=member_id, program_id=program_id, tier=lowest, achieved_at=at,
                updated_at=at,
            ).on_conflict_do_nothing()
        )
        return self.session.execute(
            select(MemberTierRow).where(MemberTierRow.member_id == member_id)
            .with_for_update().execution_options(populate_existing=True)
        ).scalar_one()

    def lock_existing(self, member_ids: Sequence[str]) -> dict[str, Row[Any]]:
        """The tier states these members already have, locked until commit as ``lock`` locks
        one, in one statement: a page of the review job. Members without a state are left
        out (``lock`` creates one when it is needed). Read-only rows with the attributes of
        ``MemberTierRow``, not objects of the session: each ``update`` of the session checks
        every object it holds, and a page of them made that quadratic in the page size."""
        table = MemberTierRow.__table__
        rows = self.session.execute(
            select(table).where(table.c.member_id.in_(member_ids)).with_for_update())
        return {row.member_id: row for row in rows}

    def get(self, member_id: str) -> MemberTierRow | None:
        return self.session.get(MemberTierRow, member_id)

    def update(self, member_id: str, **values: Any) -> None:
        self.session.execute(update(MemberTierRow).where(MemberTierRow.member_id == member_id)
                             .values(**values))

    def record_change(self, *, program_id: str, member_id: str, from_tier: str | None,
                      to_tier: str, at: datetime, reason: str, detail: str | None = None,
                      actor: str | None = None) -> None:
        self.session.execute(insert(TierChangeRow).values(
            program_id=program_id, member_id=member_id, from_tier=from_tier, to_tier=to_tier,
            at=at, reason=reason, detail=detail, actor=actor,
        ))

    def history(self, member_id: str, limit: int) -> list[TierChangeRow]:
        return list(self.session.scalars(
            select(TierChangeRow).where(TierChangeRow.member_id == member_id)
            .order_by(TierChangeRow.id.desc()).limit(limit)))

    def members(self, program_id: str, *, after: str | None, limit: int
                ) -> list[tuple[str, datetime]]:
        """(member id, enrolment) of the program's active and frozen members, a page."""
        query = (select(MemberRow.id, MemberRow.enrolled_at)
                 .where(MemberRow.program_id == program_id, MemberRow.status != "closed")
                 .order_by(MemberRow.id).limit(limit))
        if after is not None:
            query = query.where(MemberRow.id > after)
        return [(m, e) for m, e in self.session.execute(query).all()]


"""The service desk's storage: adjustments, transfers, and moving or erasing a member."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, func, insert, select, update
from sqlalchemy.orm import Session

from loyalty.adapters.orm import (
    AdjustmentRow,
    DomainEventRow,
    EventRow,
    FeedbackRow,
    IdempotencyRecordRow,
    LotRow,
    MemberIdentityRow,
    MemberRow,
    NoticeRow,
    PurchaseReturnRow,
    PurchaseRow,
    QualifyingActivityRow,
    RedemptionRow,
    RewardWaitRow,
    RuleAwardRow,
    TierChangeRow,
    TransferRow,
    VoucherRow,
)
from loyalty.domain.errors import ERASED_ANSWER


class DeskRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- adjustments ----------------------------------------------------------------------

    def add_adjustment(self, **values: Any) -> None:
        self.session.execute(insert(AdjustmentRow).values(**values))

    def adjustment(self, program_id: str, adjustment_id: str) -> AdjustmentRow | None:
        return self.session.execute(
            select(AdjustmentRow).where(AdjustmentRow.id == adjustment_id,
                                        AdjustmentRow.program_id == program_id)
            .with_for_update().execution_options(populate_existing=True)
        ).scalar_one_or_none()

    def set_adjustment(self, adjustment_id: str, **values: Any) -> None:
        self.session.execute(update(AdjustmentRow).where(AdjustmentRow.id == adjustment_id)
                             .values(**values))

    def adjustments(self, program_id: str, status: str | None, limit: int
                    ) -> list[AdjustmentRow]:
        query = select(AdjustmentRow).where(AdjustmentRow.program_id == program_id)
        if status is not None:
            query = query.where(AdjustmentRow.status == status)
        return list(self.session.scalars(query.order_by(AdjustmentRow.created_at.desc())
                                          .limit(limit)))

    def adjusted_by(self, program_id: str, actor: str, start: datetime, end: datetime) -> int:
        """Points (up and down alike) an actor's own applied adjustments moved in [start, end)
        in a program: what the agent's daily limit counts."""
        return int(self.session.scalar(
            select(func.coalesce(func.sum(func.abs(AdjustmentRow.points)), 0))
            .where(AdjustmentRow.program_id == program_id,
                   AdjustmentRow.requested_by == actor, AdjustmentRow.status == "applied",
                   AdjustmentRow.decided_by.is_(None), AdjustmentRow.created_at >= start,
                   AdjustmentRow.created_at < end)) or 0)

    # -- transfers ------------------------------------------------------------------------

    def add_transfer(self, **values: Any) -> None:
        self.session.execute(insert(TransferRow).values(**values))

    def transferred_out(self, member_id: str, start: datetime, end: datetime) -> int:
        return int(self.session.scalar(
            select(func.coalesce(func.sum(TransferRow.points), 0))
            .where(TransferRow.from_member == member_id, TransferRow.created_at >= start,
                   TransferRow.created_at < end)) or 0)

    # -- lifecycle --------------------------------------------------------------------------

    def member_row(self, program_id: str, member_id: str) -> MemberRow | None:
        return self.session.execute(
            select(MemberRow).where(MemberRow.id == member_id,
                                    MemberRow.program_id == program_id)
            .with_for_update().execution_options(populate_existing=True)
        ).scalar_one_or_none()

    def set_member(self, member_id: str, **values: Any) -> None:
        self.session.execute(update(MemberRow).where(MemberRow.id == member_id).values(**values))

    def move_member_data(self, source: str, target: str) -> None:
        """Everything that follows a person from one member record to another."""
        for table, column in ((MemberIdentityRow, MemberIdentityRow.member_id),
                              (LotRow, LotRow.member_id),
                              (PurchaseRow, PurchaseRow.member_id),
                              (PurchaseReturnRow, PurchaseReturnRow.member_id),
                              (RedemptionRow, RedemptionRow.member_id),
                              (VoucherRow, VoucherRow.member_id),
                              (RuleAwardRow, RuleAwardRow.member_id),
                              (EventRow, EventRow.member_id),
                              (FeedbackRow, FeedbackRow.member_id)):
            self.session.execute(update(table).where(column == source).values(member_id=target))

    def copy_qualification(self, program_id: str, source: str, target: str) -> None:
        """Tier qualification follows the person: the source's activity, copied (the table is
        append-only, so the source keeps its own rows as they were)."""
        rows = self.session.execute(select(
            QualifyingActivityRow.occurred_at, QualifyingActivityRow.spend,
            QualifyingActivityRow.points, QualifyingActivityRow.purchases,
            QualifyingActivityRow.reference).where(
                QualifyingActivityRow.member_id == source)).all()
        if rows:
            self.session.execute(insert(QualifyingActivityRow), [
                {"program_id": program_id, "member_id": target, "occurred_at": at,
                 "spend": spend, "points": points, "purchases": purchases, "source": "merge",
                 "reference": reference} for at, spend, points, purchases, reference in rows])

    def copy_tier_history(self, program_id: str, source: str, target: str) -> None:
        rows = self.session.execute(select(
            TierChangeRow.from_tier, TierChangeRow.to_tier, TierChangeRow.at,
            TierChangeRow.reason, TierChangeRow.detail, TierChangeRow.actor).where(
                TierChangeRow.member_id == source).order_by(TierChangeRow.id)).all()
        if rows:
            self.session.execute(insert(TierChangeRow), [
                {"program_id": program_id, "member_id": target, "from_tier": f, "to_tier": t,
                 "at": at, "reason": reason, "actor": actor,
                 "detail": f"of merged member {source}" + (f": {detail}" if detail else "")}
                for f, t, at, reason, detail, actor in rows])

    def merged_into(self, member_id: str) -> list[str]:
        """The records merged into ``member_id``, and those merged into them, not erased yet."""
        found: list[str] = []
        frontier = [member_id]
        while frontier:
            frontier = list(self.session.scalars(
                select(MemberRow.id).where(MemberRow.merged_into.in_(frontier),
                                           MemberRow.erased_at.is_(None))
                .order_by(MemberRow.id)))
            found += frontier
        return found

    def erase(self, member_id: str, at: datetime) -> None:
        """Remove what identifies a person: identities, profile, free text of events and
        adjustment notes; idempotency records that quoted the member are emptied and their
        fingerprints (hashes of requests naming the member) replaced by random ones."""
        self.session.execute(delete(MemberIdentityRow)
                             .where(MemberIdentityRow.member_id == member_id))
        self.session.execute(update(MemberRow).where(MemberRow.id == member_id)
                             .values(attributes={}, status_reason=None, erased_at=at))
        self.session.execute(update(EventRow).where(EventRow.member_id == member_id)
                             .values(properties={}))
        self.session.execute(update(AdjustmentRow).where(AdjustmentRow.member_id == member_id)
                             .values(note=None))
        self.session.execute(update(FeedbackRow).where(FeedbackRow.member_id == member_id)
                             .values(comment=None))
        # notices say what the member was told (a birthday notice dates the birthday)
        self.session.execute(update(NoticeRow).where(NoticeRow.member_id == member_id)
                             .values(payload={}))
        self.session.execute(delete(RewardWaitRow).where(RewardWaitRow.member_id == member_id))
        self.session.execute(update(DomainEventRow).where(
            DomainEventRow.member_id == member_id, DomainEventRow.type.like("notice.%"))
            .values(payload={}))
        quoted = self.session.execute(
            select(IdempotencyRecordRow.program_id, IdempotencyRecordRow.key)
            .where(cast(IdempotencyRecordRow.result, String).like(f"%{member_id}%"))).all()
        for program_id, key in quoted:
            self.session.execute(
                update(IdempotencyRecordRow)
                .where(IdempotencyRecordRow.program_id == program_id,
                       IdempotencyRecordRow.key == key)
                .values(result=ERASED_ANSWER, fingerprint=secrets.token_hex(32)))

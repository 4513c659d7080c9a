"""Storage of engagement: survey answers, referral codes and referrals.

The referrals job reads and moves referrals a page at a time with set-based statements: one
query finds the first qualifying purchase of every referee of a page (a window function), one
``executemany`` marks them qualified, each guarded by the status it expects, so two copies of
the job never both move a referral.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Numeric,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from loyalty.adapters.orm import (
    FeedbackRow,
    MemberRow,
    PurchaseReturnRow,
    PurchaseRow,
    ReferralCodeRow,
    ReferralRow,
)

_REFERRALS = ReferralRow.__table__
_QUALIFY = (
    update(_REFERRALS)
    .where(_REFERRALS.c.id == bindparam("b_id"), _REFERRALS.c.status == "pending")
    .values(
        status="qualified",
        purchase_id=bindparam("b_purchase"),
        clears_at=bindparam("b_clears"),
        reason=None,
    )
)


def _newest_first(
    query: Any, at: Any, key: Any, before: tuple[datetime, str] | None, limit: int
) -> Any:
    """Keyset paging, newest first, on (instant, id)."""
    if before is not None:
        instant, ident = before
        query = query.where(or_(at < instant, and_(at == instant, key < ident)))
    return query.order_by(at.desc(), key.desc()).limit(limit)


class FeedbackRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, **values: Any) -> None:
        self.session.execute(insert(FeedbackRow).values(**values))

    def page(
        self, member_id: str, *, before: tuple[datetime, str] | None, limit: int
    ) -> list[FeedbackRow]:
        """The member's answers, newest answered first."""
        query = select(FeedbackRow).where(FeedbackRow.member_id == member_id)
        return list(
            self.session.scalars(
                _newest_first(query, FeedbackRow.answered_at, FeedbackRow.id, before, limit)
            )
        )

    def is_purchase_of(self, program_id: str, member_id: str, purchase_id: str) -> bool:
        return (
            self.session.scalar(
                select(PurchaseRow.id).where(
                    PurchaseRow.id == purchase_id,
                    PurchaseRow.program_id == program_id,
                    PurchaseRow.member_id == member_id,
                )
            )
            is not None
        )


class ReferralRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    # -- codes --------------------------------------------------------------------------------

    def code_of(self, member_id: str) -> str | None:
        return self.session.scalar(
            select(ReferralCodeRow.code).where(ReferralCodeRow.member_id == member_id)
        )

    def add_code(self, program_id: str, member_id: str, code: str, at: datetime) -> bool:
        """Give the member ``code``; ``False`` (and nothing written) if the code is taken or
        the member already has one. No exception, so no savepoint is needed around it."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return (
            self.session.execute(
                dialect_insert(ReferralCodeRow)
                .values(program_id=program_id, member_id=member_id, code=code, created_at=at)
                .on_conflict_do_nothing()
                .returning(ReferralCodeRow.member_id)
            ).first()
            is not None
        )

    def owner_of(self, program_id: str, code: str) -> str | None:
        return self.session.scalar(
            select(ReferralCodeRow.member_id).where(
                ReferralCodeRow.program_id == program_id, ReferralCodeRow.code == code
            )
        )

    def member_state(self, program_id: str, member_id: str) -> Any:
        """(status, merged_into, enrolled_at) of a member of the program, or ``None``."""
        return self.session.execute(
            select(MemberRow.status, MemberRow.merged_into, MemberRow.enrolled_at).where(
                MemberRow.id == member_id, MemberRow.program_id == program_id
            )
        ).first()

    # -- referrals ------------------------------------------------------------------------------

    def add(self, **values: Any) -> None:
        self.session.execute(insert(ReferralRow).values(**values))

    def get(self, referral_id: str) -> ReferralRow | None:
        return self.session.execute(
            select(ReferralRow)
            .where(ReferralRow.id == referral_id)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()

    def of_referee(self, member_id: str) -> ReferralRow | None:
        return self.session.execute(
            select(ReferralRow)
            .where(ReferralRow.referee_id == member_id)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()

    def by_referrer(
        self, member_id: str, *, before: tuple[datetime, str] | None, limit: int
    ) -> list[ReferralRow]:
        """The member's referrals as referrer, newest first."""
        query = select(ReferralRow).where(ReferralRow.referrer_id == member_id)
        return list(
            self.session.scalars(
                _newest_first(query, ReferralRow.referred_at, ReferralRow.id, before, limit)
            )
        )

    def set(self, referral_id: str, **values: Any) -> None:
        self.session.execute(
            update(ReferralRow).where(ReferralRow.id == referral_id).values(**values)
        )

    def move_referrer(self, source: str, target: str) -> None:
        """A merged member's referrals, as referrer, follow the person."""
        self.session.execute(
            update(ReferralRow).where(ReferralRow.referrer_id == source).values(referrer_id=target)
        )

    def rewarded_count(self, referrer_id: str, start: datetime | None, end: datetime | None) -> int:
        """Completed referrals of the referrer that rewarded the referrer (no reason recorded),
        completed in [start, end) (every one without bounds)."""
        query = (
            select(func.count())
            .select_from(ReferralRow)
            .where(
                ReferralRow.referrer_id == referrer_id,
                ReferralRow.status == "completed",
                ReferralRow.reason.is_(None),
            )
        )
        if start is not None and end is not None:
            query = query.where(ReferralRow.completed_at >= start, ReferralRow.completed_at < end)
        return int(self.session.scalar(query) or 0)

    # -- the referrals job ------------------------------------------------------------------

    def pending_page(self, program_id: str, *, after: str | None, limit: int) -> list[str]:
        query = (
            select(ReferralRow.id)
            .where(ReferralRow.program_id == program_id, ReferralRow.status == "pending")
            .order_by(ReferralRow.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(ReferralRow.id > after)
        return list(self.session.scalars(query))

    def first_qualifying_purchases(
        self, referral_ids: Sequence[str], minimum: int
    ) -> list[tuple[str, str, datetime]]:
        """(referral, purchase, occurred_at) of the first purchase of each referral's referee,
        made since the referral, whose earn base reaches ``minimum`` (minor units) once reduced
        in proportion to what its returns refunded, with something left."""
        purchase = PurchaseRow
        refunded = (
            select(func.coalesce(func.sum(PurchaseReturnRow.amount), 0))
            .where(PurchaseReturnRow.purchase_id == purchase.id)
            .correlate(purchase)
            .scalar_subquery()
        )
        left = purchase.total - refunded
        conditions = [
            purchase.member_id == ReferralRow.referee_id,
            purchase.occurred_at >= ReferralRow.referred_at,
            purchase.earn_base >= minimum,
            left > 0,
        ]
        if minimum:
            # earn_base x left >= minimum x total, in NUMERIC: the products may pass 64 bits
            exact = Numeric(38, 0)
            conditions.append(
                cast(purchase.earn_base, exact) * cast(left, exact)
                >= cast(literal(minimum, BigInteger), exact) * cast(purchase.total, exact)
            )
        ranked = (
            select(
                ReferralRow.id.label("referral_id"),
                purchase.id.label("purchase_id"),
                purchase.occurred_at.label("occurred_at"),
                func.row_number()
                .over(partition_by=ReferralRow.id, order_by=(purchase.occurred_at, purchase.id))
                .label("n"),
            )
            .join(purchase, and_(*conditions))
            .where(ReferralRow.id.in_(list(referral_ids)))
            .subquery()
        )
        rows = self.session.execute(
            select(ranked.c.referral_id, ranked.c.purchase_id, ranked.c.occurred_at).where(
                ranked.c.n == 1
            )
        ).all()
        return [(referral, found, at) for referral, found, at in rows]

    def qualify(self, rows: Sequence[tuple[str, str, datetime]]) -> int:
        """Mark (referral, purchase, clears_at) qualified, each only if still pending."""
        if not rows:
            return 0
        result: Any = self.session.execute(
            _QUALIFY,
            [
                {"b_id": referral, "b_purchase": found, "b_clears": clears}
                for referral, found, clears in rows
            ],
        )
        return int(result.rowcount or 0)

    def due_page(
        self, program_id: str, now: datetime, *, after: str | None, limit: int
    ) -> list[str]:
        query = (
            select(ReferralRow.id)
            .where(
                ReferralRow.program_id == program_id,
                ReferralRow.status == "qualified",
                ReferralRow.clears_at <= now,
            )
            .order_by(ReferralRow.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(ReferralRow.id > after)
        return list(self.session.scalars(query))

    def lock_due(self, referral_id: str, now: datetime) -> ReferralRow | None:
        """The referral, locked until commit, if it is still qualified and due and no other
        transaction holds it (PostgreSQL skips a locked row; SQLite's writers take turns)."""
        return self.session.execute(
            select(ReferralRow)
            .where(
                ReferralRow.id == referral_id,
                ReferralRow.status == "qualified",
                ReferralRow.clears_at <= now,
            )
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()

    def purchase_standing(self, purchase_id: str) -> tuple[int, int, int] | None:
        """(earn base, total, refunded by its returns) of a purchase, in minor units."""
        row = self.session.execute(
            select(
                PurchaseRow.earn_base,
                PurchaseRow.total,
                select(func.coalesce(func.sum(PurchaseReturnRow.amount), 0))
                .where(PurchaseReturnRow.purchase_id == PurchaseRow.id)
                .correlate(PurchaseRow)
                .scalar_subquery(),
            ).where(PurchaseRow.id == purchase_id)
        ).first()
        return None if row is None else (int(row[0]), int(row[1]), int(row[2]))

"""Analytics' storage: the program's figures as SQL aggregates, computed in the database.

Every method is one or two ``SELECT ... GROUP BY`` statements (``COUNT(DISTINCT)``, ``SUM(CASE
...)``, subqueries), written with SQLAlchemy Core so they run alike on SQLite and PostgreSQL; no
method reads rows one by one. A breakdown is a grouping key added to the same statement: the
purchase's (or the survey answer's) ``channel``, or the member's current tier (members without a
tier row are in the ladder's lowest level, ``lowest``).

Trends put each row in a bucket (a day, a week, a month in the program's time zone) whose
boundaries the service computes in Python: the bucket of an instant is a ``CASE`` over those
boundaries, nested as a binary search so that a row costs about log2(buckets) comparisons, and
the outer statement groups by it. Instants are compared as the stored values are (UTC), so no
time-zone function of either database is needed.

Sums of integer columns come back as ``Decimal`` from PostgreSQL and ``int`` from SQLite: every
figure goes through ``_int``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, literal_column, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from loyalty.adapters.orm import (
    FeedbackRow,
    LedgerEntryRow,
    MemberBalanceRow,
    MemberRow,
    MemberTierRow,
    PurchaseReturnRow,
    PurchaseRow,
    RedemptionRow,
    TierChangeRow,
)

CHANNEL = "channel"
TIER = "tier"
# the entry kinds whose points the figures add up; redeem, expire and reverse entries hold
# negative points (a given-back redemption is a positive redeem entry)
POINT_KINDS = ("earn", "pending_earn", "redeem", "expire", "reverse", "adjust")
TOTAL = "total"  # the key of the whole program's row, when there is no breakdown


def _int(value: Any) -> int:
    return int(value or 0)


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


@dataclass(frozen=True)
class PurchaseAggregate:
    """Purchases of one group, in the period and in the previous period."""

    active: int  # distinct members with a purchase in the period
    repeat: int  # ... with two or more
    purchases: int
    revenue: int  # minor units, net of every refund recorded so far
    previous_active: int  # distinct members with a purchase in the previous period
    retained: int  # ... who also bought in the period


@dataclass(frozen=True)
class MemberAggregate:
    members: int  # enrolled before the period's end, merged duplicates left out
    new: int  # enrolled in the period


@dataclass(frozen=True)
class FeedbackAggregate:
    answers: int
    score_total: int
    promoters: int  # NPS 9-10
    detractors: int  # NPS 0-6


@dataclass(frozen=True)
class BalanceAggregate:
    pending: int
    outstanding: int  # sum over members of max(available, 0): available is net of debt


@dataclass(frozen=True)
class PurchaseBucket:
    active: int
    purchases: int
    revenue: int


class AnalyticsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- grouping keys -----------------------------------------------------------------------

    @staticmethod
    def _tier_of(lowest: str | None) -> Any:
        """The member's current tier, as a column of an outer join with ``member_tiers``."""
        return func.coalesce(MemberTierRow.tier, literal(lowest or ""))

    def _keyed(
        self, query: Any, by: str | None, *, member_id: Any, channel: Any | None, lowest: str | None
    ) -> tuple[Any, list[Any]]:
        """``query`` with the breakdown's key column (labelled ``k``) and the join it needs,
        plus the key column to group by (none for the whole program)."""
        if by == TIER:
            key = self._tier_of(lowest)
            query = query.outerjoin(MemberTierRow, MemberTierRow.member_id == member_id)
            return query.add_columns(key.label("k")), [key]
        if by == CHANNEL and channel is not None:
            return query.add_columns(channel.label("k")), [channel]
        # a constant of our own, written into the statement: a bare bound parameter has no
        # type that PostgreSQL could infer in a grouped subquery
        return query.add_columns(literal_column(f"'{TOTAL}'").label("k")), []

    # -- purchases ---------------------------------------------------------------------------

    def purchases(
        self,
        program_id: str,
        *,
        previous_start: datetime,
        start: datetime,
        end: datetime,
        by: str | None,
        lowest: str | None,
    ) -> dict[str, PurchaseAggregate]:
        """Per group: the purchases of the period and of the previous period, grouped first
        by member (and key), then by key; then the refunds of the period's purchases."""
        p = PurchaseRow
        in_period = p.occurred_at >= start
        per_member = select(
            p.member_id,
            _count_if(in_period).label("n"),
            func.sum(case((in_period, p.total), else_=0)).label("revenue"),
            _count_if(p.occurred_at < start).label("n_previous"),
        ).select_from(PurchaseRow)
        per_member, keys = self._keyed(
            per_member, by, member_id=p.member_id, channel=p.channel, lowest=lowest
        )
        members = (
            per_member.where(
                p.program_id == program_id, p.occurred_at >= previous_start, p.occurred_at < end
            )
            .group_by(p.member_id, *keys)
            .subquery()
        )
        m = members.c
        found = {
            row[0]: [_int(v) for v in row[1:]]
            for row in self.session.execute(
                select(
                    m.k,
                    _count_if(m.n > 0),
                    _count_if(m.n > 1),
                    func.sum(m.n),
                    func.sum(m.revenue),
                    _count_if(m.n_previous > 0),
                    _count_if(and_(m.n_previous > 0, m.n > 0)),
                ).group_by(m.k)
            )
        }
        refunds, refund_keys = self._keyed(
            select(func.sum(PurchaseReturnRow.amount))
            .select_from(PurchaseReturnRow)
            .join(PurchaseRow, p.id == PurchaseReturnRow.purchase_id),
            by,
            member_id=p.member_id,
            channel=p.channel,
            lowest=lowest,
        )
        for amount, key in self.session.execute(
            refunds.where(
                PurchaseReturnRow.program_id == program_id,
                p.occurred_at >= start,
                p.occurred_at < end,
            ).group_by(*refund_keys)
        ):
            if key in found:
                found[key][3] -= _int(amount)
        return {key: PurchaseAggregate(*values) for key, values in found.items()}

    def revenue_to_date(
        self, program_id: str, *, end: datetime, by: str | None, lowest: str | None
    ) -> dict[str, int]:
        """Per group: the revenue of every purchase before ``end``, net of every refund of
        them: two plain sums (purchases, then returns), not a join of each purchase with its
        returns."""
        p, r = PurchaseRow, PurchaseReturnRow
        before_end = and_(p.program_id == program_id, p.occurred_at < end)
        bought, keys = self._keyed(
            select(func.sum(p.total)).select_from(PurchaseRow),
            by,
            member_id=p.member_id,
            channel=None,
            lowest=lowest,
        )
        found = {
            key: _int(total)
            for total, key in self.session.execute(bought.where(before_end).group_by(*keys))
        }
        refunded, keys = self._keyed(
            select(func.sum(r.amount))
            .select_from(PurchaseReturnRow)
            .join(PurchaseRow, p.id == r.purchase_id),
            by,
            member_id=p.member_id,
            channel=None,
            lowest=lowest,
        )
        for amount, key in self.session.execute(
            refunded.where(r.program_id == program_id, before_end).group_by(*keys)
        ):
            found[key] = found.get(key, 0) - _int(amount)
        return found

    def purchase_trend(
        self, program_id: str, bounds: Sequence[datetime]
    ) -> dict[int, PurchaseBucket]:
        """Per bucket: distinct members, purchases and revenue net of refunds."""
        p = PurchaseRow
        rows = (
            select(bucket_of(p.occurred_at, bounds).label("b"), p.member_id, p.total)
            .where(
                p.program_id == program_id, p.occurred_at >= bounds[0], p.occurred_at < bounds[-1]
            )
            .subquery()
        )
        found = {
            int(b): [_int(a), _int(n), _int(r)]
            for b, a, n, r in self.session.execute(
                select(
                    rows.c.b,
                    func.count(rows.c.member_id.distinct()),
                    func.count(),
                    func.sum(rows.c.total),
                ).group_by(rows.c.b)
            )
        }
        refunds = (
            select(bucket_of(p.occurred_at, bounds).label("b"), PurchaseReturnRow.amount)
            .select_from(PurchaseReturnRow)
            .join(PurchaseRow, p.id == PurchaseReturnRow.purchase_id)
            .where(
                PurchaseReturnRow.program_id == program_id,
                p.occurred_at >= bounds[0],
                p.occurred_at < bounds[-1],
            )
            .subquery()
        )
        for b, amount in self.session.execute(
            select(refunds.c.b, func.sum(refunds.c.amount)).group_by(refunds.c.b)
        ):
            if int(b) in found:
                found[int(b)][2] -= _int(amount)
        return {b: PurchaseBucket(*values) for b, values in found.items()}

    # -- members -----------------------------------------------------------------------------

    def members(
        self, program_id: str, *, start: datetime, end: datetime, by: str | None, lowest: str | None
    ) -> dict[str, MemberAggregate]:
        m = MemberRow
        query = select(func.count(), _count_if(m.enrolled_at >= start)).select_from(MemberRow)
        query, keys = self._keyed(query, by, member_id=m.id, channel=None, lowest=lowest)
        rows = self.session.execute(
            query.where(
                m.program_id == program_id, m.enrolled_at < end, m.merged_into.is_(None)
            ).group_by(*keys)
        ).all()
        return {row[2]: MemberAggregate(_int(row[0]), _int(row[1])) for row in rows}

    def enrolment_trend(self, program_id: str, bounds: Sequence[datetime]) -> dict[int, int]:
        m = MemberRow
        rows = (
            select(bucket_of(m.enrolled_at, bounds).label("b"))
            .where(
                m.program_id == program_id,
                m.enrolled_at >= bounds[0],
                m.enrolled_at < bounds[-1],
                m.merged_into.is_(None),
            )
            .subquery()
        )
        return {
            int(b): _int(n)
            for b, n in self.session.execute(
                select(rows.c.b, func.count()).group_by(rows.c.b)
            ).all()
        }

    def tier_distribution(self, program_id: str, lowest: str) -> dict[str, int]:
        """Members who are not closed, by current tier."""
        m = MemberRow
        key = self._tier_of(lowest)
        return {
            tier: _int(n)
            for tier, n in self.session.execute(
                select(key, func.count())
                .select_from(MemberRow)
                .outerjoin(MemberTierRow, MemberTierRow.member_id == m.id)
                .where(m.program_id == program_id, m.status != "closed")
                .group_by(key)
            ).all()
        }

    def tier_moves(
        self, program_id: str, *, start: datetime, end: datetime
    ) -> list[tuple[str | None, str, int]]:
        """(from, to, changes) of the tier changes in the period."""
        t = TierChangeRow
        return [
            (f, to, _int(n))
            for f, to, n in self.session.execute(
                select(t.from_tier, t.to_tier, func.count())
                .where(t.program_id == program_id, t.at >= start, t.at < end)
                .group_by(t.from_tier, t.to_tier)
            ).all()
        ]

    # -- points ------------------------------------------------------------------------------

    def points(
        self, program_id: str, *, start: datetime, end: datetime, by: str | None, lowest: str | None
    ) -> dict[str, dict[str, int]]:
        """Per group, the sum of the points of each entry kind in the period. By channel, only
        the entries of purchases (earned, reversed), under their purchase's channel."""
        e = LedgerEntryRow
        query = select(e.kind, func.sum(e.points)).select_from(LedgerEntryRow)
        kinds: Sequence[str] = POINT_KINDS
        if by == CHANNEL:
            query = query.join(PurchaseRow, PurchaseRow.id == e.purchase_id)
            kinds = ("earn", "pending_earn", "reverse")
        query, keys = self._keyed(
            query, by, member_id=e.member_id, channel=PurchaseRow.channel, lowest=lowest
        )
        rows = self.session.execute(
            query.where(
                e.program_id == program_id,
                e.occurred_at >= start,
                e.occurred_at < end,
                e.kind.in_(kinds),
            ).group_by(*keys, e.kind)
        ).all()
        found: dict[str, dict[str, int]] = {}
        for kind, points, key in rows:
            found.setdefault(key, {})[kind] = _int(points)
        return found

    def points_trend(
        self, program_id: str, bounds: Sequence[datetime]
    ) -> dict[int, dict[str, int]]:
        e = LedgerEntryRow
        rows = (
            select(bucket_of(e.occurred_at, bounds).label("b"), e.kind, e.points)
            .where(
                e.program_id == program_id,
                e.occurred_at >= bounds[0],
                e.occurred_at < bounds[-1],
                e.kind.in_(POINT_KINDS),
            )
            .subquery()
        )
        found: dict[int, dict[str, int]] = {}
        for b, kind, points in self.session.execute(
            select(rows.c.b, rows.c.kind, func.sum(rows.c.points)).group_by(rows.c.b, rows.c.kind)
        ).all():
            found.setdefault(int(b), {})[kind] = _int(points)
        return found

    def balances(
        self, program_id: str, *, by: str | None, lowest: str | None
    ) -> dict[str, BalanceAggregate]:
        """Pending and outstanding points now, from the members' summary rows."""
        b = MemberBalanceRow
        query = select(func.sum(b.pending), func.sum(case((b.available > 0, b.available), else_=0)))
        query = query.select_from(MemberBalanceRow)
        query, keys = self._keyed(query, by, member_id=b.member_id, channel=None, lowest=lowest)
        rows = self.session.execute(query.where(b.program_id == program_id).group_by(*keys)).all()
        return {row[2]: BalanceAggregate(_int(row[0]), _int(row[1])) for row in rows}

    # -- rewards and feedback ----------------------------------------------------------------

    def reward_popularity(
        self, program_id: str, *, start: datetime, end: datetime, top: int
    ) -> list[tuple[str, str, int, int]]:
        """(reward id, name, redemptions, points) of the most redeemed rewards in the period;
        cancelled redemptions do not count."""
        r = RedemptionRow
        count = func.count()
        return [
            (reward, name, _int(n), _int(points))
            for reward, name, n, points in self.session.execute(
                select(r.reward_id, func.max(r.reward_name), count, func.sum(r.points))
                .where(
                    r.program_id == program_id,
                    r.created_at >= start,
                    r.created_at < end,
                    r.status == "issued",
                )
                .group_by(r.reward_id)
                .order_by(count.desc(), r.reward_id)
                .limit(top)
            ).all()
        ]

    def feedback(
        self, program_id: str, *, start: datetime, end: datetime, by: str | None, lowest: str | None
    ) -> dict[str, dict[str, FeedbackAggregate]]:
        """Per group and kind (nps, csat, ces): answers, their total, promoters, detractors."""
        f = FeedbackRow
        query = select(
            f.kind,
            func.count(),
            func.sum(f.score),
            _count_if(f.score >= 9),
            _count_if(f.score <= 6),
        ).select_from(FeedbackRow)
        query, keys = self._keyed(
            query, by, member_id=f.member_id, channel=f.channel, lowest=lowest
        )
        found: dict[str, dict[str, FeedbackAggregate]] = {}
        for kind, n, total, promoters, detractors, key in self.session.execute(
            query.where(
                f.program_id == program_id, f.answered_at >= start, f.answered_at < end
            ).group_by(*keys, f.kind)
        ).all():
            found.setdefault(key, {})[kind] = FeedbackAggregate(
                _int(n), _int(total), _int(promoters), _int(detractors)
            )
        return found


def bucket_of(column: Any, bounds: Sequence[datetime]) -> Any:
    """The index ``i`` of the bucket ``[bounds[i], bounds[i + 1])`` holding ``column`` (which
    the query keeps within ``[bounds[0], bounds[-1])``): a CASE nested as a binary search."""

    def node(low: int, high: int) -> Any:  # a bucket among low .. high - 1
        if high - low == 1:
            return literal_column(str(low))
        middle = (low + high) // 2
        return case((column < bounds[middle], node(low, middle)), else_=node(middle, high))

    if len(bounds) < 2:
        raise ValueError("a trend has at least one bucket")
    return node(0, len(bounds) - 1)

"""Notices' storage, and the set-based questions the notices job asks of a page of members.

The job walks the members by id (``members_after``: the primary key, in order, whatever the
program), and asks each question below in one statement about the members of a page, found by
their ids (``member_id IN (...)``), so that every statement reads the page's own rows through
the member indexes: the job's cost grows with the number of members, never with a loop over
each member's ledger, nor with a scan of the whole program per page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, literal, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from loyalty.adapters.orm import (
    LotRow,
    MemberBalanceRow,
    MemberRow,
    MemberTierRow,
    NoticeRow,
    PurchaseRow,
    QualifyingActivityRow,
    RewardWaitRow,
)
from loyalty.domain.notices import NewNotice, Notice, NoticeKind
from loyalty.domain.tiers import Measure

_MEASURE_COLUMN = {
    Measure.SPEND: QualifyingActivityRow.spend,
    Measure.POINTS: QualifyingActivityRow.points,
    Measure.PURCHASES: QualifyingActivityRow.purchases,
}

# Who is told anything: active members. Closed members (merged and erased ones are closed too)
# are not; frozen ones are skipped, not marked, so an occasion still open when they are
# unfrozen is noticed then.
_TOLD = (
    MemberRow.status == "active",
    MemberRow.merged_into.is_(None),
    MemberRow.erased_at.is_(None),
)


def _notice(row: NoticeRow) -> Notice:
    return Notice(
        row.id, row.member_id, NoticeKind(row.kind), row.occasion, row.created_at, dict(row.payload)
    )


class NoticeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # -- pages of members ---------------------------------------------------------------------

    def members_after(self, after: str | None, limit: int) -> list[tuple[str, str]]:
        """(member, program) of the ``limit`` members after ``after``, by id, in every program:
        the primary key's order (a filter on the program would have the planner scan and sort
        the whole program for every page)."""
        query = select(MemberRow.id, MemberRow.program_id).order_by(MemberRow.id).limit(limit)
        if after is not None:
            query = query.where(MemberRow.id > after)
        return [(m, p) for m, p in self.session.execute(query).all()]

    # -- what the job looks for (each about the members ``page``, all of one program) -------------

    def expiring_lots(
        self, page: Sequence[str], *, now: datetime, until: datetime
    ) -> list[tuple[str, datetime, int, int]]:
        """(member, expiry instant, points left, member's available points) of the available
        lots expiring in (now, until], per member and instant."""
        rows = self.session.execute(
            select(
                LotRow.member_id,
                LotRow.expires_at,
                func.sum(LotRow.remaining),
                MemberBalanceRow.available,
            )
            .join(MemberRow, MemberRow.id == LotRow.member_id)
            .join(MemberBalanceRow, MemberBalanceRow.member_id == LotRow.member_id)
            .where(
                LotRow.member_id.in_(page),
                # "not pending" is "available" (the only two statuses), written so that no
                # index on (status, expires_at) tempts the planner away from the page's lots
                LotRow.status != "pending",
                LotRow.remaining > 0,
                LotRow.expires_at > now,
                LotRow.expires_at <= until,
                *_TOLD,
            )
            .group_by(LotRow.member_id, LotRow.expires_at, MemberBalanceRow.available)
        ).all()
        return [(m, at, int(points), available) for m, at, points, available in rows]

    def inactive_balances(
        self, page: Sequence[str], *, active_after: datetime, active_before: datetime
    ) -> list[tuple[str, datetime, int]]:
        """(member, last activity, available points) of members with points whose last earn
        or spend falls in (active_after, active_before]: under the inactivity policy, the
        members whose points may expire soon."""
        rows = self.session.execute(
            select(
                MemberBalanceRow.member_id,
                MemberBalanceRow.last_activity_at,
                MemberBalanceRow.available,
            )
            .join(MemberRow, MemberRow.id == MemberBalanceRow.member_id)
            .where(
                MemberBalanceRow.member_id.in_(page),
                MemberBalanceRow.available > 0,
                MemberBalanceRow.last_activity_at > active_after,
                MemberBalanceRow.last_activity_at <= active_before,
                *_TOLD,
            )
        ).all()
        return [(m, at, available) for m, at, available in rows]

    def within_reach(
        self,
        page: Sequence[str],
        *,
        measure: Measure,
        since: datetime | None,
        end: datetime,
        lowest: str,
        top: str,
        reach: dict[str, int],
    ) -> list[tuple[str, datetime, str | None]]:
        """(member, enrolment, tier) of the members below the top tier whose qualifying
        activity in [since, end) adds up to at least ``reach[their tier]`` (members without
        a tier row are at ``lowest``; an unknown tier counts as ``lowest``). Only positive
        activity is added: a bound that the exact measure of any narrower window cannot
        exceed, so no member within reach is missed; the caller measures the candidates."""
        column = _MEASURE_COLUMN[measure]
        tier = func.coalesce(MemberTierRow.tier, lowest)
        bound = case(reach, value=tier, else_=literal(reach[lowest]))
        activity = [
            QualifyingActivityRow.member_id == MemberRow.id,
            QualifyingActivityRow.occurred_at < end,
        ]
        if since is not None:
            activity.append(QualifyingActivityRow.occurred_at >= since)
        rows = self.session.execute(
            select(MemberRow.id, MemberRow.enrolled_at, MemberTierRow.tier)
            .join(QualifyingActivityRow, and_(*activity))
            .outerjoin(MemberTierRow, MemberTierRow.member_id == MemberRow.id)
            .where(MemberRow.id.in_(page), tier != top, *_TOLD)
            .group_by(MemberRow.id, MemberRow.enrolled_at, MemberTierRow.tier)
            .having(func.sum(case((column > 0, column), else_=0)) >= bound)
        ).all()
        return [(m, enrolled_at, tier_id) for m, enrolled_at, tier_id in rows]

    def measures(
        self, starts: dict[str, datetime | None], measure: Measure, end: datetime
    ) -> dict[str, int]:
        """Each member's qualifying measure over [its start, end) (from the beginning when
        its start is ``None``): one grouped sum when the members share a window, else one
        read of their activity since the earliest start."""
        if not starts:
            return {}
        column = _MEASURE_COLUMN[measure]
        where = [
            QualifyingActivityRow.member_id.in_(list(starts)),
            QualifyingActivityRow.occurred_at < end,
        ]
        distinct = set(starts.values())
        if len(distinct) == 1:
            (since,) = distinct
            if since is not None:
                where.append(QualifyingActivityRow.occurred_at >= since)
            return {
                m: int(total)
                for m, total in self.session.execute(
                    select(QualifyingActivityRow.member_id, func.sum(column))
                    .where(*where)
                    .group_by(QualifyingActivityRow.member_id)
                ).all()
            }
        if None not in distinct:
            where.append(
                QualifyingActivityRow.occurred_at >= min(s for s in distinct if s is not None)
            )
        totals: dict[str, int] = {}
        for member_id, occurred_at, value in self.session.execute(
            select(
                QualifyingActivityRow.member_id, QualifyingActivityRow.occurred_at, column
            ).where(*where)
        ):
            since = starts[member_id]
            if since is None or occurred_at >= since:
                totals[member_id] = totals.get(member_id, 0) + value
        return totals

    def tier_states(self, page: Sequence[str], *, lowest: str) -> list[Any]:
        """The tier rows of members above ``lowest`` or with a scheduled drop, with the
        member's enrolment."""
        return list(
            self.session.execute(
                select(
                    MemberRow.id,
                    MemberRow.enrolled_at,
                    MemberTierRow.tier,
                    MemberTierRow.drop_to,
                    MemberTierRow.drop_at,
                    MemberTierRow.manual_tier,
                    MemberTierRow.manual_until,
                )
                .join(MemberTierRow, MemberTierRow.member_id == MemberRow.id)
                .where(
                    MemberRow.id.in_(page),
                    or_(MemberTierRow.tier != lowest, MemberTierRow.drop_at.is_not(None)),
                    *_TOLD,
                )
            ).all()
        )

    def last_purchases(
        self, page: Sequence[str], *, before: datetime
    ) -> list[tuple[str, datetime]]:
        """(member, last purchase) of the members whose last purchase was at or before
        ``before``; members who never bought are not among them."""
        latest = func.max(PurchaseRow.occurred_at)
        rows = self.session.execute(
            select(PurchaseRow.member_id, latest)
            .join(MemberRow, MemberRow.id == PurchaseRow.member_id)
            .where(PurchaseRow.member_id.in_(page), *_TOLD)
            .group_by(PurchaseRow.member_id)
            .having(latest <= before)
        ).all()
        return [(m, at) for m, at in rows]

    def born_on(self, page: Sequence[str], suffixes: Sequence[str]) -> list[str]:
        """Members whose ``birth_date`` attribute (``YYYY-MM-DD``) ends with one of
        ``suffixes`` (``-MM-DD``)."""
        birth_date = MemberRow.attributes["birth_date"].as_string()
        return list(
            self.session.scalars(
                select(MemberRow.id).where(
                    MemberRow.id.in_(page),
                    func.substr(birth_date, 5, 6).in_(list(suffixes)),
                    *_TOLD,
                )
            )
        )

    # -- reward waits ------------------------------------------------------------------------------

    def add_wait(self, program_id: str, reward_id: str, member_id: str, since: datetime) -> None:
        """The member waits for the reward since ``since``, unless already waiting (the first
        refusal's time stays)."""
        self.session.execute(
            self._insert(RewardWaitRow)
            .values(program_id=program_id, reward_id=reward_id, member_id=member_id, since=since)
            .on_conflict_do_nothing()
        )

    def waits(
        self, program_id: str, rewards: Sequence[str], *, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str, datetime, str]]:
        """(reward, member, waiting since, member status) of a page of the waits for
        ``rewards``, in the primary key's order, after the (reward, member) ``after``."""
        query = (
            select(
                RewardWaitRow.reward_id,
                RewardWaitRow.member_id,
                RewardWaitRow.since,
                MemberRow.status,
            )
            .join(MemberRow, MemberRow.id == RewardWaitRow.member_id)
            .where(RewardWaitRow.program_id == program_id, RewardWaitRow.reward_id.in_(rewards))
            .order_by(RewardWaitRow.reward_id, RewardWaitRow.member_id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(
                or_(
                    RewardWaitRow.reward_id > after[0],
                    and_(RewardWaitRow.reward_id == after[0], RewardWaitRow.member_id > after[1]),
                )
            )
        return [(r, m, since, status) for r, m, since, status in self.session.execute(query)]

    def awaited(self, program_id: str) -> list[str]:
        """The rewards some member of the program waits for."""
        return list(
            self.session.scalars(
                select(RewardWaitRow.reward_id)
                .where(RewardWaitRow.program_id == program_id)
                .distinct()
            )
        )

    def end_waits(self, program_id: str, waits: Iterable[tuple[str, str, datetime]]) -> None:
        """Delete the waits (reward, member, since): only if nobody started waiting again
        meanwhile (a wait with another ``since`` is another occasion)."""
        keys = list(waits)
        if keys:
            self.session.execute(
                delete(RewardWaitRow).where(
                    RewardWaitRow.program_id == program_id,
                    tuple_(
                        RewardWaitRow.reward_id, RewardWaitRow.member_id, RewardWaitRow.since
                    ).in_(keys),
                )
            )

    # -- notices -----------------------------------------------------------------------------------

    def existing(self, program_id: str, members: Iterable[str]) -> set[tuple[str, str, str]]:
        """(member, kind, occasion) of the notices the members already have."""
        return {
            (m, k, o)
            for m, k, o in self.session.execute(
                select(NoticeRow.member_id, NoticeRow.kind, NoticeRow.occasion).where(
                    NoticeRow.program_id == program_id, NoticeRow.member_id.in_(list(members))
                )
            ).all()
        }

    def add_absent(
        self, program_id: str, notices: Sequence[NewNotice], at: datetime
    ) -> list[tuple[int, NewNotice]]:
        """Insert the notices not already there (one per member, kind and occasion) and
        return those inserted, with their ids. ``ON CONFLICT DO NOTHING`` waits on PostgreSQL
        for a concurrent job inserting the same notice, then skips it: one of them wins."""
        table = NoticeRow.__table__
        statement = self._insert(table).on_conflict_do_nothing().returning(table.c.id)
        inserted = []
        for notice in notices:
            notice_id = self.session.execute(
                statement,
                {
                    "program_id": program_id,
                    "member_id": notice.member_id,
                    "kind": notice.kind.value,
                    "occasion": notice.occasion,
                    "created_at": at,
                    "payload": notice.payload,
                },
            ).scalar()
            if notice_id is not None:
                inserted.append((notice_id, notice))
        return inserted

    def of_member(
        self, program_id: str, member_id: str, *, before_id: int | None, limit: int
    ) -> list[Notice]:
        query = select(NoticeRow).where(
            NoticeRow.program_id == program_id, NoticeRow.member_id == member_id
        )
        if before_id is not None:
            query = query.where(NoticeRow.id < before_id)
        return [
            _notice(row)
            for row in self.session.scalars(query.order_by(NoticeRow.id.desc()).limit(limit))
        ]

    def of_program(
        self,
        program_id: str,
        *,
        kind: NoticeKind | None,
        since: datetime | None,
        until: datetime | None,
        before_id: int | None,
        limit: int,
    ) -> list[Notice]:
        query = select(NoticeRow).where(NoticeRow.program_id == program_id)
        if kind is not None:
            query = query.where(NoticeRow.kind == kind.value)
        if since is not None:
            query = query.where(NoticeRow.created_at >= since)
        if until is not None:
            query = query.where(NoticeRow.created_at < until)
        if before_id is not None:
            query = query.where(NoticeRow.id < before_id)
        return [
            _notice(row)
            for row in self.session.scalars(query.order_by(NoticeRow.id.desc()).limit(limit))
        ]

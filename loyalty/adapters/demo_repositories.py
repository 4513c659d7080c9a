"""Reads and writes of the demo data generator: members in bulk, purchases by their natural key,
members with points to spend."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from loyalty.adapters.orm import (
    MemberBalanceRow,
    MemberIdentityRow,
    MemberRow,
    PurchaseRow,
    ReferralCodeRow,
)

_INSERT_MEMBERS = insert(MemberRow.__table__)
_INSERT_IDENTITIES = insert(MemberIdentityRow.__table__)
_INSERT_BALANCES = insert(MemberBalanceRow.__table__)


class DemoDataRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def existing_members(self, program_id: str, member_ids: Sequence[str]) -> set[str]:
        if not member_ids:
            return set()
        # by primary key alone: with the program in the filter, SQLite walks the program's
        # index over all its members instead
        rows = self.session.execute(
            select(MemberRow.id, MemberRow.program_id).where(MemberRow.id.in_(member_ids))
        )
        return {member_id for member_id, program in rows if program == program_id}

    def identity_owners(self, program_id: str, kind: str, values: Sequence[str]) -> dict[str, str]:
        """value -> member id, for the values of ``kind`` some member of the program holds."""
        if not values:
            return {}
        rows = self.session.execute(
            select(MemberIdentityRow.value, MemberIdentityRow.member_id).where(
                MemberIdentityRow.program_id == program_id,
                MemberIdentityRow.kind == kind,
                MemberIdentityRow.value.in_(values),
            )
        )
        return {value: member_id for value, member_id in rows}

    def add_members(
        self,
        members: list[dict[str, Any]],
        identities: list[dict[str, Any]],
        balances: list[dict[str, Any]],
    ) -> None:
        """The rows ``MemberRepository.add`` writes, for many members at once (multi-row
        inserts through the driver's ``executemany``), each table's rows in its key's order:
        random ids inserted in order touch each index page once, not once a row."""
        members = sorted(members, key=lambda row: row["id"])
        identities = sorted(identities, key=lambda row: (row["kind"], row["value"]))
        balances = sorted(balances, key=lambda row: row["member_id"])
        if members:
            self.session.execute(_INSERT_MEMBERS, members)
        if identities:
            self.session.execute(_INSERT_IDENTITIES, identities)
        if balances:
            self.session.execute(_INSERT_BALANCES, balances)

    def add_referral_codes(self, program_id: str, codes: dict[str, str], at: datetime) -> set[str]:
        """Give each member (id -> code) its referral code, as enrolment does; the members whose
        code was taken by someone else already (and who have none yet) are returned."""
        if not codes:
            return set()
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        self.session.execute(
            dialect_insert(ReferralCodeRow.__table__).on_conflict_do_nothing(),
            [
                {"program_id": program_id, "member_id": member_id, "code": code, "created_at": at}
                for member_id, code in sorted(codes.items())
            ],
        )
        given = set(
            self.session.scalars(
                select(ReferralCodeRow.member_id).where(ReferralCodeRow.member_id.in_(list(codes)))
            )
        )
        return set(codes) - given

    def purchase_ids(
        self, program_id: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """(source, external id) -> purchase id, for the keys recorded in the program."""
        if not keys:
            return {}
        rows = self.session.execute(
            select(PurchaseRow.source, PurchaseRow.external_id, PurchaseRow.id).where(
                PurchaseRow.program_id == program_id,
                tuple_(PurchaseRow.source, PurchaseRow.external_id).in_(list(keys)),
            )
        )
        return {(source, external_id): purchase_id for source, external_id, purchase_id in rows}

    def has_purchases_numbered(self, program_id: str, prefix: str) -> bool:
        """Whether the program has a purchase whose external id starts with ``prefix``."""
        return (
            self.session.scalar(
                select(PurchaseRow.id)
                .where(
                    PurchaseRow.program_id == program_id,
                    PurchaseRow.external_id.startswith(prefix, autoescape=True),
                )
                .limit(1)
            )
            is not None
        )

    def members_with_points(self, program_id: str, at_least: int) -> list[tuple[str, int]]:
        """(member id, available points) of the active members with at least ``at_least``
        points available and no debt, by member id."""
        rows = self.session.execute(
            select(MemberBalanceRow.member_id, MemberBalanceRow.available)
            .join(MemberRow, MemberRow.id == MemberBalanceRow.member_id)
            .where(
                MemberBalanceRow.program_id == program_id,
                MemberBalanceRow.available >= at_least,
                MemberBalanceRow.debt == 0,
                MemberRow.status == "active",
            )
            .order_by(MemberBalanceRow.member_id)
        )
        return [(member_id, available) for member_id, available in rows]

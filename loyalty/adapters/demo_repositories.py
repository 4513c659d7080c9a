"""Reads and writes of the demo data generator: members in bulk, generated purchases, members with
points to spend.

The bulk enrolment asks no per-batch "which of these exist?" question: a long IN list, prepared
once by psycopg and planned generically while the transaction grows the tables, is checked item
by item against every row on PostgreSQL (minutes for 100,000 members). Instead, the generated
identities already in the program are read in one pass, and members are inserted with
``ON CONFLICT DO NOTHING RETURNING``: the answer says which ones were new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Insert, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from loyalty.adapters.orm import (
    MemberBalanceRow,
    MemberIdentityRow,
    MemberRow,
    PurchaseRow,
    ReferralCodeRow,
)

_MEMBERS = MemberRow.__table__
_CODES = ReferralCodeRow.__table__
_IDENTITIES = MemberIdentityRow.__table__
_BALANCES = MemberBalanceRow.__table__


class DemoDataRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def _insert(self, table: Any) -> Insert:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def identities_like(self, program_id: str, kind: str, pattern: str) -> list[tuple[str, str]]:
        """(value, member id) of the program's identities of ``kind`` matching the SQL LIKE
        ``pattern``: one pass over the program's identities."""
        rows = self.session.execute(
            select(MemberIdentityRow.value, MemberIdentityRow.member_id).where(
                MemberIdentityRow.program_id == program_id,
                MemberIdentityRow.kind == kind,
                MemberIdentityRow.value.like(pattern),
            )
        )
        return [(value, member_id) for value, member_id in rows]

    def add_members(self, members: list[dict[str, Any]]) -> set[str]:
        """Insert the member rows whose id is free; the ids inserted. Rows go in id order:
        random ids inserted in order touch each index page once, not once a row."""
        if not members:
            return set()
        inserted = self.session.execute(
            self._insert(_MEMBERS).on_conflict_do_nothing().returning(_MEMBERS.c.id),
            sorted(members, key=lambda row: row["id"]),
        )
        return set(inserted.scalars())

    def add_identities_and_balances(
        self, identities: list[dict[str, Any]], balances: list[dict[str, Any]]
    ) -> None:
        """The rest of what ``MemberRepository.add`` writes, for many members at once."""
        if identities:
            self._insert_many(
                _IDENTITIES, sorted(identities, key=lambda row: (row["kind"], row["value"]))
            )
        if balances:
            self._insert_many(_BALANCES, sorted(balances, key=lambda row: row["member_id"]))

    def _insert_many(self, table: Any, rows: list[dict[str, Any]]) -> None:
        # Plain executemany: psycopg pipelines it. Forcing SQLAlchemy's multi-row statements
        # (with RETURNING) was slower here: psycopg parses each long statement's placeholders.
        self.session.execute(insert(table), rows)

    def add_referral_codes(self, program_id: str, codes: dict[str, str], at: datetime) -> set[str]:
        """Give each member (id -> code) its referral code, as enrolment does; the members whose
        code someone else holds already are returned, still without one."""
        if not codes:
            return set()
        given = self.session.execute(
            self._insert(_CODES).on_conflict_do_nothing().returning(_CODES.c.member_id),
            [
                {"program_id": program_id, "member_id": member_id, "code": code, "created_at": at}
                for member_id, code in sorted(codes.items())
            ],
        )
        return set(codes) - set(given.scalars())

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

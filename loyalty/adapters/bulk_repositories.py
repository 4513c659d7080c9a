"""Set-based reads and writes for bulk ingest: a batch of purchases in a handful of statements
(multi-row inserts, one update per member) instead of a dozen statements per purchase."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import JSON, select, text
from sqlalchemy.orm import Session

from loyalty.adapters.db import json_text
from loyalty.adapters.orm import (
    Base,
    IdempotencyRecordRow,
    MemberBalanceRow,
    MemberIdentityRow,
    MemberRow,
    ProgramVersionRow,
    PurchaseRow,
    UTCDateTime,
)


class MemberState(NamedTuple):
    status: str
    attributes: dict[str, Any]
    enrolled_at: datetime
    merged_into: str | None
    available: int
    pending: int
    debt: int
    last_activity_at: datetime | None


class BulkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name
        self._statements: dict[tuple[str, tuple[str, ...]], tuple[str, Any]] = {}

    def known_keys(self, program_id: str, keys: Sequence[str]
                   ) -> dict[str, tuple[str, dict[str, Any]]]:
        """(fingerprint, answer) of the keys already claimed."""
        if not keys:
            return {}
        rows = self.session.execute(
            select(IdempotencyRecordRow.key, IdempotencyRecordRow.fingerprint,
                   IdempotencyRecordRow.result)
            .where(IdempotencyRecordRow.program_id == program_id,
                   IdempotencyRecordRow.key.in_(keys)))
        return {key: (fingerprint, result) for key, fingerprint, result in rows}

    def members_by_identity(self, program_id: str, identities: Iterable[tuple[str, str]]
                            ) -> dict[tuple[str, str], str]:
        by_kind: dict[str, list[str]] = {}
        for kind, value in identities:
            by_kind.setdefault(kind, []).append(value)
        found: dict[tuple[str, str], str] = {}
        for kind, values in by_kind.items():
            rows = self.session.execute(
                select(MemberIdentityRow.value, MemberIdentityRow.member_id)
                .where(MemberIdentityRow.program_id == program_id,
                       MemberIdentityRow.kind == kind, MemberIdentityRow.value.in_(values)))
            found.update({(kind, value): member for value, member in rows})
        return found

    def lock_members(self, program_id: str, member_ids: Sequence[str]
                     ) -> dict[str, MemberState]:
        """The members' profiles and summary rows, the summary rows locked until commit (on
        SQLite the transaction already holds the write lock)."""
        if not member_ids:
            return {}
        query = (
            select(MemberRow.id, MemberRow.status, MemberRow.attributes, MemberRow.enrolled_at,
                   MemberRow.merged_into, MemberBalanceRow.available, MemberBalanceRow.pending,
                   MemberBalanceRow.debt, MemberBalanceRow.last_activity_at)
            .join(MemberBalanceRow, MemberBalanceRow.member_id == MemberRow.id)
            .where(MemberRow.program_id == program_id, MemberRow.id.in_(member_ids))
            .order_by(MemberRow.id)
            .with_for_update(of=MemberBalanceRow)
        )
        return {row[0]: MemberState(*row[1:]) for row in self.session.execute(query)}

    def versions(self, program_id: str) -> list[tuple[int, datetime, datetime | None]]:
        """(version, published_at, effective_from) of every published version, newest first."""
        return [tuple(row) for row in self.session.execute(  # type: ignore[misc]
            select(ProgramVersionRow.version, ProgramVersionRow.published_at,
                   ProgramVersionRow.effective_from)
            .where(ProgramVersionRow.program_id == program_id)
            .order_by(ProgramVersionRow.version.desc()))]

    def purchase_id(self, program_id: str, source: str, external_id: str) -> str | None:
        return self.session.scalar(
            select(PurchaseRow.id).where(PurchaseRow.program_id == program_id,
                                         PurchaseRow.source == source,
                                         PurchaseRow.external_id == external_id))

    def purchase_members(self, program_id: str, purchases: Iterable[tuple[str, str]]
                         ) -> dict[tuple[str, str], str]:
        """(source, external id) -> member, of the purchases already recorded."""
        wanted = set(purchases)
        if not wanted:
            return {}
        rows = self.session.execute(
            select(PurchaseRow.source, PurchaseRow.external_id, PurchaseRow.member_id)
            .where(PurchaseRow.program_id == program_id,
                   PurchaseRow.external_id.in_(sorted({ext for _, ext in wanted}))))
        return {(source, ext): member for source, ext, member in rows
                if (source, ext) in wanted}

    def lot_ids(self, count: int) -> list[int]:
        """``count`` fresh lot ids (see ``_fresh_ids``)."""
        return self._fresh_ids("lots", count)

    def entry_ids(self, count: int) -> list[int]:
        """``count`` fresh ledger entry ids: the outbox names each earn's entry."""
        return self._fresh_ids("ledger_entries", count)

    def _fresh_ids(self, table: str, count: int) -> list[int]:
        """PostgreSQL takes them from the column's sequence; on SQLite the transaction holds
        the write lock, so the ids after the largest are free."""
        if not count:
            return []
        if self.dialect == "postgresql":
            return list(self.session.scalars(text(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                "FROM generate_series(1, :n)"), {"n": count}))
        last = self.session.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table}")) or 0
        return list(range(last + 1, last + 1 + count))

    def write(self, *, purchases: list[dict[str, Any]], lots: list[dict[str, Any]],
              entries: list[dict[str, Any]], balances: list[dict[str, Any]],
              keys: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
        """Multi-row inserts (and one summary update per member) for a whole batch, through
        the driver's ``executemany``: the values are converted here, once, not per column
        object (instants as UTC text on SQLite, JSON as text)."""
        connection = self.session.connection()
        for table, rows in (("idempotency_records", keys), ("purchases", purchases),
                            ("lots", lots), ("ledger_entries", entries),
                            ("domain_events", events)):
            if rows:
                sql, convert = self._insert(table, tuple(rows[0]))
                connection.exec_driver_sql(sql, [convert(row) for row in rows])
        if balances:
            p = "?" if self.dialect == "sqlite" else "%s"
            connection.exec_driver_sql(
                f"UPDATE member_balances SET available = available + {p}, "
                f"pending = pending + {p}, lifetime_earned = lifetime_earned + {p}, "
                f"updated_at = {p}, last_activity_at = {p} WHERE member_id = {p}",
                [(b["d_available"], b["d_pending"], b["d_earned"], self._instant(b["at"]),
                  self._instant(b["activity_at"]), b["m"]) for b in balances])

    def _instant(self, value: datetime | None) -> Any:
        if value is None or self.dialect != "sqlite":
            return value
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def _insert(self, table: str, columns: tuple[str, ...]) -> tuple[str, Any]:
        found = self._statements.get((table, columns))
        if found is not None:
            return found
        sqlite = self.dialect == "sqlite"
        types = Base.metadata.tables[table].c
        json_columns = {c for c in columns if isinstance(types[c].type, JSON)}
        instant_columns = {c for c in columns if isinstance(types[c].type, UTCDateTime)}
        marks = ", ".join("?" if sqlite else ("%s::jsonb" if c in json_columns else "%s")
                          for c in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        instant = self._instant
        plan = [(c, 1 if c in json_columns else 2 if c in instant_columns else 0)
                for c in columns]

        def convert(row: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(
                row[c] if how == 0 else
                (None if row[c] is None else json_text(row[c])) if how == 1 else instant(row[c])
                for c, how in plan)

        self._statements[(table, columns)] = sql, convert
        return sql, convert

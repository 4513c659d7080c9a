"""Reads and writes of plain purchases, through the driver: a whole batch of them for bulk
ingest in a handful of statements (multi-row inserts, one update per member), or one purchase
posted at the till in one read and one round of writes (pipelined on PostgreSQL).

The values are converted here, once per statement, not per column object: instants as UTC text
on SQLite (as ``UTCDateTime`` stores them), JSON as text. SQLAlchemy's per-statement work costs
more than the statements themselves on this path (see PERF-NOTES)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack, nullcontext
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, NamedTuple

import orjson
from sqlalchemy import JSON, select, text
from sqlalchemy.exc import IntegrityError
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
from loyalty.adapters.repositories import compiled_in_cache
from loyalty.rules.engine import CompiledProgram


class MemberState(NamedTuple):
    status: str
    attributes: dict[str, Any]
    enrolled_at: datetime
    merged_into: str | None
    available: int
    pending: int
    debt: int
    last_activity_at: datetime | None


class PlainState(NamedTuple):
    """What posting a plain purchase reads, in one statement: the program and its version in
    force, the member and its summary row, whether a key was used, and two fresh ids."""

    member_id: str
    name: str
    currency: str
    time_zone: str
    version: int | None
    published_at: datetime | None
    status: str
    attributes: dict[str, Any]
    enrolled_at: datetime
    available: int
    pending: int
    debt: int
    last_activity_at: datetime | None
    claimed: int
    lot_id: int
    entry_id: int


# The version of the member's program in force at {at} (v), in the statements below.
_VERSION_IN_FORCE = """
LEFT JOIN program_versions v ON v.program_id = m.program_id AND v.version = (
    SELECT max(w.version) FROM program_versions w
     WHERE w.program_id = m.program_id
       AND (w.effective_from IS NULL OR w.effective_from <= {at}))"""
_PLAIN_STATE = """
SELECT m.id, p.name, p.currency, p.time_zone, v.version, v.published_at,
       m.status, m.attributes, m.enrolled_at,
       b.available, b.pending, b.debt, b.last_activity_at,
       {claimed},
       {ids}
FROM members m
JOIN member_balances b ON b.member_id = m.id
JOIN programs p ON p.id = m.program_id""" + _VERSION_IN_FORCE + """
WHERE m.id = {member} AND m.program_id = {p}
{lock}"""
# The balance endpoint's read, in one statement (one snapshot, no transaction of its own): the
# program and its version in force, the member's summary row, and its lots with points left
# (one row each; one row of NULL lot columns when there are none).
_BALANCE_STATE = """
SELECT p.name, p.currency, p.time_zone, v.version, v.published_at,
       m.status, b.available, b.pending, b.lifetime_earned, b.lifetime_redeemed,
       b.lifetime_expired, b.lifetime_reversed, b.lifetime_adjusted, b.debt, b.last_activity_at,
       l.status, l.remaining, l.available_at, l.expires_at
FROM members m
JOIN member_balances b ON b.member_id = m.id
JOIN programs p ON p.id = m.program_id""" + _VERSION_IN_FORCE + """
LEFT JOIN lots l ON l.member_id = m.id AND l.remaining > 0
WHERE m.id = {m} AND m.program_id = {p}"""


class BalanceState(NamedTuple):
    """What the balance endpoint reads: the program, its version in force, the member's status
    and summary row, and (status, remaining, available_at, expires_at) of its open lots."""

    name: str
    currency: str
    time_zone: str
    version: int | None
    published_at: datetime | None
    status: str
    balance: tuple[int, ...]  # the summary row's columns, in ``Balance``'s order
    last_activity_at: datetime | None
    lots: list[tuple[str, int, datetime | None, datetime | None]]


_CLAIMED = {  # how many of the keys are taken (on PostgreSQL the claim before tells)
    "sqlite": "(SELECT count(*) FROM idempotency_records i "
              "WHERE i.program_id = m.program_id AND i.key IN ({keys}))",
    "postgresql": "0",
}
_BY_IDENTITY = ("(SELECT n.member_id FROM member_identities n WHERE n.program_id = {p} "
                "AND n.kind = {kind} AND n.value = {value})")
# PostgreSQL takes the ids from the columns' sequences; on SQLite the transaction holds the
# write lock (BEGIN IMMEDIATE), so the ids after the largest are free.
_FRESH_IDS = {
    "postgresql": "nextval(pg_get_serial_sequence('lots', 'id')), "
                  "nextval(pg_get_serial_sequence('ledger_entries', 'id'))",
    "sqlite": "(SELECT coalesce(max(id), 0) + 1 FROM lots), "
              "(SELECT coalesce(max(id), 0) + 1 FROM ledger_entries)",
}
_STATEMENTS: dict[tuple[Any, ...], tuple[str, Any]] = {}
_SQL: dict[tuple[Any, ...], str] = {}


class BulkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

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

    def write(self, **rows: list[dict[str, Any]]) -> None:
        """Write a batch's rows (see ``write_rows``) in the session's transaction."""
        write_rows(self.session.connection().connection, self.session.get_bind().dialect,
                   pipeline=True, **rows)


class PlainRepository:
    """One plain posting, on a connection of the driver's own (the unit of work begins and
    ends its transaction): no session, no statement compiled per call."""

    def __init__(self, connection: Any, dialect: Any, *, write: bool = True) -> None:
        """``write``: a posting's transaction; else a read of one statement (a snapshot)."""
        self.connection = connection
        self.dialect_ = dialect
        self.dialect = dialect.name
        postgresql = self.dialect == "postgresql"
        # PostgreSQL: a read of one statement needs no transaction (no BEGIN, no ROLLBACK,
        # which would also make psycopg forget the connection's prepared statements).
        self.autocommit = postgresql and not write
        if self.autocommit:
            connection.driver_connection.autocommit = True
        # PostgreSQL: one pipeline from the read to the commit, so the posting costs two round
        # trips (BEGIN and the read; the writes and COMMIT), not one a statement.
        self._pipeline: Any = nullcontext()
        if postgresql and write:
            self._pipeline = ExitStack()
            self._pipeline.enter_context(connection.driver_connection.pipeline())

    def commit(self) -> None:
        """Commit, and give the connection back to the pool. A unique key a concurrent
        transaction took first raises SQLAlchemy's ``IntegrityError`` (on PostgreSQL the
        writes are checked here, when the pipeline is sent)."""
        try:
            with self._pipeline:
                self.connection.commit()
        except BaseException as error:
            self.rollback()  # and back to the pool, whatever failed
            if isinstance(error, self.dialect_.loaded_dbapi.IntegrityError):
                raise IntegrityError("COMMIT", None, error) from error
            raise
        self._release()

    def rollback(self) -> None:
        """Roll back, and give the connection back to the pool (which resets it)."""
        try:
            with self._pipeline:
                self.connection.rollback()
        except self.dialect_.loaded_dbapi.Error:
            pass  # a failed transaction is rolled back by the pool as well
        finally:
            self._release()

    def _release(self) -> None:
        try:
            if self.autocommit:
                self.connection.driver_connection.autocommit = False
        except self.dialect_.loaded_dbapi.Error:
            pass  # a broken connection: the pool's reset fails and discards it
        finally:
            self.connection.close()

    def plain_state(self, program_id: str, member: Any, keys: Sequence[tuple[str, str]],
                    at: datetime, now: datetime) -> PlainState | None:
        """The state a plain posting starts from, for ``member`` (a ``MemberRef``: by id or
        identity); None when no such member is in the program.

        Locks, in the order the general use case takes them (no deadlock between the lanes):
        on PostgreSQL the (key, fingerprint) ``keys`` are claimed first (``ON CONFLICT DO
        NOTHING`` waits for a concurrent claim of the same key), then the member's summary row
        is locked (``FOR UPDATE``); ``write`` then stores the answer under the keys. On SQLite
        the transaction holds the write lock, the keys are looked up and ``write`` inserts
        them."""
        return self._received(*self._send_state(program_id, member, keys, at, now))[0]

    def plain_states(self, postings: Sequence[tuple[str, Any, Sequence[tuple[str, str]],
                                                    datetime]], now: datetime
                     ) -> list[tuple[PlainState | None, list[str]]]:
        """``plain_state`` for several postings (program, member, keys, occurred at) in one
        transaction, sent together (one round trip on PostgreSQL), each with the keys its
        claim took (PostgreSQL; ``release`` gives them back). The caller orders the postings
        (members by id) and takes one a member. The fresh ids differ from posting to posting:
        on SQLite the n-th posting's are the first's plus n (the transaction holds the write
        lock and writes nothing until ``write``)."""
        sent = [self._send_state(program_id, member, keys, at, now)
                for program_id, member, keys, at in postings]
        states = [self._received(*one) for one in sent]
        if self.dialect == "sqlite":
            states = [(None if state is None else state._replace(
                lot_id=state.lot_id + n, entry_id=state.entry_id + n), claimed)
                for n, (state, claimed) in enumerate(states)]
        return states

    def release(self, program_id: str, keys: Sequence[str]) -> None:
        """Delete the keys this transaction claimed for a posting it does not make (PostgreSQL;
        on SQLite nothing is claimed before ``write``)."""
        if keys and self.dialect == "postgresql":
            self.connection.cursor().executemany(
                "DELETE FROM idempotency_records WHERE program_id = %s AND key = %s",
                [(program_id, key) for key in keys])

    def _send_state(self, program_id: str, member: Any, keys: Sequence[tuple[str, str]],
                    at: datetime, now: datetime) -> tuple[Any, Any, int]:
        sqlite = self.dialect == "sqlite"
        name = ":{}" if sqlite else "%({})s"
        by_id = member.member_id is not None
        statement = ("plain_state", self.dialect, len(keys), by_id)
        sql = _SQL.get(statement)
        if sql is None:
            sql = _SQL[statement] = _PLAIN_STATE.format(
                claimed=_CLAIMED[self.dialect].format(
                    keys=", ".join(name.format(f"k{n}") for n in range(len(keys)))),
                ids=_FRESH_IDS[self.dialect], at=name.format("at"), p=name.format("p"),
                member=name.format("m") if by_id else _BY_IDENTITY.format(
                    p=name.format("p"), kind=name.format("kind"), value=name.format("value")),
                lock="" if sqlite else "FOR UPDATE OF b")
        values = {"p": program_id, "at": _instant(self.dialect, at),
                  **{f"k{n}": key for n, (key, _) in enumerate(keys)}}
        if by_id:
            values["m"] = member.member_id
        else:
            values["kind"], values["value"] = member.identity.kind.value, member.identity.value
        claim = None
        if not sqlite:
            claim = self.connection.cursor()
            claim.execute(  # in a program that exists (else none is claimed: taken)
                "INSERT INTO idempotency_records (program_id, key, fingerprint, result, "
                "created_at) SELECT p.id, v.key, v.fingerprint, '{}'::jsonb, v.at "
                "FROM programs p, (VALUES "
                + ", ".join(["(%s, %s, %s::timestamptz)"] * len(keys))
                + ") AS v (key, fingerprint, at) WHERE p.id = %s "
                "ON CONFLICT DO NOTHING RETURNING key",
                [*(value for key, print_ in keys for value in (key, print_, now)), program_id])
        cursor = self.connection.cursor()
        cursor.execute(sql, values)
        return claim, cursor, len(keys)

    def _received(self, claim: Any, cursor: Any, keys: int
                  ) -> tuple[PlainState | None, list[str]]:
        claimed = [] if claim is None else [key for (key,) in claim.fetchall()]
        row = cursor.fetchone()
        if row is None:
            return None, claimed
        row = list(row)
        if self.dialect == "sqlite":
            for index in (5, 8, 12):
                row[index] = _sqlite_instant(row[index])
            row[7] = orjson.loads(row[7]) if row[7] is not None else None
        row[7] = dict(row[7] or {})
        if claim is not None:
            row[13] += keys - len(claimed)
        return PlainState(*row), claimed

    def balance_state(self, program_id: str, member_id: str, at: datetime
                      ) -> BalanceState | None:
        """The member's balance as stored, with the program's version in force at ``at``;
        None when no such member is in the program."""
        sqlite = self.dialect == "sqlite"
        sql = _SQL.get(("balance_state", self.dialect))
        if sql is None:
            name = ":{}" if sqlite else "%({})s"
            sql = _SQL["balance_state", self.dialect] = _BALANCE_STATE.format(
                at=name.format("at"), m=name.format("m"), p=name.format("p"))
        cursor = self.connection.cursor()
        cursor.execute(sql, {"p": program_id, "m": member_id, "at": _instant(self.dialect, at)})
        rows = cursor.fetchall()
        if not rows:
            return None
        first = rows[0]
        instant = _sqlite_instant if sqlite else _aware
        lots = [(row[15], row[16], instant(row[17]), instant(row[18]))
                for row in rows if row[15] is not None]
        return BalanceState(first[0], first[1], first[2], first[3], instant(first[4]),
                            first[5], tuple(first[6:14]), instant(first[14]), lots)

    def compiled(self, program_id: str, version: int, published_at: datetime
                 ) -> CompiledProgram | None:
        """The version compiled, if a posting of this process compiled it already (the
        general lane compiles it, on the first posting after a publication)."""
        return compiled_in_cache(program_id, version, published_at)

    def write(self, *, keys: list[dict[str, Any]], **rows: list[dict[str, Any]]) -> None:
        """The postings' rows (at most one summary change a member); on PostgreSQL their keys
        are claimed already: their answer, and everything goes in one statement."""
        if self.dialect == "postgresql":
            sql, values = _one_statement(keys=keys, **rows)
            # A raw cursor: the statement comes numbered ($1...), as the server takes it;
            # psycopg would split a long one's %s marks anew on every call.
            self.dialect_.loaded_dbapi.RawCursor(self.connection.driver_connection).execute(
                sql, values)
        else:
            write_rows(self.connection, self.dialect_, pipeline=False, keys=keys, **rows)


def _one_statement(*, keys: list[dict[str, Any]], purchases: list[dict[str, Any]],
                   lots: list[dict[str, Any]], entries: list[dict[str, Any]],
                   balances: list[dict[str, Any]], events: list[dict[str, Any]]
                   ) -> tuple[str, list[Any]]:
    """PostgreSQL: the writes of ``write_rows`` (the keys' answers for rows that the claim
    inserted) as one statement of data-modifying ``WITH`` parts, a multi-row ``VALUES`` a
    table: the database parses, plans and answers one statement, not seven, and the driver
    sends one. The rows go in the order given (the serial ids follow it), and the foreign
    keys between the parts are checked at the statement's end, when all are in. The
    statement is built once a shape (the tables' columns and row counts), numbered for a raw
    cursor."""
    tables = _row_tables(purchases, lots, entries, events)
    shape = (len(keys), len(balances),
             *((table, tuple(rows[0]), len(rows)) for table, rows in tables))
    values: list[Any] = [value for k in keys
                         for value in (json_text(k["result"]), k["program_id"], k["key"])]
    for table, rows in tables:
        convert = _insert("postgresql", table, tuple(rows[0]))[1]
        for row in rows:
            values += convert(row)
    for b in balances:
        values += _balance_change("postgresql", b)
    sql = _SQL.get(("one statement", shape))
    if sql is None:
        sql = _SQL["one statement", shape] = _numbered(_one_statement_sql(shape))
    return sql, values


def _numbered(sql: str) -> str:
    """``sql``'s ``%s`` marks as the server's ``$1``, ``$2``..."""
    pieces = sql.split("%s")
    return pieces[0] + "".join(f"${n}{piece}" for n, piece in enumerate(pieces[1:], 1))


def _one_statement_sql(shape: tuple[Any, ...]) -> str:
    keys, balances = shape[0], shape[1]
    parts = []
    if keys:
        parts.append(
            "UPDATE idempotency_records i SET result = v.result FROM (VALUES "
            + ", ".join(["(%s::jsonb, %s, %s)"] * keys)
            + ") AS v (result, program_id, key) "
            "WHERE i.program_id = v.program_id AND i.key = v.key")
    for table, columns, count in shape[2:]:
        head, _, marks = _insert("postgresql", table, columns)[0].partition(" VALUES ")
        parts.append(f"{head} VALUES {', '.join([marks] * count)}")
    main = "SELECT 1"
    if balances:
        main = (
            "UPDATE member_balances b SET available = b.available + v.d_available, "
            "pending = b.pending + v.d_pending, "
            "lifetime_earned = b.lifetime_earned + v.d_earned, updated_at = v.at, "
            "last_activity_at = v.activity_at FROM (VALUES "
            + ", ".join(["(%s::bigint, %s::bigint, %s::bigint, %s::timestamptz, "
                         "%s::timestamptz, %s)"] * balances)
            + ") AS v (d_available, d_pending, d_earned, at, activity_at, m) "
            "WHERE b.member_id = v.m")
    if not parts:
        return main
    return "WITH " + ", ".join(f"w{n} AS ({part})" for n, part in enumerate(parts)) + " " + main


def write_rows(connection: Any, dialect: Any, *, pipeline: bool, purchases: list[dict[str, Any]],
               lots: list[dict[str, Any]], entries: list[dict[str, Any]],
               balances: list[dict[str, Any]], keys: list[dict[str, Any]],
               events: list[dict[str, Any]]) -> None:
    """Insert the rows (and one summary update per member) through the driver: one
    ``execute`` a row or ``executemany`` a table, all sent in one pipeline on PostgreSQL
    (``pipeline``: a pipeline of their own, or the caller's).
    A unique key already taken raises SQLAlchemy's ``IntegrityError``."""
    name = dialect.name
    p = "?" if name == "sqlite" else "%s"
    statements = []
    tables = _row_tables(purchases, lots, entries, events)
    if keys:
        tables.insert(0, ("idempotency_records", keys))
    for table, rows in tables:
        sql, convert = _insert(name, table, tuple(rows[0]))
        statements.append((sql, [convert(row) for row in rows]))
    if balances:
        statements.append((
            f"UPDATE member_balances SET available = available + {p}, "
            f"pending = pending + {p}, lifetime_earned = lifetime_earned + {p}, "
            f"updated_at = {p}, last_activity_at = {p} WHERE member_id = {p}",
            [_balance_change(name, b) for b in balances]))
    cursor = connection.cursor()
    try:
        if name == "postgresql" and pipeline:
            with connection.driver_connection.pipeline():
                _run(cursor, statements)
        else:
            _run(cursor, statements)
    except dialect.loaded_dbapi.IntegrityError as error:
        raise IntegrityError(statements[0][0], None, error) from error


def _row_tables(purchases: list[dict[str, Any]], lots: list[dict[str, Any]],
                entries: list[dict[str, Any]], events: list[dict[str, Any]]
                ) -> list[tuple[str, list[dict[str, Any]]]]:
    """The tables with rows to insert, in the order they are written (a lot before the
    entry that names it)."""
    return [(table, rows) for table, rows in (("purchases", purchases), ("lots", lots),
                                              ("ledger_entries", entries),
                                              ("domain_events", events)) if rows]


def _balance_change(dialect: str, b: dict[str, Any]) -> tuple[Any, ...]:
    """A member's summary change as the update takes it: the three deltas, the instants,
    the member."""
    return (b["d_available"], b["d_pending"], b["d_earned"], _instant(dialect, b["at"]),
            _instant(dialect, b["activity_at"]), b["m"])


def _instant(dialect: str, value: datetime | None) -> Any:
    """An instant as ``UTCDateTime`` stores it: naive UTC text on SQLite."""
    if value is None or dialect != "sqlite":
        return value
    return _utc_text(value)


@lru_cache(maxsize=256)
def _utc_text(value: datetime) -> str:
    """A posting writes the same two or three instants a dozen times (recorded at, occurred
    at, expires at): each is formatted once."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _insert(dialect: str, table: str, columns: tuple[str, ...]) -> tuple[str, Any]:
    found = _STATEMENTS.get((dialect, table, columns))
    if found is not None:
        return found
    sqlite = dialect == "sqlite"
    types = Base.metadata.tables[table].c
    json_columns = {c for c in columns if isinstance(types[c].type, JSON)}
    instant_columns = {c for c in columns if isinstance(types[c].type, UTCDateTime)}
    marks = ", ".join("?" if sqlite else ("%s::jsonb" if c in json_columns else "%s")
                      for c in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    get = itemgetter(*columns)
    documents = [n for n, c in enumerate(columns) if c in json_columns]
    instants = [n for n, c in enumerate(columns) if c in instant_columns]

    def convert(row: dict[str, Any]) -> list[Any]:
        values = list(get(row)) if len(columns) > 1 else [get(row)]
        for n in documents:
            if values[n] is not None:
                values[n] = json_text(values[n])
        if sqlite:
            for n in instants:
                values[n] = _instant(dialect, values[n])
        return values

    _STATEMENTS[(dialect, table, columns)] = sql, convert
    return sql, convert


def _run(cursor: Any, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
    for sql, rows in statements:
        if len(rows) == 1:
            cursor.execute(sql, rows[0])
        else:
            cursor.executemany(sql, rows)


def _aware(value: datetime | None) -> datetime | None:
    """An instant as psycopg reads it (already aware)."""
    return value


def _sqlite_instant(value: str | None) -> datetime | None:
    """An instant as SQLite stores it (naive UTC text), aware."""
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)

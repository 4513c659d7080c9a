"""PostgreSQL's pooled connections: a read does not cost the postings their prepared
statements, and a connection is pinged before use only when it has been idle a while.

psycopg prepares a statement on a connection after its fifth execution, and forgets them all at
every ROLLBACK (it sends DEALLOCATE ALL). SQLite prepares nothing across transactions and is
pinged by nobody, so these tests run on PostgreSQL only.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text

from loyalty.adapters import db
from loyalty.adapters.db import make_engine
from loyalty.config import Settings
from loyalty.services.bootstrap import bootstrap
from loyalty.services.points import get_balance
from tests.builders import a_member, a_program, earn

ON_POSTGRESQL = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True)


@pytest.fixture
def one_connection(database_url):
    """A context on a pool of one connection (``db_pool_size=1``: every use case in turn gets
    the same connection), and its engine; ``one_connection(seconds)`` sets the ping window."""
    engines = []

    def make(ping_after_idle_seconds: float = 1.0):
        settings = Settings(database_url=database_url, db_pool_size=1,
                            db_ping_after_idle_seconds=ping_after_idle_seconds)
        engine = make_engine(settings)
        engines.append(engine)
        return engine, bootstrap(settings, engine=engine)

    yield make
    for engine in engines:
        engine.dispose()


def rows_on_the_connection(engine, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows read on the pooled connection, ended by COMMIT (a ROLLBACK would clear it)."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        connection.commit()
        return rows
    finally:
        connection.close()


def on_the_connection(engine, sql: str):
    """One value read on the pooled connection."""
    return rows_on_the_connection(engine, sql)[0][0]


def a_member_after_seven_postings(ctx):
    """A member who earned 70 points in seven postings: the general lane's first (it compiles
    the program), then the plain lane's six (a statement is prepared from its sixth execution
    on)."""
    a_program(ctx)
    member = a_member(ctx)
    for _ in range(7):
        earn(ctx, member, 10)
    return member


def prepared_statements(engine) -> int:
    return on_the_connection(engine, "SELECT count(*) FROM pg_prepared_statements")


@ON_POSTGRESQL
def test_balance_reads_keep_the_postings_prepared_statements_and_get_their_own(one_connection):
    engine, ctx = one_connection()
    member = a_member_after_seven_postings(ctx)
    after_postings = prepared_statements(engine)
    assert after_postings > 0

    for _ in range(6):
        assert get_balance(ctx, "shop", member.id).lifetime_earned == 70
    with ctx.uow(read_only=True) as uow:  # a reader on the session, at REPEATABLE READ
        assert uow.ledger.summary("shop", member.id) is not None

    assert prepared_statements(engine) == after_postings + 1  # the balance read's statement


@ON_POSTGRESQL
def test_a_balance_read_gives_its_connection_back_ready_for_a_transaction(one_connection):
    engine, ctx = one_connection()
    a_program(ctx)
    member = a_member(ctx)
    get_balance(ctx, "shop", member.id)  # a statement in autocommit

    connection = engine.raw_connection()
    try:
        assert connection.driver_connection.autocommit is False
    finally:
        connection.close()
    assert earn(ctx, member, 10).points_earned == 10
    assert get_balance(ctx, "shop", member.id).lifetime_earned == 10


@ON_POSTGRESQL
def test_a_connection_that_died_while_idle_is_replaced_before_use(one_connection, postgres_url):
    engine, ctx = one_connection(ping_after_idle_seconds=0.05)
    a_program(ctx)
    member = a_member(ctx)
    first = on_the_connection(engine, "SELECT pg_backend_pid()")
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    admin.dispose()
    time.sleep(0.1)  # idle longer than the window

    assert get_balance(ctx, "shop", member.id).lifetime_earned == 0
    assert on_the_connection(engine, "SELECT pg_backend_pid()") != first


@ON_POSTGRESQL
def test_a_connection_used_a_moment_ago_is_not_pinged(one_connection, monkeypatch):
    engine, ctx = one_connection(ping_after_idle_seconds=60)
    pings = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or ping(c))
    a_program(ctx)
    member = a_member(ctx)
    for _ in range(3):
        earn(ctx, member, 10)
        get_balance(ctx, "shop", member.id)
    assert pings == []

    later = SimpleNamespace(monotonic=lambda: 10.0 ** 9)  # a long while later, for the pool
    monkeypatch.setattr(db, "time", later)
    get_balance(ctx, "shop", member.id)
    assert len(pings) == 1


def statements_like(engine, start: str) -> list[str]:
    """The connection's prepared statements that begin with ``start``."""
    return [row[0] for row in rows_on_the_connection(
        engine, "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
        (start + "%",))]


@ON_POSTGRESQL
def test_a_plain_posting_writes_its_rows_in_one_prepared_statement(one_connection):
    engine, ctx = one_connection()
    member = a_member_after_seven_postings(ctx)

    writes = statements_like(engine, "WITH w0 AS (UPDATE idempotency_records")
    assert len(writes) == 1
    for table in ("purchases", "lots", "ledger_entries", "domain_events"):
        assert f"INSERT INTO {table} (" in writes[0]
    assert "UPDATE member_balances" in writes[0]
    assert statements_like(engine, "INSERT INTO purchases") == []  # no row written alone
    assert get_balance(ctx, "shop", member.id).lifetime_earned == 70

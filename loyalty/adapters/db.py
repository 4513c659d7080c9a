"""Engine and session setup for SQLite (embedded) and PostgreSQL (production).

SQLite: the driver's own transaction handling is switched off and every write transaction starts
with ``BEGIN IMMEDIATE``, which takes the database's write lock at once. ``SELECT ... FOR UPDATE``
compiles to nothing on SQLite, so this lock (with a busy timeout, so that waiting writers queue
instead of failing) is what keeps two debits of one member from both reading the old balance.
Read-only units of work start with a plain deferred ``BEGIN`` and do not block writers (WAL).

PostgreSQL: READ COMMITTED, and use cases that read-then-write lock the member's summary row
(``SELECT ... FOR UPDATE``) before reading lots. A pooled connection is pinged before use only
when it has been idle for ``db_ping_after_idle_seconds`` (as HikariCP's "alive bypass window"
does): a ping a checkout would cost every posting a round trip, while a connection used a
moment ago is alive (if it died since, the statement fails and the pool replaces it).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from loyalty.config import Settings

SQLITE_BEGIN = "sqlite_begin"


class JsonText(str):
    """A JSON document already encoded: a JSON column takes it as it is."""

    __slots__ = ()


def json_text(value: Any) -> str:
    """JSON columns are written on every posting: orjson is several times faster than json."""
    if type(value) is JsonText:
        return value
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(settings: Settings) -> Engine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(settings)
    engine = create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        json_serializer=json_text,
    )
    _ping_after_idle(engine, settings.db_ping_after_idle_seconds)
    return engine


IDLE_SINCE = "idle_since"


def _ping_after_idle(engine: Engine, seconds: float) -> None:
    """Ping a pooled connection at checkout when it has been idle more than ``seconds``: a
    dead one raises ``DisconnectionError``, and the pool replaces it with a fresh connection
    (a connection just opened is not pinged)."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _idle(_dbapi_connection: Any, record: Any) -> None:
        record.info[IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(IDLE_SINCE)
        if since is None or (seconds and time.monotonic() - since <= seconds):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("the pooled connection is gone") from error


def _sqlite_engine(settings: Settings) -> Engine:
    timeout = settings.sqlite_busy_timeout_seconds
    engine = create_engine(
        settings.database_url,
        connect_args={"timeout": timeout, "check_same_thread": False},
        json_serializer=json_text,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)

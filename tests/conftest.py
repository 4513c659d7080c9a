"""Fixtures: every integration and API test runs on a real SQLite file and on a real PostgreSQL.

PostgreSQL is the server named by ``LOYALTY_TEST_POSTGRES_URL`` (a database the tests may wipe),
or else one that this session starts itself from the ``pgserver`` package (PostgreSQL binaries
on PyPI). If it cannot be started the PostgreSQL tests fail; they are never skipped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import freezegun
import pytest
from alembic import command
from sqlalchemy import create_engine, text

from api.app import create_app
from api.cli import alembic_config
from loyalty.adapters.db import make_engine
from loyalty.adapters.orm import Base
from loyalty.adapters.repositories import forget_compiled_programs
from loyalty.config import Settings
from loyalty.services.access import Actor, CreateKey, create_key
from loyalty.services.bootstrap import bootstrap
from loyalty.services.context import Context

# Frozen time is for the engine's business clock, not for the database drivers' timeouts
# nor for pytest's own clock (`--durations`).
freezegun.configure(extend_ignore_list=["sqlalchemy", "psycopg", "psycopg_pool", "pgserver",
                                       "_pytest.timing"])

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def migrate(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(Settings(database_url=url), configure_logging=False), revision)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a PostgreSQL server for this test session, without a database name."""
    given = os.environ.get("LOYALTY_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    import pgserver

    data_dir = tmp_path_factory.mktemp("postgres")
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    yield f"postgresql+psycopg://postgres@/{{database}}?host={data_dir}"
    server.cleanup()


def postgres_database(server_url: str, name: str) -> str:
    """Create (or re-create) database ``name`` on the test server and return its URL."""
    if "{database}" not in server_url:
        return server_url  # an explicitly given database: the tests use it as it is
    admin = create_engine(server_url.format(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.format(database=name)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> str:
    url = postgres_database(postgres_server, "loyalty_test")
    migrate(url)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


_TABLES = ", ".join(table.name for table in Base.metadata.sorted_tables)


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database: a fresh SQLite file, or the PostgreSQL test database
    truncated (TRUNCATE skips the append-only triggers, which refuse DELETE)."""
    if request.param == "sqlite":
        path = tmp_path / "loyalty.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, sqlite_busy_timeout_seconds=60)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    # Each test re-creates programs under the same ids, sometimes at the same frozen instant:
    # start without the compiled versions of an earlier test.
    forget_compiled_programs()
    engine = make_engine(settings)
    yield bootstrap(settings, engine=engine)
    engine.dispose()


@pytest.fixture
def app(settings: Settings, ctx: Context):
    application = create_app(settings, context=ctx)
    application.testing = True
    return application


@pytest.fixture
def admin_key(ctx: Context) -> str:
    """An all-programs admin key: accepted by every route that takes a key."""
    created = create_key(ctx, CreateKey("tests", ("admin",), all_programs=True), Actor("cli:tests"))
    return created.secret


@pytest.fixture
def client(app, admin_key: str):
    """A test client that authenticates with ``admin_key`` unless a request says otherwise."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_key}"
    return test_client


@pytest.fixture
def anonymous(app):
    """A test client that sends no credentials."""
    return app.test_client()


# -- the PostgreSQL tests must really run ------------------------------------------------------

_postgres_outcomes = {"passed": 0, "failed": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "postgresql" in report.keywords and report.when == "call":
        _postgres_outcomes["passed" if report.passed else "failed"] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(
        f"PostgreSQL tests: {_postgres_outcomes['passed']} passed, "
        f"{_postgres_outcomes['failed']} failed (real server)"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # `make test` sets LOYALTY_REQUIRE_POSTGRES=1: a run in which no PostgreSQL test passed
    # (deselected, or the server never started) is a failed run, not a green one.
    if os.environ.get("LOYALTY_REQUIRE_POSTGRES") == "1" and _postgres_outcomes["passed"] == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

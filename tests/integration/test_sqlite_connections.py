"""How the engine opens a SQLite file: WAL, the configured durability, foreign keys, a busy
timeout, and reads through a memory map of the configured size."""

from __future__ import annotations

from pathlib import Path

from loyalty.adapters.db import make_engine
from loyalty.config import Settings


def pragmas(tmp_path: Path, **settings) -> dict[str, object]:
    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", **settings))
    with engine.connect() as connection:
        found = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                 for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout",
                              "mmap_size")}
    engine.dispose()
    return found


def test_a_connection_has_the_configured_pragmas(tmp_path):
    assert pragmas(tmp_path, sqlite_synchronous="NORMAL", sqlite_busy_timeout_seconds=7,
                   sqlite_mmap_mb=64) == {
        "journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 7000,
        "mmap_size": 64 * 1024 * 1024}


def test_the_memory_map_is_a_gibibyte_by_default_and_can_be_turned_off(tmp_path):
    assert pragmas(tmp_path)["mmap_size"] == 1024 * 1024 * 1024
    assert pragmas(tmp_path, sqlite_mmap_mb=0)["mmap_size"] == 0

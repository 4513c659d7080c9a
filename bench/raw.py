"""The raw ceiling: exactly the writes one purchase posting makes, with the plain DB-API driver.

The rows are copied from a purchase the engine itself posted (same JSON documents, same
columns), so the only difference from the engine is everything the engine does around them.
The purchase ids are random like the engine's (``new_id``, drawn before the clock starts):
sequential ids would all land on the last page of the purchases' key and of the indexes that
name a purchase, and write fewer pages than a real posting does.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.common import PROGRAM
from bench.data import Dataset, purchases
from loyalty.domain.members import new_id
from loyalty.services.purchases import record_purchase

# The writes of one posting, in the engine's order.
WRITES = {
    "idempotency": "INSERT INTO idempotency_records (program_id, key, fingerprint, result, "
                   "created_at) VALUES ({p}, {p}, {p}, {j}, {p})",
    "purchase": "INSERT INTO purchases (id, program_id, member_id, source, external_id, "
                "occurred_at, recorded_at, channel, store, currency, total, tax, discount, "
                "shipping, earn_base, points_earned, lines, promo_codes, paid_with_points, "
                "paid_with_gift_cards, points_burned) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, "
                "{p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {j}, {j}, 0, 0, 0)",
    "lot": "INSERT INTO lots (program_id, member_id, purchase_id, status, points, remaining, "
           "earned_at, available_at, expires_at) VALUES ({p}, {p}, {p}, 'pending', {p}, {p}, "
           "{p}, {p}, {p}) RETURNING id",
    "summary": "UPDATE member_balances SET pending = pending + {p}, lifetime_earned = "
               "lifetime_earned + {p}, updated_at = {p}, last_activity_at = {p} "
               "WHERE member_id = {p} RETURNING available, pending, debt",
    "entry": "INSERT INTO ledger_entries (program_id, member_id, kind, points, available_delta, "
             "pending_delta, occurred_at, recorded_at, reason, purchase_id, lot_id, "
             "rule_version, explanation, rules) VALUES ({p}, {p}, 'pending_earn', {p}, 0, {p}, "
             "{p}, {p}, {p}, {p}, {p}, {p}, {j}, {j})",
    "event": "INSERT INTO domain_events (program_id, member_id, type, occurred_at, recorded_at, "
             "payload) VALUES ({p}, {p}, {p}, {p}, {p}, {j})",
}


@dataclass(frozen=True)
class Sample:
    """The documents of one posted purchase, reused by every raw unit."""

    result: str
    lines: str
    promo_codes: str
    explanation: str
    rules: str
    points: int
    total: int
    tax: int
    event_type: str | None
    event_payload: str


def sample(dataset: Dataset) -> Sample:
    """Post one purchase through the engine and keep what it wrote."""
    command = next(purchases(dataset.members, 1, seed=7, tag="sample"))
    posted = record_purchase(dataset.ctx, command).result
    with dataset.ctx.uow(read_only=True) as uow:
        s = uow.session
        result = s.execute(text("SELECT result FROM idempotency_records WHERE key = :k"),
                           {"k": "purchase:bench:sample-0"}).scalar_one()
        row = s.execute(text("SELECT lines, promo_codes, total, tax FROM purchases "
                             "WHERE id = :i"), {"i": posted.purchase_id}).one()
        entry = s.execute(text("SELECT explanation, rules FROM ledger_entries "
                               "WHERE purchase_id = :i"), {"i": posted.purchase_id}).one()
        event = s.execute(text("SELECT type, payload FROM domain_events WHERE member_id = :m "
                               "ORDER BY id DESC LIMIT 1"), {"m": posted.member_id}).first()
    as_text = lambda v: v if isinstance(v, str) else json.dumps(v)  # noqa: E731
    return Sample(as_text(result), as_text(row.lines), as_text(row.promo_codes),
                  as_text(entry.explanation), as_text(entry.rules), posted.points_earned,
                  row.total, row.tax, event.type if event else None,
                  as_text(event.payload) if event else "{}")


def _stamp(value: datetime, sqlite: bool) -> Any:
    return value.replace(tzinfo=None).isoformat(" ") if sqlite else value


def unit(cursor: Any, sql: dict[str, str], s: Sample, member: str, purchase_id: str, n: int,
         tag: str, sqlite: bool) -> None:
    """One purchase's writes."""
    now = datetime.now(UTC)
    at, ts = _stamp(now - timedelta(hours=1), sqlite), _stamp(now, sqlite)
    available = _stamp(now + timedelta(days=30), sqlite)
    expires = _stamp(now + timedelta(days=760), sqlite)
    external = f"{tag}-{n}"
    cursor.execute(sql["idempotency"], (PROGRAM, f"purchase:raw:{external}", "f" * 64,
                                        s.result, ts))
    cursor.execute(sql["purchase"], (purchase_id, PROGRAM, member, "raw", external, at, ts, "pos",
                                     "paris-opera", "EUR", s.total, s.tax, 0, 0, s.total - s.tax,
                                     s.points, s.lines, s.promo_codes))
    cursor.execute(sql["lot"], (PROGRAM, member, purchase_id, s.points, s.points, at, available,
                                expires))
    lot_id = cursor.fetchone()[0]
    cursor.execute(sql["summary"], (s.points, s.points, ts, at, member))
    cursor.fetchone()
    cursor.execute(sql["entry"], (PROGRAM, member, s.points, s.points, at, ts,
                                  f"earned {s.points} on order {external}", purchase_id, lot_id,
                                  1, s.explanation, s.rules))
    if s.event_type is not None:
        cursor.execute(sql["event"], (PROGRAM, member, s.event_type, at, ts, s.event_payload))


def sqlite_rate(path: str, dataset: Dataset, s: Sample, count: int, *, batch: int, tag: str,
                synchronous: str = "NORMAL") -> float:
    """Purchases per second with ``sqlite3``: ``batch`` purchases per transaction."""
    sql = {k: v.format(p="?", j="?") for k, v in WRITES.items()}
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous}")
    connection.execute("PRAGMA foreign_keys=ON")
    cursor = connection.cursor()
    rng = random.Random(hash(tag) & 0xFFFF)
    members = [rng.choice(dataset.members) for _ in range(count)]
    ids = [new_id("pur") for _ in range(count)]
    start = time.perf_counter()
    for first in range(0, count, batch):
        cursor.execute("BEGIN IMMEDIATE")
        for n in range(first, min(first + batch, count)):
            unit(cursor, sql, s, members[n], ids[n], n, tag, sqlite=True)
        cursor.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return count / elapsed


def postgres_rate(url: str, dataset: Dataset, s: Sample, count: int, *, batch: int, tag: str,
                  clients: int = 1) -> float:
    """Purchases per second with ``psycopg`` from ``clients`` threads, one connection each."""
    import psycopg

    sql = {k: v.format(p="%s", j="%s::jsonb") for k, v in WRITES.items()}
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connections = [psycopg.connect(conninfo) for _ in range(clients)]
    per_client = count // clients
    ids = [[new_id("pur") for _ in range(per_client)] for _ in range(clients)]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            rng = random.Random(index)
            connection = connections[index]
            cursor = connection.cursor()
            for first in range(0, per_client, batch):
                for n in range(first, min(first + batch, per_client)):
                    unit(cursor, sql, s, rng.choice(dataset.members), ids[index][n], n,
                         f"{tag}c{index}", sqlite=False)
                connection.commit()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    for connection in connections:
        connection.close()
    if errors:
        raise errors[0]
    return per_client * clients / elapsed

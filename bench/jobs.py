"""Jobs over large tables: expiring lots, the analytics report."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bench.common import PROGRAM
from bench.data import Dataset
from loyalty.services.jobs import expire_points


def expired_lots(dataset: Dataset, lots: int) -> None:
    """``lots`` available lots past their expiry, spread over the members, with the summary
    rows holding their points (set-based inserts: this is the set-up, not the figure)."""
    members = dataset.members
    earned = datetime.now(UTC) - timedelta(days=800)
    expired = datetime.now(UTC) - timedelta(days=35)
    sqlite = dataset.settings.database_url.startswith("sqlite")

    def stamp(value: datetime) -> object:
        return value.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else value

    with dataset.ctx.uow() as uow:
        connection = uow.session.connection()
        mark = "?" if sqlite else "%s"
        sql = (f"INSERT INTO lots (program_id, member_id, status, points, remaining, earned_at, "
               f"expires_at) VALUES ({mark}, {mark}, 'available', 10, 10, {mark}, {mark})")
        step = 50_000
        for first in range(0, lots, step):
            connection.exec_driver_sql(sql, [
                (PROGRAM, members[n % len(members)], stamp(earned), stamp(expired))
                for n in range(first, min(first + step, lots))])
        connection.execute(text(
            "UPDATE member_balances SET available = available + coalesce((SELECT sum(remaining) "
            "FROM lots WHERE lots.member_id = member_balances.member_id AND "
            "lots.purchase_id IS NULL), 0)"))
        uow.commit()


def expiry_seconds(dataset: Dataset) -> tuple[float, int]:
    """Seconds the expiry job takes, and the lots it expired."""
    start = time.perf_counter()
    report = expire_points(dataset.ctx)
    return time.perf_counter() - start, report.points // 10


def purchase_history(dataset: Dataset, count: int, *, days: int = 730) -> None:
    """``count`` past purchases over ``days``, with their earn entries, for the analytics
    report to read (set-based inserts through the driver: the set-up, not the figure)."""
    rng = random.Random(5)
    members = dataset.members
    now = datetime.now(UTC)
    sqlite = dataset.settings.database_url.startswith("sqlite")
    mark = "?" if sqlite else "%s"
    json_mark = "?" if sqlite else "%s::jsonb"

    def stamp(value: datetime) -> object:
        return value.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else value

    purchase_sql = (
        "INSERT INTO purchases (id, program_id, member_id, source, external_id, occurred_at, "
        "recorded_at, channel, store, currency, total, tax, discount, shipping, earn_base, "
        f"points_earned, lines, promo_codes) VALUES ({', '.join([mark] * 16)}, {json_mark}, "
        f"{json_mark})")
    entry_sql = (
        "INSERT INTO ledger_entries (program_id, member_id, kind, points, available_delta, "
        "pending_delta, occurred_at, recorded_at, reason, purchase_id) VALUES "
        f"({mark}, {mark}, 'earn', {mark}, {mark}, 0, {mark}, {mark}, 'history', {mark})")
    lines = '[{"sku": "TEE-BASIC", "quantity": 1}]'
    with dataset.ctx.uow() as uow:
        connection = uow.session.connection()
        step = 50_000
        for first in range(0, count, step):
            purchases, entries = [], []
            for n in range(first, min(first + step, count)):
                # a skewed choice of member: a few buy often, most rarely
                member = members[int(len(members) * rng.random() ** 2)]
                at = stamp(now - timedelta(seconds=rng.randrange(days * 86_400)))
                total = rng.randrange(1_000, 30_000)
                points = total // 120
                purchase_id = f"pur_hist{n:012d}"
                purchases.append((purchase_id, PROGRAM, member, "history", f"h-{n}", at, at,
                                  rng.choice(("pos", "pos", "web", "app")), "paris-opera", "EUR",
                                  total, total // 6, 0, 0, total - total // 6, points, lines,
                                  "[]"))
                entries.append((PROGRAM, member, points, points, at, at, purchase_id))
            connection.exec_driver_sql(purchase_sql, purchases)
            connection.exec_driver_sql(entry_sql, entries)
        uow.commit()


def report_seconds(dataset: Dataset) -> dict[str, float]:
    """Seconds of each analytics report run (``bench.analytics``)."""
    from bench.analytics import bench_report

    return {timing.label: timing.seconds for timing in bench_report(dataset.ctx, PROGRAM)}

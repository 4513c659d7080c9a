"""Jobs over large tables: expiring lots."""

from __future__ import annotations

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

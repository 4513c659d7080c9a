"""How long the analytics report takes on a program's data: the last month (without and with
each breakdown) and the last year.

``bench_report(ctx, program_id)`` is what ``make bench`` calls once the data is loaded;
``python -m bench.analytics DATABASE_URL PROGRAM`` runs it on any database.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta

from loyalty.domain.errors import InvalidRequest
from loyalty.services.analytics import ReportRequest, analytics_report
from loyalty.services.context import Context


@dataclass(frozen=True)
class ReportTiming:
    label: str
    seconds: float
    purchases: int  # in the period: what the report counted
    active_members: int


def bench_report(ctx: Context, program_id: str, *, today: date | None = None) -> list[ReportTiming]:
    """Time the report over the 31 days to ``today`` (default: the clock's day, UTC) without
    and with each breakdown, and over the 365 days to it, month by month. A breakdown by tier
    is skipped in a program without tiers."""
    last = today or ctx.clock.now().date()
    month, year = last - timedelta(days=30), last - timedelta(days=364)
    runs = [
        ("last 31 days", ReportRequest(program_id, month, last)),
        ("last 31 days, by channel", ReportRequest(program_id, month, last, by="channel")),
        ("last 31 days, by tier", ReportRequest(program_id, month, last, by="tier")),
        ("last 365 days, by month", ReportRequest(program_id, year, last, interval="month")),
    ]
    timings = []
    for label, request in runs:
        started = time.perf_counter()
        try:
            report = analytics_report(ctx, request)
        except InvalidRequest as error:
            if error.field == "by":
                continue  # no tiers
            raise
        timings.append(
            ReportTiming(
                label,
                time.perf_counter() - started,
                report.totals.purchases,
                report.totals.active_members,
            )
        )
    return timings


if __name__ == "__main__":
    from loyalty.config import Settings
    from loyalty.services.bootstrap import bootstrap

    url, program = sys.argv[1], sys.argv[2]
    for timing in bench_report(bootstrap(Settings(database_url=url)), program):
        print(
            f"{timing.label:<28} {timing.seconds:7.2f} s  ({timing.purchases:,} purchases, "
            f"{timing.active_members:,} active members)"
        )

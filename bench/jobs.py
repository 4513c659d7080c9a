"""Jobs over large tables: expiring lots, the tier review, the analytics report."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from bench.common import PROGRAM
from bench.data import SEED, Dataset
from loyalty.adapters.orm import MemberRow
from loyalty.rules.definition import Tiers
from loyalty.services.demo_data import enroll_members_bulk
from loyalty.services.jobs import expire_points
from loyalty.services.programs import CreateProgram, create_program
from loyalty.services.tiers import TierReview, review_tiers

TIERED = "tiered"  # the program of the tier review: fashion has no ladder
LADDER: dict[str, Any] = {
    "measure": "spend",
    # rolling windows are reviewed every month: the job has a period to review on any day
    "window": {"type": "rolling", "months": 12},
    "downgrade": {"policy": "period_end", "grace_days": 30},
    "levels": [
        {"id": "member", "name": "Member", "threshold": "0"},
        {"id": "silver", "name": "Silver", "threshold": "300.00", "multiplier": "1.25"},
        {"id": "gold", "name": "Gold", "threshold": "1000.00", "multiplier": "1.5"},
        {"id": "platinum", "name": "Platinum", "threshold": "3000.00", "multiplier": "2"},
    ],
}


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


@dataclass(frozen=True)
class TieredMembers:
    """The tiered program's members and the tier rows they hold before each review."""

    members: int
    tier_rows: list[tuple[Any, ...]]  # the member_tiers rows, ready for the driver


def tiered_members(dataset: Dataset, count: int, *, seed: int = 9) -> TieredMembers:
    """A second program, ``TIERED``, with a rolling 12-month spend ladder (reviewed monthly,
    ``period_end`` drops after 30 days of grace), and ``count`` members enrolled in it.

    Each member gets qualifying activity over the last 14 months (none for about a third of
    them; the rest a skewed yearly spend over 1 to 6 purchases) and, most of those with a
    history, the tier they held before the period that ended at the start of this month,
    reviewed up to the month before; some have a drop whose grace is over. The review then
    has each kind of work: members at the lowest level with nothing to write, upgrades (spend
    the tier row does not show yet), kept tiers, drops scheduled, drops applied or cancelled.

    Only the qualifying activity is written, not the purchases and ledger entries behind it:
    the review reads nothing else, and earn entries without their balances would break the
    ledger's invariants. Set-based inserts through the driver: the set-up, not the figure."""
    ladder = Tiers.model_validate(LADDER).ladder("EUR")
    program = create_program(dataset.ctx, CreateProgram(
        TIERED, "Tiered shop", "EUR", "Europe/Paris", settings={}, tiers=LADDER))
    enroll_members_bulk(dataset.ctx, TIERED, count, SEED)
    tz = program.tz
    now = datetime.now(UTC)
    this_period = ladder.period_bounds(now, now, tz)[0]  # rolling windows: enrolment unused
    last_period = ladder.period_bounds(this_period - timedelta(days=1), now, tz)[0]
    since = this_period - timedelta(days=425)  # 14 months of history
    sqlite = dataset.settings.database_url.startswith("sqlite")
    mark = "?" if sqlite else "%s"
    stamp = _stamp(sqlite)
    rng = random.Random(seed)
    activity, tier_rows = [], []
    with dataset.ctx.uow() as uow:
        connection = uow.session.connection()
        enrolled = uow.session.execute(select(MemberRow.id, MemberRow.enrolled_at)
                                       .where(MemberRow.program_id == TIERED)
                                       .order_by(MemberRow.id)).all()
        for member_id, enrolled_at in enrolled:
            yearly = int(600_000 * rng.random() ** 3)  # minor units: most spend little
            if rng.random() < 0.35:
                yearly = 0
            first = max(enrolled_at, since)
            purchases = 1 + int(6 * rng.random() ** 2)
            for _ in range(purchases if yearly else 0):
                at = first + (now - first) * rng.random()
                spend = yearly // purchases
                activity.append((TIERED, member_id, stamp(at), spend, spend // 100))
            held = ladder.reached(int(yearly * rng.uniform(0.4, 1.6))) if yearly else None
            if held is None or enrolled_at >= last_period or (held.rank == 0
                                                              and rng.random() < 0.8):
                continue  # no tier row yet: the lowest level, as ``lock`` would create it
            achieved = enrolled_at + (last_period - enrolled_at) * rng.random()
            drop_to = drop_at = None
            if held.rank > ladder.reached(yearly).rank and rng.random() < 0.5:
                # the last review found the member short and scheduled a drop, now due
                drop_to = ladder.levels[held.rank - 1].id
                drop_at = stamp(now - timedelta(days=rng.randrange(1, 5)))
                if rng.random() < 0.25:  # and the member has requalified since: no drop
                    at = this_period + (now - this_period) * rng.random()
                    activity.append((TIERED, member_id, stamp(at), held.threshold,
                                     held.threshold // 100))
            tier_rows.append((member_id, TIERED, held.id, stamp(achieved), drop_to, drop_at,
                              stamp(last_period), stamp(achieved)))
        sql = (f"INSERT INTO qualifying_activity (program_id, member_id, occurred_at, spend, "
               f"points, purchases, source) VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, 1, "
               f"'purchase')")
        step = 50_000
        for start in range(0, len(activity), step):
            connection.exec_driver_sql(sql, activity[start:start + step])
        uow.commit()
    return TieredMembers(len(enrolled), tier_rows)


def reset_tiers(dataset: Dataset, tiered: TieredMembers) -> None:
    """The tiered program's tier rows as ``tiered_members`` left them: the review is
    idempotent (each period reviewed once per member), so each repeat starts again from the
    same rows and makes the same moves (set-based: the set-up, not the figure). The tier
    history (append-only, by trigger) and the outbox keep the moves of earlier repeats: the
    review only appends to them, and a few more rows there do not change its work."""
    sqlite = dataset.settings.database_url.startswith("sqlite")
    mark = "?" if sqlite else "%s"
    with dataset.ctx.uow() as uow:
        connection = uow.session.connection()
        connection.exec_driver_sql(f"DELETE FROM member_tiers WHERE program_id = {mark}",
                                   (TIERED,))
        connection.exec_driver_sql(
            "INSERT INTO member_tiers (member_id, program_id, tier, achieved_at, drop_to, "
            f"drop_at, reviewed_through, updated_at) VALUES ({', '.join([mark] * 8)})",
            tiered.tier_rows)
        uow.commit()


def review_seconds(dataset: Dataset) -> tuple[float, TierReview]:
    """Seconds the tier review job takes (``loyalty jobs tiers``), and what it did."""
    start = time.perf_counter()
    review = review_tiers(dataset.ctx, batch_size=200)
    return time.perf_counter() - start, review


def _stamp(sqlite: bool) -> Callable[[datetime], object]:
    """How the driver takes an instant: SQLite stores naive UTC text."""

    def stamp(value: datetime) -> object:
        return value.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else value

    return stamp

"""Points are money: concurrent writes never overdraw and never earn twice.

Threads hit one SQLite file (serialised by BEGIN IMMEDIATE) or a PostgreSQL connection pool
(serialised by the member's row lock).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from sqlalchemy import func, select, text

from loyalty.adapters.db import make_engine
from loyalty.adapters.orm import PurchaseRow
from loyalty.config import Settings
from loyalty.domain.errors import InsufficientPoints
from loyalty.services import purchases
from loyalty.services.bootstrap import bootstrap
from loyalty.services.points import DebitPoints, debit_points, get_balance
from loyalty.services.purchases import record_purchase
from loyalty.services.verification import verify_ledger
from tests.builders import a_member, a_program, a_purchase, earn

THREADS = 64


def run_together(count: int, action):
    """Run ``action(i)`` in ``count`` threads released at the same instant; return outcomes."""
    barrier = Barrier(count)

    def attempt(index: int) -> object:
        barrier.wait()
        try:
            return action(index)
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(attempt, range(count)))


def test_64_concurrent_debits_never_overdraw(ctx, settings):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 1000)
    cost = 70  # floor(1000 / 70) = 14 debits fit

    outcomes = run_together(
        THREADS, lambda i: debit_points(ctx, DebitPoints("shop", ada.id, cost, f"D-{i}"))
    )

    succeeded = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, InsufficientPoints)]
    assert len(succeeded) == 1000 // cost
    assert len(refused) == THREADS - len(succeeded), [
        o for o in outcomes if isinstance(o, Exception)
    ][:3]
    assert get_balance(ctx, "shop", ada.id).available == 1000 - cost * len(succeeded)
    assert verify_ledger(ctx).ok


def test_the_same_purchase_posted_concurrently_earns_once(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    purchase = a_purchase(ada, "25.00", external_id="DUP-1")

    outcomes = run_together(16, lambda i: record_purchase(ctx, purchase))

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes[:3]
    assert sum(1 for o in outcomes if not o.replayed) == 1
    assert len({o.result.purchase_id for o in outcomes}) == 1
    assert get_balance(ctx, "shop", ada.id).available == 25
    assert verify_ledger(ctx).ok


def test_the_same_plain_purchase_posted_concurrently_earns_once(ctx, monkeypatch):
    """The plain lane reads, then writes: a concurrent twin that committed in between makes
    its writes fail on the unique key, and the general use case replays the twin's answer."""
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 10, external_id="FIRST")  # compiles the program: later postings are plain
    lanes: list[str] = []
    real = purchases.post_plain

    def plain_lane(uow, command, *checked):
        outcome = real(uow, command, *checked)
        lanes.append("plain" if outcome is not None else "general")
        return outcome

    monkeypatch.setattr(purchases, "post_plain", plain_lane)
    purchase = a_purchase(ada, "25.00", external_id="DUP-2")

    outcomes = run_together(16, lambda i: record_purchase(ctx, purchase))

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes[:3]
    assert sum(1 for o in outcomes if not o.replayed) == 1
    assert len({o.result.purchase_id for o in outcomes}) == 1
    assert "plain" in lanes
    assert get_balance(ctx, "shop", ada.id).available == 35
    assert verify_ledger(ctx).ok


def test_concurrent_plain_purchases_of_one_member_each_see_the_balance_before_them(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 10, external_id="FIRST")

    outcomes = run_together(
        16, lambda i: record_purchase(ctx, a_purchase(ada, "5.00", external_id=f"P-{i}")))

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes[:3]
    # Each answer's balance is the balance after it: 15, 20, ... 90, each exactly once.
    assert sorted(o.result.balance.available for o in outcomes) == list(range(15, 95, 5))
    assert get_balance(ctx, "shop", ada.id).available == 90
    assert verify_ledger(ctx).ok


def test_concurrent_purchases_and_debits_keep_the_ledger_exact(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)

    def act(i: int) -> object:
        if i % 2:
            return record_purchase(ctx, a_purchase(ada, "10.00", external_id=f"C-{i}"))
        return debit_points(ctx, DebitPoints("shop", ada.id, 15, f"D-{i}"))

    outcomes = run_together(32, act)
    unexpected = [
        o for o in outcomes if isinstance(o, Exception) and not isinstance(o, InsufficientPoints)
    ]
    assert not unexpected, unexpected[:3]
    debits = sum(1 for i, o in enumerate(outcomes) if i % 2 == 0 and not isinstance(o, Exception))
    assert get_balance(ctx, "shop", ada.id).available == 100 + 16 * 10 - 15 * debits
    assert verify_ledger(ctx).ok


def test_a_read_only_unit_of_work_reads_one_snapshot_while_others_write(ctx):
    """A report's figures agree with each other: purchases committed while a read-only unit of
    work runs are not half in it (PostgreSQL: REPEATABLE READ; SQLite: one read transaction)."""
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 10)
    count = select(func.count()).select_from(PurchaseRow)
    with ctx.uow(read_only=True) as uow:
        before = uow.session.scalar(count)
        earn(ctx, ada, 20)  # its own unit of work, committed
        during = uow.session.scalar(count)
    with ctx.uow(read_only=True) as uow:
        after = uow.session.scalar(count)
    assert (before, during, after) == (1, 1, 2)


@pytest.mark.postgresql
def test_a_writer_on_a_connection_a_reader_had_keeps_read_committed(postgres_url):
    """PostgreSQL only: SQLite has no isolation levels to put back."""
    one = make_engine(Settings(database_url=postgres_url, db_pool_size=1))
    single = bootstrap(Settings(database_url=postgres_url), engine=one)
    with single.uow(read_only=True) as uow:  # one connection: the writer gets the reader's
        assert uow.session.scalar(text("SHOW transaction_isolation")) == "repeatable read"
    with single.uow() as uow:
        assert uow.session.scalar(text("SHOW transaction_isolation")) == "read committed"
    one.dispose()

"""The scheduled jobs: expiry and pending release. Idempotent, and exact at their boundaries."""

from __future__ import annotations

from datetime import UTC, datetime

from freezegun import freeze_time

from loyalty.services.jobs import expire_points, release_pending
from loyalty.services.points import get_balance, ledger_history
from loyalty.services.verification import verify_ledger
from tests.builders import a_member, a_program, debit, earn


def expiring(**overrides: object) -> dict[str, object]:
    policy: dict[str, object] = {
        "mode": "after",
        "period": 12,
        "unit": "months",
        "rounding": "end_of_month",
    }
    policy.update(overrides)
    return {"expiry": policy}


def test_the_expiry_job_expires_what_is_left_of_a_lot_past_its_expiry(ctx):
    a_program(ctx, **expiring())
    ada = a_member(ctx)
    with freeze_time("2025-01-10"):
        earn(ctx, ada, 50)
    with freeze_time("2025-06-01"):
        debit(ctx, ada, 20)
    with freeze_time("2026-02-01"):
        report = expire_points(ctx)
    assert (report.members, report.points, report.entries) == (1, 30, 1)
    balance = get_balance(ctx, "shop", ada.id)
    assert (balance.available, balance.lifetime_expired) == (0, 30)
    entry = ledger_history(ctx, "shop", ada.id, limit=1).entries[0]
    assert entry.kind == "expire" and entry.points == -30
    assert entry.occurred_at == datetime(2026, 1, 31, 23, tzinfo=UTC)  # end of Jan 31, Paris
    assert "2026-01-31" in entry.reason
    assert verify_ledger(ctx).ok


def test_points_are_usable_through_their_expiry_date_by_default(ctx):
    a_program(ctx, **expiring())
    ada = a_member(ctx)
    with freeze_time("2025-01-10"):
        earn(ctx, ada, 50)
    with freeze_time(datetime(2026, 1, 31, 22, 59, 59, tzinfo=UTC)):  # 23:59:59 in Paris
        assert expire_points(ctx).points == 0
    with freeze_time(datetime(2026, 1, 31, 23, 0, 0, tzinfo=UTC)):  # midnight in Paris
        assert expire_points(ctx).points == 50


def test_a_program_may_end_usability_at_the_start_of_the_expiry_date(ctx):
    a_program(ctx, **expiring(usable_through_expiry_date=False))
    ada = a_member(ctx)
    with freeze_time("2025-01-10"):
        earn(ctx, ada, 50)
    with freeze_time(datetime(2026, 1, 30, 22, 59, 59, tzinfo=UTC)):
        assert expire_points(ctx).points == 0
    with freeze_time(datetime(2026, 1, 30, 23, 0, 0, tzinfo=UTC)):  # Jan 31 begins in Paris
        assert expire_points(ctx).points == 50


def test_running_the_expiry_job_twice_changes_nothing_the_second_time(ctx):
    a_program(ctx, **expiring())
    ada, grace = a_member(ctx), a_member(ctx)
    with freeze_time("2025-01-10"):
        earn(ctx, ada, 50)
        earn(ctx, grace, 70)
    with freeze_time("2026-03-01"):
        first = expire_points(ctx, batch_size=1)
        second = expire_points(ctx)
    assert (first.members, first.points) == (2, 120)
    assert (second.members, second.points, second.entries) == (0, 0, 0)
    assert verify_ledger(ctx).ok


def test_lots_expiring_at_different_instants_get_one_entry_each(ctx):
    a_program(ctx, **expiring())
    ada = a_member(ctx)
    with freeze_time("2025-01-10"):
        earn(ctx, ada, 10)
    with freeze_time("2025-02-10"):
        earn(ctx, ada, 20)
    with freeze_time("2025-02-20"):
        earn(ctx, ada, 5)  # same expiry instant as the lot of 2025-02-10
    with freeze_time("2026-04-01"):
        report = expire_points(ctx)
    assert (report.points, report.entries) == (35, 2)
    kinds = [(e.kind, e.points) for e in ledger_history(ctx, "shop", ada.id, limit=2).entries]
    assert kinds == [("expire", -25), ("expire", -10)]


def test_never_expiring_points_are_left_alone(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    with freeze_time("2015-01-10"):
        earn(ctx, ada, 10)
    assert expire_points(ctx).points == 0
    assert get_balance(ctx, "shop", ada.id).available == 10


def test_the_release_job_makes_pending_points_available_when_the_window_closes(ctx):
    a_program(ctx, pending={"days": 14})
    ada = a_member(ctx)
    with freeze_time("2026-03-01 12:00:00"):
        earn(ctx, ada, 40)
    with freeze_time("2026-03-15 11:59:59"):
        assert release_pending(ctx).points == 0
    with freeze_time("2026-03-15 12:00:00"):
        report = release_pending(ctx)
        again = release_pending(ctx)
    assert (report.members, report.points, report.entries) == (1, 40, 1)
    assert again.points == 0
    balance = get_balance(ctx, "shop", ada.id)
    assert (balance.available, balance.pending) == (40, 0)
    entry = ledger_history(ctx, "shop", ada.id, limit=1).entries[0]
    assert (entry.kind, entry.available_delta, entry.pending_delta) == ("release", 40, -40)
    assert entry.purchase_id is not None
    assert verify_ledger(ctx).ok


def test_pending_points_cannot_be_spent_before_release(ctx):
    import pytest

    from loyalty.domain.errors import InsufficientPoints

    a_program(ctx, pending={"days": 14})
    ada = a_member(ctx)
    earn(ctx, ada, 40)
    with pytest.raises(InsufficientPoints) as raised:
        debit(ctx, ada, 1)
    assert raised.value.extensions["available"] == 0

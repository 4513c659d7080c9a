"""Expiry after months of inactivity: every point goes when the member does nothing for too
long, and any earn or spend keeps them all alive. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from loyalty.domain.errors import InsufficientPoints
from loyalty.services.jobs import expire_points
from loyalty.services.points import get_balance, ledger_history
from loyalty.services.verification import verify_ledger
from tests.builders import a_member, a_program, debit, earn

# All points expire at the end of the month, 6 months after the member's last earn or spend.
INACTIVITY = {"expiry": {"mode": "inactivity", "period": 6, "unit": "months",
                         "rounding": "end_of_month"}}


def test_points_expire_after_six_months_without_activity(ctx):
    a_program(ctx, **INACTIVITY)
    ada = a_member(ctx)
    with freeze_time("2026-01-10 12:00:00"):
        earn(ctx, ada, 40)
    with freeze_time("2026-02-20 12:00:00"):
        earn(ctx, ada, 60)  # last activity: 20 February -> usable through 31 August
    with freeze_time(datetime(2026, 8, 31, 21, 59, tzinfo=UTC)):  # 23:59 in Paris
        assert expire_points(ctx).points == 0
        assert get_balance(ctx, "shop", ada.id).available == 100
    with freeze_time(datetime(2026, 8, 31, 22, 0, tzinfo=UTC)):  # midnight in Paris
        report = expire_points(ctx)
        again = expire_points(ctx)
    assert (report.members, report.points) == (1, 100)
    assert again.points == 0
    entry = ledger_history(ctx, "shop", ada.id, limit=1).entries[0]
    assert entry.kind == "expire" and entry.points == -100
    assert "no activity for 6 months" in entry.reason and "2026-08-31" in entry.reason
    assert get_balance(ctx, "shop", ada.id).lifetime_expired == 100
    assert verify_ledger(ctx).ok


def test_a_spend_keeps_every_point_alive(ctx):
    a_program(ctx, **INACTIVITY)
    ada = a_member(ctx)
    with freeze_time("2026-01-10 12:00:00"):
        earn(ctx, ada, 100)
    with freeze_time("2026-06-15 12:00:00"):
        debit(ctx, ada, 10)  # last activity: 15 June -> usable through 31 December
    with freeze_time("2026-09-01 12:00:00"):
        assert expire_points(ctx).points == 0
        balance = get_balance(ctx, "shop", ada.id)
    assert balance.available == 90
    assert balance.next_expiries[0].last_usable_day.isoformat() == "2026-12-31"


def test_an_inactive_member_cannot_spend_points_that_expired_before_the_job_ran(ctx):
    a_program(ctx, **INACTIVITY)
    ada = a_member(ctx)
    with freeze_time("2026-01-10 12:00:00"):
        earn(ctx, ada, 100)
    with freeze_time("2026-08-05 12:00:00"):
        assert get_balance(ctx, "shop", ada.id).available == 0
        with pytest.raises(InsufficientPoints):
            debit(ctx, ada, 10)
    # A refused debit writes nothing at all; the expiry job writes the points off.
    assert [e.kind for e in ledger_history(ctx, "shop", ada.id, limit=5).entries] == ["earn"]
    with freeze_time("2026-08-05 12:00:00"):
        assert expire_points(ctx).points == 100
    assert verify_ledger(ctx).ok


def test_only_members_inactive_for_long_enough_lose_their_points(ctx):
    a_program(ctx, **INACTIVITY)
    ada, grace = a_member(ctx), a_member(ctx)
    with freeze_time("2026-01-10 12:00:00"):
        earn(ctx, ada, 30)
        earn(ctx, grace, 50)
    with freeze_time("2026-05-10 12:00:00"):
        earn(ctx, grace, 5)
    with freeze_time("2026-08-02 12:00:00"):
        report = expire_points(ctx)
    assert (report.members, report.points) == (1, 30)
    assert get_balance(ctx, "shop", grace.id).available == 55

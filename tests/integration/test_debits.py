"""Debiting points: FEFO order, never overdrawing, idempotency, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from loyalty.domain.errors import IdempotencyKeyReused, InsufficientPoints, MemberNotActive
from loyalty.services.points import DebitPoints, debit_points, get_balance, ledger_history
from loyalty.services.verification import verify_ledger
from tests.builders import a_member, a_program, debit, earn

EXPIRING_YEARLY = {
    "expiry": {"mode": "after", "period": 12, "unit": "months", "rounding": "end_of_month"}
}


def test_a_debit_takes_points_and_lowers_the_balance(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    result = debit(ctx, ada, 30)
    assert result.available == 70
    assert get_balance(ctx, "shop", ada.id).lifetime_redeemed == 30
    assert ledger_history(ctx, "shop", ada.id, limit=1).entries[0].points == -30
    assert verify_ledger(ctx).ok


def test_a_debit_spends_the_soonest_expiring_points_first(ctx):
    a_program(ctx, **EXPIRING_YEARLY)
    ada = a_member(ctx)
    with freeze_time("2026-02-10"):
        earn(ctx, ada, 40)  # expires end of February 2027
    with freeze_time("2026-01-10"):
        earn(ctx, ada, 50)  # expires end of January 2027
    with freeze_time("2026-03-01"):
        result = debit(ctx, ada, 60)
    assert [(t.points, t.expires_at.month) for t in result.taken_from] == [(50, 1), (10, 2)]
    assert verify_ledger(ctx).ok


def test_a_debit_larger_than_the_balance_is_refused_with_the_figures(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 10)
    with pytest.raises(InsufficientPoints) as raised:
        debit(ctx, ada, 11)
    assert raised.value.extensions == {"available": 10, "required": 11}
    assert get_balance(ctx, "shop", ada.id).available == 10
    assert len(ledger_history(ctx, "shop", ada.id, limit=10).entries) == 1


def test_points_past_their_expiry_cannot_be_spent_even_before_the_expiry_job(ctx):
    a_program(ctx, **EXPIRING_YEARLY)
    ada = a_member(ctx)
    with freeze_time("2025-01-10"):
        earn(ctx, ada, 50)  # usable through 31 January 2026
    with freeze_time("2026-02-02"):
        assert get_balance(ctx, "shop", ada.id).available == 0
        with pytest.raises(InsufficientPoints):
            debit(ctx, ada, 10)
    assert verify_ledger(ctx).ok


def test_a_debit_first_writes_off_points_that_have_expired(ctx):
    a_program(ctx, **EXPIRING_YEARLY)
    ada = a_member(ctx)
    with freeze_time("2025-01-10"):
        earn(ctx, ada, 50)
    with freeze_time("2026-01-10"):
        earn(ctx, ada, 20)
    with freeze_time("2026-02-02"):
        result = debit(ctx, ada, 5)
    assert result.available == 15
    kinds = [e.kind for e in ledger_history(ctx, "shop", ada.id, limit=10).entries]
    assert kinds == ["redeem", "expire", "earn", "earn"]
    assert verify_ledger(ctx).ok


def test_a_retried_debit_replays_and_takes_nothing_more(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    command = DebitPoints("shop", ada.id, 30, "REDEEM-1")
    first = debit_points(ctx, command)
    again = debit_points(ctx, command)
    assert again.replayed and again.result == first.result
    assert get_balance(ctx, "shop", ada.id).available == 70


def test_a_debit_id_reused_for_another_amount_is_refused(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    debit_points(ctx, DebitPoints("shop", ada.id, 30, "REDEEM-1"))
    with pytest.raises(IdempotencyKeyReused):
        debit_points(ctx, DebitPoints("shop", ada.id, 31, "REDEEM-1"))
    assert get_balance(ctx, "shop", ada.id).available == 70


def test_a_frozen_member_cannot_spend(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    with ctx.uow() as uow:
        from sqlalchemy import update

        from loyalty.adapters.orm import MemberRow

        uow.session.execute(update(MemberRow).values(status="frozen"))
        uow.commit()
    with pytest.raises(MemberNotActive):
        debit(ctx, ada, 10)


def test_balance_as_of_now_counts_lots_past_expiry_as_expired(ctx):
    a_program(ctx, **EXPIRING_YEARLY)
    ada = a_member(ctx)
    with freeze_time("2025-01-10"):
        earn(ctx, ada, 50)
    with freeze_time(datetime(2026, 1, 31, 22, 59, tzinfo=UTC)):
        assert get_balance(ctx, "shop", ada.id).available == 50  # last minute of Jan 31, Paris
    with freeze_time(datetime(2026, 1, 31, 23, 0, tzinfo=UTC)):
        balance = get_balance(ctx, "shop", ada.id)
        assert (balance.available, balance.lifetime_expired) == (0, 50)

"""Recording purchases, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from loyalty.adapters.orm import IdempotencyRecordRow, LedgerEntryRow, LotRow, PurchaseRow
from loyalty.domain.basket import PurchaseLine
from loyalty.domain.errors import (
    CurrencyMismatch,
    IdempotencyKeyReused,
    InvalidRequest,
    MemberNotFound,
)
from loyalty.services.idempotency import IdempotencyKey
from loyalty.services.points import get_balance, ledger_history
from loyalty.services.purchases import DeclaredTotals, record_purchase
from loyalty.services.verification import verify_ledger
from tests.builders import a_member, a_program, a_purchase


def count(ctx, row) -> int:
    with ctx.uow(read_only=True) as uow:
        return uow.session.scalar(select(func.count()).select_from(row))


def test_a_purchase_earns_points_on_its_net_amount_and_explains_them(ctx):
    a_program(ctx)
    ada = a_member(ctx, "card:1234")
    lines = (PurchaseLine("SHOE", 2, 2999, discount=500, tax=900),)  # 54.98 paid, 9.00 of tax
    outcome = record_purchase(ctx, a_purchase(ada, lines=lines))
    assert outcome.result.points_earned == 45  # floor(45.98)
    assert outcome.result.earn_base == "45.98"
    assert outcome.result.total == "54.98"
    assert outcome.result.balance.available == 45
    assert "on 45.98 EUR (earn base), rounded floor = 45" in outcome.result.explanation[-1]["text"]
    assert verify_ledger(ctx).ok


def test_a_purchase_can_name_its_member_by_identity(ctx):
    a_program(ctx)
    ada = a_member(ctx, "email:ada@example.com")
    result = record_purchase(ctx, a_purchase("email: Ada@Example.com ", "12.00")).result
    assert result.member_id == ada.id
    assert get_balance(ctx, "shop", ada.id).available == 12


def test_posting_the_same_purchase_again_replays_the_answer_and_writes_nothing(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    purchase = a_purchase(ada, "20.00", external_id="TILL-7")
    first = record_purchase(ctx, purchase)
    again = record_purchase(ctx, purchase)
    assert not first.replayed and again.replayed
    assert again.result == first.result
    assert get_balance(ctx, "shop", ada.id).available == 20
    assert count(ctx, PurchaseRow) == 1 and count(ctx, LedgerEntryRow) == 1


def test_the_same_external_id_with_another_payload_is_refused_and_writes_nothing(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    record_purchase(ctx, a_purchase(ada, "20.00", external_id="TILL-7"))
    with pytest.raises(IdempotencyKeyReused):
        record_purchase(ctx, a_purchase(ada, "99.00", external_id="TILL-7"))
    assert count(ctx, PurchaseRow) == 1
    assert get_balance(ctx, "shop", ada.id).available == 20


def test_the_same_external_id_from_another_source_is_another_purchase(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    record_purchase(ctx, a_purchase(ada, "20.00", external_id="1", source="store-1"))
    record_purchase(ctx, a_purchase(ada, "20.00", external_id="1", source="web"))
    assert get_balance(ctx, "shop", ada.id).available == 40


def test_an_idempotency_key_reused_for_another_purchase_is_refused(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    record_purchase(ctx, a_purchase(ada, request_key=IdempotencyKey("k-1", "body-a")))
    with pytest.raises(IdempotencyKeyReused):
        record_purchase(ctx, a_purchase(ada, request_key=IdempotencyKey("k-1", "body-b")))
    assert count(ctx, PurchaseRow) == 1


def test_a_purchase_in_another_currency_is_refused_and_writes_nothing(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    with pytest.raises(CurrencyMismatch) as raised:
        record_purchase(ctx, a_purchase(ada, "10.00", currency="USD"))
    assert raised.value.field == "currency"
    assert count(ctx, PurchaseRow) == 0 and count(ctx, IdempotencyRecordRow) == 0


def test_declared_totals_that_do_not_match_the_lines_are_refused(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    with pytest.raises(InvalidRequest) as raised:
        record_purchase(ctx, a_purchase(ada, "10.00", totals=DeclaredTotals(total=1100)))
    assert raised.value.field == "totals.total"
    assert count(ctx, PurchaseRow) == 0


def test_a_purchase_for_an_unknown_identity_is_refused(ctx):
    a_program(ctx)
    with pytest.raises(MemberNotFound):
        record_purchase(ctx, a_purchase("card:99999999"))
    assert count(ctx, PurchaseRow) == 0


def test_a_purchase_dated_in_the_future_is_refused(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    with pytest.raises(InvalidRequest) as raised:
        record_purchase(ctx, a_purchase(ada, occurred_at=datetime.now(UTC) + timedelta(hours=1)))
    assert raised.value.field == "occurred_at"


def test_a_purchase_too_small_to_earn_is_recorded_without_a_ledger_entry(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    result = record_purchase(ctx, a_purchase(ada, "0.99")).result
    assert result.points_earned == 0 and result.expires_at is None
    assert count(ctx, PurchaseRow) == 1 and count(ctx, LedgerEntryRow) == 0
    assert verify_ledger(ctx).ok


@freeze_time("2026-03-10 12:00:00")
def test_with_a_return_window_points_wait_as_pending_until_it_closes(ctx):
    a_program(ctx, pending={"days": 30})
    ada = a_member(ctx)
    result = record_purchase(ctx, a_purchase(ada, "25.00")).result
    assert (result.points_pending, result.points_available) == (25, 0)
    assert result.available_at == datetime(2026, 4, 9, 12, tzinfo=UTC)
    balance = get_balance(ctx, "shop", ada.id)
    assert (balance.available, balance.pending) == (0, 25)
    assert balance.pending_releases[0].available_at == result.available_at
    assert ledger_history(ctx, "shop", ada.id, limit=10).entries[0].kind == "pending_earn"


@freeze_time("2026-03-10 12:00:00")
def test_a_late_posted_purchase_whose_return_window_closed_earns_available_points(ctx):
    a_program(ctx, pending={"days": 30})
    ada = a_member(ctx)
    old = datetime(2026, 1, 2, 12, tzinfo=UTC)
    result = record_purchase(ctx, a_purchase(ada, "25.00", occurred_at=old)).result
    assert (result.points_available, result.points_pending) == (25, 0)


@freeze_time("2026-01-15 10:00:00")
def test_earned_points_carry_the_programs_expiry(ctx):
    a_program(
        ctx, expiry={"mode": "after", "period": 12, "unit": "months", "rounding": "end_of_month"}
    )
    ada = a_member(ctx)
    result = record_purchase(ctx, a_purchase(ada, "10.00")).result
    # usable through 31 January 2027 in Paris: expires at its end, 23:00 UTC.
    assert result.expires_at == datetime(2027, 1, 31, 23, tzinfo=UTC)
    expiry = get_balance(ctx, "shop", ada.id).next_expiries[0]
    assert (expiry.points, expiry.last_usable_day.isoformat()) == (10, "2027-01-31")


def test_the_ledger_pages_newest_first_with_a_cursor(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    for index in range(5):
        record_purchase(ctx, a_purchase(ada, f"{index + 1}.00", external_id=f"P{index}"))
    first = ledger_history(ctx, "shop", ada.id, limit=2)
    second = ledger_history(ctx, "shop", ada.id, limit=2, cursor=first.next_cursor)
    third = ledger_history(ctx, "shop", ada.id, limit=2, cursor=second.next_cursor)
    points = [e.points for page in (first, second, third) for e in page.entries]
    assert points == [5, 4, 3, 2, 1]
    assert third.next_cursor is None
    assert all(e.reason.startswith("earned ") and " on order P" in e.reason
               for p in (first, second) for e in p.entries)


def test_a_lot_row_is_written_per_earning_purchase(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    record_purchase(ctx, a_purchase(ada, "3.00"))
    record_purchase(ctx, replace(a_purchase(ada, "4.00")))
    with ctx.uow(read_only=True) as uow:
        lots = uow.session.scalars(select(LotRow.remaining).order_by(LotRow.id)).all()
    assert lots == [3, 4]

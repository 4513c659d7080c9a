"""Returns and cancellations against a real database: what a purchase earned is reversed on
what remains, never more; spent points follow the negative-balance policy; burned points come
back in proportion; a tier reached on what was returned is taken back.

Unless a test says otherwise the program "shop" (EUR, Europe/Paris) earns 1 point per whole
euro (floor), and its negative-balance policy is ``allow``.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest
from freezegun import freeze_time

from loyalty.domain.basket import PurchaseLine
from loyalty.domain.errors import (
    Conflict,
    IdempotencyKeyReused,
    InvalidRequest,
    PurchaseNotFound,
    ReturnRefused,
)
from loyalty.domain.members import Member
from loyalty.domain.money import Money
from loyalty.services.jobs import release_pending
from loyalty.services.points import get_balance, ledger_history
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from loyalty.services.purchases import PurchaseRecorded, record_purchase
from loyalty.services.returns import RecordReturn, ReturnRecorded, record_return
from loyalty.services.tiers import tier_view
from loyalty.services.verification import verify_ledger
from tests.api.support import table_counts
from tests.builders import a_member, a_program, a_purchase, debit

PENDING_14_DAYS = {"pending": {"days": 14}}


def line(sku: str, price: str, quantity: int = 1) -> PurchaseLine:
    return PurchaseLine(sku, quantity, Money.parse(price, "EUR").minor)


def bought(ctx, member: Member, *lines: PurchaseLine, external_id: str | None = None,
           **fields: Any) -> PurchaseRecorded:
    """A purchase of ``lines`` (one line SKU-1 of 100.00 if none are given)."""
    return record_purchase(ctx, a_purchase(
        member, external_id=external_id, lines=lines or (line("SKU-1", "100.00"),),
        **fields)).result


def returned(ctx, purchase: PurchaseRecorded, external_id: str, *,
             lines: dict[str, int] | None = None, amount: str | None = None) -> ReturnRecorded:
    minor = Money.parse(amount, "EUR").minor if amount is not None else None
    return record_return(ctx, RecordReturn("shop", purchase.purchase_id, external_id,
                                           lines=lines, amount=minor)).result


def cancelled(ctx, purchase: PurchaseRecorded):
    return record_return(ctx, RecordReturn("shop", purchase.purchase_id,
                                           f"cancel-{purchase.purchase_id}", everything=True))


def available(ctx, member: Member) -> int:
    return get_balance(ctx, "shop", member.id).available


def debt(ctx, member: Member) -> int:
    with ctx.uow(read_only=True) as uow:
        return uow.ledger.debt_of(member.id)


def reasons(ctx, member: Member, count: int) -> list[str]:
    """The member's last ``count`` ledger reasons, newest first."""
    return [e.reason for e in ledger_history(ctx, "shop", member.id, limit=count).entries]


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


# -- the ledger tells the story -------------------------------------------------------------


def test_the_ledger_reads_earned_then_reversed_by_the_return(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    order = bought(ctx, ada, line("SHIRT", "60.00"), line("SHOES", "60.00"), external_id="1001")

    back = returned(ctx, order, "R-17", lines={"SHIRT": 1})

    assert (back.points_reversed, back.points_remaining, back.refunded) == (60, 60, "60.00")
    assert back.remaining_lines == {"SHOES": 1}
    assert reasons(ctx, ada, 2) == ["reversed 60: return R-17 of order 1001",
                                    "earned 120 on order 1001"]
    entry = ledger_history(ctx, "shop", ada.id, limit=1).entries[0]
    assert (entry.kind.value, entry.points, entry.purchase_id) == ("reverse", -60,
                                                                   order.purchase_id)
    assert available(ctx, ada) == 60
    assert verify_ledger(ctx).ok


# -- negative-balance policies ------------------------------------------------------------------


def test_under_allow_a_return_of_spent_points_leaves_a_debt_that_later_earnings_pay_first(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    order = bought(ctx, ada, external_id="1001")  # 100 points
    debit(ctx, ada, 80)  # 20 left

    back = returned(ctx, order, "R-1", lines={"SKU-1": 1})

    # 100 to reverse: the 20 still there, and 80 owed
    assert (back.points_reversed, back.points_not_reversed) == (100, 0)
    assert (back.available, back.debt, back.points_remaining) == (-80, 80, 0)
    assert available(ctx, ada) == -80
    assert reasons(ctx, ada, 1) == [
        "reversed 100: return R-1 of order 1001 (80 already spent: owed, paid by the next "
        "earnings)"]
    assert verify_ledger(ctx).ok

    first = bought(ctx, ada, line("SKU-2", "50.00"), external_id="1002")
    assert (first.balance.available, debt(ctx, ada)) == (-30, 30)  # -80 + 50; 80 - 50 owed
    second = bought(ctx, ada, line("SKU-3", "40.00"), external_id="1003")
    assert (second.balance.available, debt(ctx, ada)) == (10, 0)  # -30 + 40; the debt is paid
    assert reasons(ctx, ada, 2) == [
        "earned 40 on order 1003; 30 of them paid the debt a return left",
        "earned 50 on order 1002; 50 of them paid the debt a return left"]
    assert verify_ledger(ctx).ok


def test_a_debt_is_paid_by_pending_points_when_the_release_job_makes_them_available(ctx):
    a_program(ctx, **PENDING_14_DAYS)
    with freeze_time("2026-03-01 10:00:00"):
        ada = a_member(ctx)
        order = bought(ctx, ada, external_id="1001")  # 100 pending until 15 March, 10:00
    with freeze_time("2026-03-16 10:00:00"):
        release_pending(ctx)
        debit(ctx, ada, 80)
        back = returned(ctx, order, "R-1", lines={"SKU-1": 1})
        assert (back.available, back.pending, back.debt) == (-80, 0, 80)
    with freeze_time("2026-03-17 10:00:00"):
        later = bought(ctx, ada, line("SKU-2", "50.00"))  # pending: it pays nothing yet
        assert (later.points_pending, debt(ctx, ada)) == (50, 80)
    with freeze_time("2026-04-01 10:00:00"):
        report = release_pending(ctx)

    assert report.points == 50
    balance = get_balance(ctx, "shop", ada.id)
    assert (balance.available, balance.pending, debt(ctx, ada)) == (-30, 0, 30)  # 80 - 50
    assert verify_ledger(ctx).ok


def test_under_clamp_what_was_already_spent_is_recorded_and_not_reversed(ctx):
    a_program(ctx, returns={"negative_balance": "clamp"})
    ada = a_member(ctx)
    order = bought(ctx, ada, external_id="1001")  # 100 points
    debit(ctx, ada, 80)  # 20 left

    back = returned(ctx, order, "R-1", lines={"SKU-1": 1})

    assert (back.points_reversed, back.points_not_reversed) == (20, 80)
    assert (back.available, back.debt, back.points_remaining) == (0, 0, 0)
    assert reasons(ctx, ada, 1) == [
        "reversed 20: return R-1 of order 1001 (80 already spent: not reversed)"]
    with ctx.uow(read_only=True) as uow:
        [row] = uow.returns.of_purchase(order.purchase_id)
        assert (row.points_reversed, row.points_not_reversed) == (20, 80)
    assert bought(ctx, ada, line("SKU-2", "50.00")).balance.available == 50  # nothing owed
    assert verify_ledger(ctx).ok


def test_under_refuse_a_return_of_spent_points_is_refused_and_nothing_is_written(ctx):
    a_program(ctx, returns={"negative_balance": "refuse"})
    ada = a_member(ctx)
    order = bought(ctx, ada, line("COAT", "80.00"), line("HAT", "20.00"))  # 100 points
    debit(ctx, ada, 80)  # 20 left
    counts = table_counts(ctx)

    with pytest.raises(Conflict) as refused:
        returned(ctx, order, "R-1", lines={"COAT": 1})  # 80 to reverse, 20 there

    assert "refuses such returns" in refused.value.detail
    assert table_counts(ctx) == counts
    assert available(ctx, ada) == 20
    # a return whose points are all still there goes through
    assert returned(ctx, order, "R-2", lines={"HAT": 1}).points_reversed == 20
    assert available(ctx, ada) == 0
    assert verify_ledger(ctx).ok


# -- partial returns ----------------------------------------------------------------------------


def test_three_partial_returns_reverse_exactly_what_the_purchase_earned(ctx):
    a_program(ctx, earn={"points_per_unit": "1.5"})
    ada = a_member(ctx)
    order = bought(ctx, ada, line("A", "10.99"), line("B", "10.99"), line("C", "10.99"))
    # 1.5 x 32.97 = 49.455 -> floor 49
    assert order.points_earned == 49

    first = returned(ctx, order, "R-1", lines={"A": 1})
    second = returned(ctx, order, "R-2", lines={"B": 1})
    third = returned(ctx, order, "R-3", lines={"C": 1})

    # recomputed on what remains: 1.5 x 21.98 = 32.97 -> 32; 1.5 x 10.99 = 16.485 -> 16; 0.
    # 49 - 32 = 17, 32 - 16 = 16, 16 - 0 = 16: 49 in all (three times floor(16.485) = 48
    # would leave a point behind)
    assert [r.points_reversed for r in (first, second, third)] == [17, 16, 16]
    assert [r.points_remaining for r in (first, second, third)] == [32, 16, 0]
    assert available(ctx, ada) == 0
    assert get_balance(ctx, "shop", ada.id).lifetime_earned == 49
    assert verify_ledger(ctx).ok


def test_a_return_by_amount_reverses_in_proportion_and_the_rest_is_returned_the_same_way(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    order = bought(ctx, ada, line("A", "60.00"), line("B", "40.00"))  # 100 points

    first = returned(ctx, order, "R-1", amount="30.00")
    # what remains is 70.00, in proportion over the lines: 42.00 + 28.00 = 70 points
    assert (first.refunded, first.points_reversed, first.points_remaining) == ("30.00", 30, 70)

    with pytest.raises(InvalidRequest) as mixed:
        returned(ctx, order, "R-2", lines={"A": 1})
    assert mixed.value.detail == "this purchase was returned by amount; return it the same way"
    with pytest.raises(ReturnRefused) as too_much:
        returned(ctx, order, "R-3", amount="70.01")
    assert too_much.value.detail == "70.01 cannot be refunded: 70.00 remain"

    last = returned(ctx, order, "R-4", amount="70.00")
    assert (last.points_reversed, last.points_remaining, last.remaining_lines) == (70, 0, {})
    assert available(ctx, ada) == 0
    assert verify_ledger(ctx).ok


def test_a_return_by_amount_records_exactly_the_amount_refunded(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    order = bought(ctx, ada, line("CUP", "33.33", quantity=3))  # 99.99: 99 points

    first = returned(ctx, order, "R-1", amount="10.00")
    rest = returned(ctx, order, "R-2", amount="89.99")

    # 10.00 refunded leaves 89.99 (89 points, 10 reversed); then the 89.99 left, all of it
    assert (first.refunded, first.points_reversed) == ("10.00", 10)
    assert (rest.refunded, rest.points_reversed, rest.points_remaining) == ("89.99", 89, 0)
    assert available(ctx, ada) == 0
    assert verify_ledger(ctx).ok


def test_returning_more_units_than_were_bought_is_refused_and_nothing_is_written(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    order = bought(ctx, ada, line("SOCKS", "10.00", quantity=2))  # 20 points
    counts = table_counts(ctx)

    with pytest.raises(ReturnRefused) as refused:
        returned(ctx, order, "R-1", lines={"SOCKS": 3})

    assert refused.value.detail == "3 unit(s) of SOCKS cannot be returned: 2 remain on this " \
                                   "purchase"
    assert (refused.value.field, refused.value.extensions) == (
        "lines", {"sku": "SOCKS", "remaining": 2})
    assert table_counts(ctx) == counts

    assert returned(ctx, order, "R-2", lines={"SOCKS": 1}).points_reversed == 10
    with pytest.raises(ReturnRefused) as again:
        returned(ctx, order, "R-3", lines={"SOCKS": 2})
    assert again.value.extensions == {"sku": "SOCKS", "remaining": 1}
    with pytest.raises(ReturnRefused) as unknown:
        returned(ctx, order, "R-4", lines={"HAT": 1})
    assert unknown.value.extensions == {"sku": "HAT", "remaining": 0}
    assert available(ctx, ada) == 10


def test_a_return_names_lines_or_an_amount_of_at_least_one_unit(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    order = bought(ctx, ada)

    for lines, amount in (({"SKU-1": 1}, 1000), (None, None), ({"SKU-1": 0}, None),
                          (None, 0)):
        with pytest.raises(InvalidRequest):
            record_return(ctx, RecordReturn("shop", order.purchase_id, "R-1", lines=lines,
                                            amount=amount))
    with pytest.raises(PurchaseNotFound):
        record_return(ctx, RecordReturn("shop", "pur_nothing", "R-1", lines={"SKU-1": 1}))
    assert available(ctx, ada) == 100


def test_a_return_posted_twice_is_recorded_once_and_its_id_cannot_be_reused(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    order = bought(ctx, ada, line("A", "10.00", quantity=4))  # 40 points
    command = RecordReturn("shop", order.purchase_id, "R-1", lines={"A": 1})
    first = record_return(ctx, command)
    counts = table_counts(ctx)

    again = record_return(ctx, command)
    with pytest.raises(IdempotencyKeyReused):
        returned(ctx, order, "R-1", lines={"A": 2})

    assert (first.replayed, again.replayed) == (False, True)
    assert again.result == first.result
    assert table_counts(ctx) == counts
    assert available(ctx, ada) == 30


# -- pending points -----------------------------------------------------------------------------


def test_a_return_reverses_the_purchase_pending_points_before_any_available_ones(ctx):
    a_program(ctx, **PENDING_14_DAYS)
    with freeze_time("2026-03-01 10:00:00"):
        ada = a_member(ctx)
        bought(ctx, ada, line("OLD", "50.00"))
    with freeze_time("2026-03-16 10:00:00"):
        release_pending(ctx)  # 50 available
        order = bought(ctx, ada, line("NEW", "50.00", quantity=2))  # 100 pending
    with freeze_time("2026-03-17 10:00:00"):
        first = returned(ctx, order, "R-1", lines={"NEW": 1})
        assert (first.points_reversed, first.available, first.pending) == (50, 50, 50)
        entry = ledger_history(ctx, "shop", ada.id, limit=1).entries[0]
        assert (entry.available_delta, entry.pending_delta) == (0, -50)
        second = returned(ctx, order, "R-2", lines={"NEW": 1})
        assert (second.points_reversed, second.available, second.pending) == (50, 50, 0)
    with freeze_time("2026-04-01 10:00:00"):
        report = release_pending(ctx)  # the returned purchase's lot has nothing to release

    assert report.points == 0
    balance = get_balance(ctx, "shop", ada.id)
    assert (balance.available, balance.pending) == (50, 0)
    assert verify_ledger(ctx).ok


# -- points paid at the till ------------------------------------------------------------------


def test_burned_points_come_back_in_proportion_and_add_up_to_what_was_burned(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    bought(ctx, ada, line("TV", "1000.00"))  # 1000 points
    order = bought(ctx, ada, line("A", "10.00"), line("B", "10.00"), line("C", "10.00"),
                   points_to_burn=1000)
    # 1000 points x 0.01 = 10.00 of the 30.00 paid with points; 20.00 earns 20
    assert (order.burn_value, order.points_earned, order.balance.available) == ("10.00", 20, 20)

    backs = [returned(ctx, order, f"R-{sku}", lines={sku: 1}) for sku in ("A", "B", "C")]

    # given back: floor(1000 x 10/30) = 333, floor(1000 x 20/30) - 333 = 333, 1000 - 666 = 334
    assert [r.points_given_back for r in backs] == [333, 333, 334]
    # what remains earns on its value less its share of the points paid:
    # 20.00 - floor(1000 x 2/3) c = 13.34 -> 13 (20 - 13 = 7); 10.00 - 3.33 = 6.67 -> 6 (7); 0 (6)
    assert [r.points_reversed for r in backs] == [7, 7, 6]
    assert [r.available for r in backs] == [20 - 7 + 333, 346 - 7 + 333, 672 - 6 + 334]
    balance = get_balance(ctx, "shop", ada.id)
    assert (balance.available, balance.lifetime_redeemed) == (1000, 0)
    assert reasons(ctx, ada, 1)[0].startswith("334 burned points given back: return R-C of order")
    assert verify_ledger(ctx).ok


def test_burned_points_stay_burned_when_the_program_does_not_give_them_back(ctx):
    a_program(ctx, returns={"give_back_burned_points": False})
    ada = a_member(ctx)
    bought(ctx, ada, line("TV", "1000.00"))
    order = bought(ctx, ada, line("A", "30.00"), points_to_burn=1000)  # earns on 20.00

    back = cancelled(ctx, order).result

    assert (back.points_reversed, back.points_given_back, back.available) == (20, 0, 0)
    assert verify_ledger(ctx).ok


# -- cancelling a purchase --------------------------------------------------------------------


def test_cancelling_a_purchase_reverses_whatever_remains_of_it_once(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    order = bought(ctx, ada, line("A", "30.00"), line("B", "20.00", quantity=2),
                   external_id="1001")  # 70 points
    returned(ctx, order, "R-1", lines={"B": 1})  # 20 back, 50 remain

    cancel = cancelled(ctx, order)
    again = cancelled(ctx, order)

    assert (cancel.replayed, again.replayed) == (False, True)
    assert (cancel.result.points_reversed, cancel.result.points_remaining) == (50, 0)
    assert (cancel.result.refunded, cancel.result.remaining_lines) == ("50.00", {})
    assert available(ctx, ada) == 0
    assert reasons(ctx, ada, 1) == [
        f"reversed 50: return cancel-{order.purchase_id} of order 1001"]
    with pytest.raises(ReturnRefused):
        returned(ctx, order, "R-2", lines={"A": 1})
    assert verify_ledger(ctx).ok


def test_cancelling_a_purchase_returned_by_amount_refunds_the_rest(ctx):
    a_program(ctx)
    ada = a_member(ctx)
    order = bought(ctx, ada)  # 100.00, 100 points
    returned(ctx, order, "R-1", amount="25.50")  # 74.50 remain: 74 points, 26 reversed

    cancel = cancelled(ctx, order).result

    assert (cancel.refunded, cancel.points_reversed, cancel.points_remaining) == ("74.50", 74, 0)
    assert available(ctx, ada) == 0
    assert verify_ledger(ctx).ok


# -- tiers ------------------------------------------------------------------------------------

LADDER: dict[str, Any] = {
    "measure": "spend",
    "window": {"type": "calendar_year"},
    "levels": [
        {"id": "member", "name": "Member", "threshold": "0"},
        {"id": "silver", "name": "Silver", "threshold": "500.00", "multiplier": "1.5",
         "bonus_points": 100},
        {"id": "gold", "name": "Gold", "threshold": "1500.00", "multiplier": "2"},
    ],
}


def a_tiered_program(ctx) -> None:
    with freeze_time("2020-01-01"):
        create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", settings={}))
        save_draft(ctx, "shop", {"settings": {}, "rules": [], "tiers": copy.deepcopy(LADDER)},
                   "cli:t")
        publish(ctx, "shop", "cli:t")


def test_returning_the_purchase_that_reached_a_tier_takes_the_tier_back(ctx):
    a_tiered_program(ctx)
    with freeze_time("2026-03-10 12:00:00"):
        ada = a_member(ctx)
        bought(ctx, ada, line("A", "300.00"))  # 300 points, Member
        crossing = bought(ctx, ada, line("B", "250.00"))  # 550.00: Silver
        assert (crossing.tier, crossing.points_earned) == ("silver", 375)  # 250 x 1.5

        back = returned(ctx, crossing, "R-1", lines={"B": 1})
        view = tier_view(ctx, "shop", ada.id)

    assert back.points_reversed == 375
    assert view.progress.tier.id == "member"
    latest = view.history[0]
    assert (latest.from_tier, latest.to_tier, latest.reason) == ("silver", "member", "return")
    assert latest.detail == f"return {crossing.purchase_id}"
    # 300 + 375 + 100 (Silver's bonus, given once) - 375
    assert available(ctx, ada) == 400
    assert verify_ledger(ctx).ok


def test_a_partial_return_of_the_purchase_that_reached_a_tier_keeps_its_tier_rate(ctx):
    a_tiered_program(ctx)
    with freeze_time("2026-03-10 12:00:00"):
        ada = a_member(ctx)
        bought(ctx, ada, line("A", "300.00"))  # 300 points, Member
        crossing = bought(ctx, ada, line("B", "200.00", quantity=2))  # 700.00: Silver
        assert (crossing.tier, crossing.points_earned) == ("silver", 600)  # 400 x 1.5

        back = returned(ctx, crossing, "R-1", lines={"B": 1})
        view = tier_view(ctx, "shop", ada.id)

    # 300.00 + 200.00 = 500.00 still reaches Silver: the unit kept still earns 200 x 1.5 = 300,
    # so the unit returned takes back 600 - 300 = 300
    assert view.progress.tier.id == "silver"
    assert (back.points_reversed, back.points_remaining) == (300, 300)
    assert verify_ledger(ctx).ok


# -- the member's history, as the purchase saw it ----------------------------------------------

BASE = {"id": "base", "name": "1 point per EUR",
        "effect": {"type": "per_currency_unit", "points": "1"}}


def a_program_with(ctx, *rules: dict[str, Any]) -> None:
    create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", settings={},
                                      rules=[BASE, *rules]))


def test_a_partial_return_keeps_the_bonus_the_members_history_gave(ctx):
    a_program_with(ctx, {"id": "regulars", "name": "Double from the third purchase",
                         "conditions": {"fact": "member.purchases", "op": "gte", "value": 2},
                         "effect": {"type": "multiplier", "factor": "2"}, "priority": -1})
    ada = a_member(ctx)
    bought(ctx, ada, line("A", "10.00"))
    bought(ctx, ada, line("A", "10.00"))
    third = bought(ctx, ada, line("A", "10.00"), line("B", "10.00"))
    assert third.points_earned == 40

    back = returned(ctx, third, "R-1", lines={"B": 1})

    # the 10.00 kept still earns double, as when it was bought (the third purchase)
    assert (back.points_reversed, back.points_remaining) == (20, 20)
    assert verify_ledger(ctx).ok


def test_a_once_only_bonus_given_before_does_not_shield_a_later_purchase_from_its_return(ctx):
    a_program_with(ctx, {"id": "welcome", "name": "Welcome bonus",
                         "effect": {"type": "fixed", "points": 100},
                         "limits": {"once_per_member": True}})
    ada = a_member(ctx)
    assert bought(ctx, ada, line("A", "10.00")).points_earned == 110
    second = bought(ctx, ada, line("A", "10.00"), line("B", "10.00"))
    assert second.points_earned == 20

    back = returned(ctx, second, "R-1", lines={"B": 1})

    assert (back.points_reversed, back.points_remaining) == (10, 10)
    assert available(ctx, ada) == 110 + 10


def test_a_once_only_bonus_the_purchase_itself_earned_stays_while_the_rest_qualifies(ctx):
    a_program_with(ctx, {"id": "welcome", "name": "Welcome bonus",
                         "effect": {"type": "fixed", "points": 100},
                         "limits": {"once_per_member": True}})
    ada = a_member(ctx)
    first = bought(ctx, ada, line("A", "10.00"), line("B", "10.00"))
    assert first.points_earned == 120

    back = returned(ctx, first, "R-1", lines={"B": 1})
    rest = returned(ctx, first, "R-2", lines={"A": 1})

    assert (back.points_reversed, back.points_remaining) == (10, 110)
    assert (rest.points_reversed, rest.points_remaining) == (110, 0)


def test_a_capped_rule_counts_what_it_gave_before_the_purchase_not_the_purchase_itself(ctx):
    a_program_with(ctx, {"id": "triple", "name": "Triple, up to 30 bonus points a day",
                         "effect": {"type": "per_currency_unit", "points": "2"},
                         "limits": {"per_member": [{"period": "day", "points": 30}]}})
    ada = a_member(ctx)
    with freeze_time("2026-03-10 12:00:00"):
        first = bought(ctx, ada, line("A", "10.00"))  # 10 + 20
        second = bought(ctx, ada, line("A", "10.00"), line("B", "10.00"))  # 20 + 10 (the cap)
        assert (first.points_earned, second.points_earned) == (30, 30)

        back = returned(ctx, second, "R-1", lines={"B": 1})

    # the 10.00 kept earns 10 + 10: the cap had 10 left when the second purchase was made
    assert (back.points_reversed, back.points_remaining) == (10, 20)


# -- concurrency --------------------------------------------------------------------------------


def test_concurrent_returns_of_one_purchase_never_reverse_more_than_it_earned(ctx):
    a_program(ctx, earn={"points_per_unit": "1.5"})
    ada = a_member(ctx)
    order = bought(ctx, ada, line("MUG", "10.99", quantity=10))
    assert order.points_earned == 164  # 1.5 x 109.90 = 164.85 -> 164

    outcomes = run_together(16, lambda i: returned(ctx, order, f"R-{i}", lines={"MUG": 1}))

    done = [o for o in outcomes if isinstance(o, ReturnRecorded)]
    refused = [o for o in outcomes if isinstance(o, ReturnRefused)]
    assert (len(done), len(refused)) == (10, 6), [
        o for o in outcomes if isinstance(o, Exception)][:3]
    assert sum(r.points_reversed for r in done) == 164
    assert sorted(r.points_remaining for r in done)[0] == 0
    balance = get_balance(ctx, "shop", ada.id)
    assert (balance.available, balance.lifetime_earned) == (0, 164)
    assert verify_ledger(ctx).ok

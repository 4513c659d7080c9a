"""Spending takes points out of earn lots, soonest-expiring first (FEFO)."""

from datetime import UTC, datetime, timedelta
from itertools import permutations

import pytest

from loyalty.domain.errors import Conflict, InsufficientPoints
from loyalty.domain.ledger import Allocation, EntryKind, Lot, NewEntry, allocate_fefo

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


def lot(
    lot_id: int,
    remaining: int,
    *,
    earned_days_ago: int = 30,
    expires_in_days: float | None = None,
) -> Lot:
    """A lot earned some days before NOW that expires some days after NOW (or never)."""
    expires_at = None if expires_in_days is None else NOW + timedelta(days=expires_in_days)
    return Lot(lot_id, remaining, NOW - timedelta(days=earned_days_ago), expires_at)


def spent(allocations: list[Allocation]) -> list[tuple[int, int]]:
    """Allocations as (lot id, points) pairs, easier to read in an assertion."""
    return [(allocation.lot_id, allocation.points) for allocation in allocations]


def test_spending_takes_the_soonest_expiring_lot_first():
    lots = [lot(1, 100, expires_in_days=90), lot(2, 100, expires_in_days=10)]

    assert spent(allocate_fefo(lots, 40, NOW)) == [(2, 40)]


def test_spending_more_than_one_lot_holds_empties_it_and_moves_to_the_next():
    lots = [
        lot(1, 50, expires_in_days=30),
        lot(2, 20, expires_in_days=10),
        lot(3, 100, expires_in_days=60),
    ]

    assert spent(allocate_fefo(lots, 90, NOW)) == [(2, 20), (1, 50), (3, 20)]


def test_never_expiring_lots_are_spent_last():
    lots = [lot(1, 100, earned_days_ago=400), lot(2, 30, expires_in_days=365)]

    assert spent(allocate_fefo(lots, 50, NOW)) == [(2, 30), (1, 20)]


def test_never_expiring_lots_are_spent_oldest_first():
    lots = [lot(1, 10, earned_days_ago=5), lot(2, 10, earned_days_ago=50)]

    assert spent(allocate_fefo(lots, 15, NOW)) == [(2, 10), (1, 5)]


def test_lots_expiring_together_are_spent_oldest_earned_first():
    lots = [
        lot(1, 10, earned_days_ago=10, expires_in_days=20),
        lot(2, 10, earned_days_ago=90, expires_in_days=20),
    ]

    assert spent(allocate_fefo(lots, 15, NOW)) == [(2, 10), (1, 5)]


def test_lots_expiring_and_earned_together_are_spent_lowest_id_first():
    lots = [
        lot(7, 10, expires_in_days=20),
        lot(3, 10, expires_in_days=20),
        lot(5, 10, expires_in_days=20),
    ]

    assert spent(allocate_fefo(lots, 25, NOW)) == [(3, 10), (5, 10), (7, 5)]


def test_the_order_in_which_lots_are_given_does_not_matter():
    lots = [
        lot(1, 10, expires_in_days=5),
        lot(2, 10, earned_days_ago=90, expires_in_days=20),
        lot(3, 10, earned_days_ago=10, expires_in_days=20),
        lot(4, 10),
    ]
    expected = [(1, 10), (2, 10), (3, 10), (4, 5)]

    for order in permutations(lots):
        assert spent(allocate_fefo(order, 35, NOW)) == expected


def test_a_lot_already_past_its_expiry_is_never_spent():
    lots = [lot(1, 100, expires_in_days=-1), lot(2, 100, expires_in_days=10)]

    assert spent(allocate_fefo(lots, 60, NOW)) == [(2, 60)]


def test_a_lot_expiring_exactly_now_is_already_expired():
    lots = [lot(1, 100, expires_in_days=0), lot(2, 100, expires_in_days=10)]

    assert spent(allocate_fefo(lots, 60, NOW)) == [(2, 60)]


def test_a_lot_expiring_a_microsecond_from_now_can_still_be_spent():
    almost = Lot(1, 100, NOW - timedelta(days=1), NOW + timedelta(microseconds=1))

    assert spent(allocate_fefo([almost], 100, NOW)) == [(1, 100)]


def test_empty_lots_are_skipped_and_never_get_a_zero_allocation():
    lots = [lot(1, 0, expires_in_days=1), lot(2, 40, expires_in_days=5)]

    assert spent(allocate_fefo(lots, 40, NOW)) == [(2, 40)]


def test_spending_exactly_the_whole_balance_empties_every_lot():
    lots = [lot(1, 10, expires_in_days=1), lot(2, 20, expires_in_days=2), lot(3, 30)]

    assert spent(allocate_fefo(lots, 60, NOW)) == [(1, 10), (2, 20), (3, 30)]


@pytest.mark.parametrize("points", [1, 9, 10, 11, 29, 30, 31, 59, 60])
def test_the_allocations_add_up_to_exactly_the_points_spent(points):
    lots = [lot(1, 10, expires_in_days=1), lot(2, 20, expires_in_days=2), lot(3, 30)]

    allocations = allocate_fefo(lots, points, NOW)

    assert sum(allocation.points for allocation in allocations) == points
    assert all(allocation.points > 0 for allocation in allocations)
    remaining = {each.id: each.remaining for each in lots}
    assert all(allocation.points <= remaining[allocation.lot_id] for allocation in allocations)
    assert len({allocation.lot_id for allocation in allocations}) == len(allocations)


def test_spending_more_than_is_available_says_how_much_is_available_and_required():
    lots = [lot(1, 30, expires_in_days=10), lot(2, 20)]

    with pytest.raises(InsufficientPoints) as raised:
        allocate_fefo(lots, 51, NOW)

    assert raised.value.extensions == {"available": 50, "required": 51}
    assert raised.value.code == "insufficient-points"
    assert "50" in raised.value.detail
    assert "51" in raised.value.detail


def test_expired_points_do_not_count_as_available():
    lots = [lot(1, 500, expires_in_days=-3), lot(2, 500, expires_in_days=0), lot(3, 20)]

    with pytest.raises(InsufficientPoints) as raised:
        allocate_fefo(lots, 100, NOW)

    assert raised.value.extensions["available"] == 20
    assert raised.value.extensions["required"] == 100


def test_a_member_without_lots_has_nothing_available():
    with pytest.raises(InsufficientPoints) as raised:
        allocate_fefo([], 1, NOW)

    assert raised.value.extensions == {"available": 0, "required": 1}


def test_insufficient_points_is_a_conflict():
    with pytest.raises(Conflict):
        allocate_fefo([lot(1, 5)], 6, NOW)


@pytest.mark.parametrize("points", [0, -1, -100])
def test_a_debit_of_no_or_negative_points_is_a_programming_error(points):
    with pytest.raises(ValueError, match="positive"):
        allocate_fefo([lot(1, 100)], points, NOW)


def test_a_lot_with_points_and_no_expiry_is_spendable_and_never_due():
    forever = lot(1, 10)

    assert forever.is_spendable(NOW)
    assert not forever.is_due_to_expire(NOW)


def test_a_lot_is_spendable_until_the_instant_it_expires():
    expiring = Lot(1, 10, NOW - timedelta(days=1), NOW)

    assert expiring.is_spendable(NOW - timedelta(microseconds=1))
    assert not expiring.is_due_to_expire(NOW - timedelta(microseconds=1))
    assert not expiring.is_spendable(NOW)
    assert expiring.is_due_to_expire(NOW)
    assert not expiring.is_spendable(NOW + timedelta(days=1))
    assert expiring.is_due_to_expire(NOW + timedelta(days=1))


@pytest.mark.parametrize("remaining", [0, -5])
def test_a_lot_with_nothing_left_is_neither_spendable_nor_due_to_expire(remaining):
    empty = lot(1, remaining, expires_in_days=-1)

    assert not empty.is_spendable(NOW)
    assert not empty.is_due_to_expire(NOW)


@pytest.mark.parametrize("reason", ["", "   ", "\t\n"])
def test_a_ledger_entry_without_a_reason_is_refused(reason):
    with pytest.raises(ValueError, match="says why"):
        NewEntry(EntryKind.ADJUST, 10, 10, 0, NOW, reason)


def test_a_ledger_entry_with_a_reason_keeps_it():
    entry = NewEntry(EntryKind.ADJUST, 10, 10, 0, NOW, "goodwill after a late delivery")

    assert entry.reason == "goodwill after a late delivery"
    assert entry.available_delta == 10

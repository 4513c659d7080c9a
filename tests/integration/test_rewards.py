"""Rewards against a real database: redeeming points for a voucher, the catalogue, the till's
voucher checks, cancelling a redemption, and paying part of a basket with points.

Unless a test says otherwise the program "shop" (EUR, Europe/Paris) earns 1 point per whole
euro (floor); its version 2, in force from 2020-01-01, holds the rewards of the test. The tests
run at ``NOW`` (10 March 2026, 12:00 UTC) unless they move the clock.
"""

from __future__ import annotations

import copy
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import update

from loyalty.adapters.orm import MemberRow
from loyalty.domain.basket import PurchaseLine
from loyalty.domain.errors import (
    IdempotencyKeyReused,
    InsufficientPoints,
    InvalidRequest,
    MemberNotActive,
    RedemptionNotFound,
    RewardNotFound,
    RewardUnavailable,
    VoucherNotFound,
    VoucherNotUsable,
)
from loyalty.domain.members import Member
from loyalty.services.points import get_balance, ledger_history
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from loyalty.services.purchases import record_purchase
from loyalty.services.rewards import (
    Redeem,
    Redeemed,
    cancel_redemption,
    catalogue,
    check_voucher,
    consume_voucher,
    redeem,
)
from loyalty.services.verification import verify_ledger
from tests.api.support import table_counts
from tests.builders import a_member, a_purchase, earn

PUBLISHED = "2020-01-01 00:00:00"
NOW = "2026-03-10 12:00:00"

COFFEE: dict[str, Any] = {"id": "coffee", "name": "Coffee", "cost": 60, "kind": "free_product",
                          "sku": "COFFEE", "stock": 5, "voucher_days": 30}

# Points expire at the end of the month, 12 months after they were earned (Paris time).
EXPIRING_YEARLY = {
    "expiry": {"mode": "after", "period": 12, "unit": "months", "rounding": "end_of_month"}
}

LADDER: dict[str, Any] = {
    "measure": "spend",
    "window": {"type": "calendar_year"},
    "levels": [
        {"id": "member", "name": "Member", "threshold": "0"},
        {"id": "silver", "name": "Silver", "threshold": "500.00"},
        {"id": "gold", "name": "Gold", "threshold": "1500.00"},
    ],
}

# Voucher codes: 5 groups of 4 symbols, none of 0/O, 1/I/L (nor U/V).
CODE = re.compile(r"^[2-9A-HJKMNP-TW-Z]{4}(-[2-9A-HJKMNP-TW-Z]{4}){4}$")

_ids = iter(range(1, 10**9))


def reward(**changes: Any) -> dict[str, Any]:
    """``COFFEE`` with some fields changed (``None`` removes a field)."""
    found = copy.deepcopy(COFFEE)
    found.update(changes)
    return {key: value for key, value in found.items() if value is not None}


def a_rewards_program(ctx, *rewards: dict[str, Any], settings: dict[str, Any] | None = None,
                      tiers: dict[str, Any] | None = None) -> None:
    """Program "shop" whose version 2, in force from 2020-01-01, has ``rewards``."""
    with freeze_time(PUBLISHED):
        create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", settings={}))
        document: dict[str, Any] = {"settings": settings or {}, "rules": [],
                                    "rewards": list(rewards) or [COFFEE]}
        if tiers is not None:
            document["tiers"] = tiers
        save_draft(ctx, "shop", document, "cli:t")
        publish(ctx, "shop", "cli:t")


@pytest.fixture
def now():
    with freeze_time(NOW) as frozen:
        yield frozen


def redeeming(ctx, member: Member, reward_id: str = "coffee",
              external_id: str | None = None) -> Redeemed:
    return redeem(ctx, Redeem("shop", member.id, reward_id,
                              external_id or f"R-{next(_ids)}")).result


def set_status(ctx, member: Member, status: str) -> None:
    """Freeze or close a member (no use case does it yet)."""
    with ctx.uow() as uow:
        uow.session.execute(update(MemberRow).where(MemberRow.id == member.id)
                            .values(status=status))
        uow.commit()


def issued(ctx, reward_id: str = "coffee") -> int:
    with ctx.uow(read_only=True) as uow:
        return uow.rewards.issued("shop").get(reward_id, 0)


def available(ctx, member: Member) -> int:
    return get_balance(ctx, "shop", member.id).available


def expiries(ctx, member: Member) -> list[tuple[int, datetime]]:
    return [(e.points, e.expires_at) for e in get_balance(ctx, "shop", member.id).next_expiries]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


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


# -- redeeming --------------------------------------------------------------------------------


def test_redeeming_takes_the_cost_from_the_soonest_expiring_points_and_issues_a_voucher(ctx):
    a_rewards_program(ctx, settings=EXPIRING_YEARLY)
    with freeze_time("2026-01-01"):
        ada = a_member(ctx)
    with freeze_time("2026-02-10 10:00:00"):
        earn(ctx, ada, 40)  # usable through 28 Feb 2027: expires 1 Mar 2027 00:00 Paris
    with freeze_time("2026-01-10 10:00:00"):
        earn(ctx, ada, 50)  # usable through 31 Jan 2027: expires 1 Feb 2027 00:00 Paris
    end_of_january, end_of_february = utc("2027-01-31 23:00"), utc("2027-02-28 23:00")
    assert expiries(ctx, ada) == [(50, end_of_january), (40, end_of_february)]

    with freeze_time("2026-03-01 12:00:00"):
        redeemed = redeeming(ctx, ada, external_id="R-1")

    # 60 = all 50 of the January lot (the sooner to expire) + 10 of the February lot
    assert (redeemed.points, redeemed.available, redeemed.status) == (60, 30, "issued")
    assert expiries(ctx, ada) == [(30, end_of_february)]
    voucher = redeemed.voucher
    assert (voucher.state, voucher.reward_id, voucher.kind, voucher.gives) == (
        "valid", "coffee", "free_product", {"sku": "COFFEE"})
    assert CODE.match(voucher.code), voucher.code
    # voucher_days: 30 -> 1 March 12:00 + 30 days
    assert voucher.issued_at == utc("2026-03-01 12:00")
    assert voucher.expires_at == utc("2026-03-31 12:00")
    assert issued(ctx) == 1
    balance = get_balance(ctx, "shop", ada.id)
    assert (balance.available, balance.lifetime_redeemed) == (30, 60)
    entry = ledger_history(ctx, "shop", ada.id, limit=1).entries[0]
    assert (entry.points, entry.external_ref) == (-60, "R-1")
    assert entry.reason == f"redeemed 60 for Coffee (voucher {voucher.code})"
    assert verify_ledger(ctx).ok


def test_two_redemptions_get_different_codes_from_an_unambiguous_alphabet(ctx, now):
    a_rewards_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 120)

    first, second = redeeming(ctx, ada).voucher.code, redeeming(ctx, ada).voucher.code

    assert first != second
    for code in (first, second):
        assert CODE.match(code), code
        assert len(code.replace("-", "")) == 20
        assert not set(code) & set("0O1IL")
    assert available(ctx, ada) == 0  # 120 - 2 x 60
    assert verify_ledger(ctx).ok


def test_redeeming_again_with_the_same_external_id_replays_and_writes_nothing(ctx, now):
    a_rewards_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    command = Redeem("shop", ada.id, "coffee", "R-1")
    first = redeem(ctx, command)
    counts = table_counts(ctx)

    again = redeem(ctx, command)

    assert (first.replayed, again.replayed) == (False, True)
    assert again.result == first.result
    assert table_counts(ctx) == counts
    assert (available(ctx, ada), issued(ctx)) == (40, 1)  # 100 - 60, once


def test_the_same_external_id_for_another_reward_is_refused_and_writes_nothing(ctx, now):
    a_rewards_program(ctx, COFFEE, reward(id="tea", name="Tea", sku="TEA", cost=30))
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    redeeming(ctx, ada, "coffee", "R-1")
    counts = table_counts(ctx)

    with pytest.raises(IdempotencyKeyReused):
        redeeming(ctx, ada, "tea", "R-1")

    assert table_counts(ctx) == counts
    assert (available(ctx, ada), issued(ctx, "tea")) == (40, 0)


@pytest.mark.parametrize(("status", "detail"), [
    ("frozen", "a frozen member cannot redeem rewards (the account is frozen, e.g. while fraud "
               "is looked into)"),
    ("closed", "a closed member cannot redeem rewards"),
])
def test_a_member_who_is_not_active_cannot_redeem(ctx, now, status, detail):
    a_rewards_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    set_status(ctx, ada, status)
    counts = table_counts(ctx)

    with pytest.raises(MemberNotActive) as refused:
        redeeming(ctx, ada)

    assert refused.value.detail == detail
    assert refused.value.extensions == {"member_status": status}
    assert table_counts(ctx) == counts
    assert (available(ctx, ada), issued(ctx)) == (100, 0)


def test_a_member_without_enough_points_cannot_redeem_and_nothing_is_written(ctx, now):
    a_rewards_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 59)
    counts = table_counts(ctx)

    with pytest.raises(InsufficientPoints) as refused:
        redeeming(ctx, ada)

    assert refused.value.extensions == {"available": 59, "required": 60}
    assert table_counts(ctx) == counts
    assert issued(ctx) == 0


def test_an_unknown_reward_is_not_found(ctx, now):
    a_rewards_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)

    with pytest.raises(RewardNotFound) as refused:
        redeeming(ctx, ada, "caviar")

    assert refused.value.field == "reward_id"
    assert available(ctx, ada) == 100


def test_the_last_unit_goes_to_one_member_and_then_the_reward_is_out_of_stock(ctx, now):
    a_rewards_program(ctx, reward(stock=1))
    ada, bob = a_member(ctx), a_member(ctx)
    earn(ctx, ada, 100)
    earn(ctx, bob, 100)
    redeeming(ctx, ada)

    with pytest.raises(RewardUnavailable) as refused:
        redeeming(ctx, bob)

    assert refused.value.detail == "this member cannot take 'Coffee': it is out of stock"
    assert refused.value.extensions == {"reward_id": "coffee"}
    assert (available(ctx, bob), issued(ctx)) == (100, 1)
    assert catalogue(ctx, "shop", bob.id) == []


def test_a_reward_is_taken_only_within_its_window_in_the_program_zone(ctx):
    # 1 to 31 March 2026 in Paris: from 28 Feb 23:00 UTC (CET) to 31 Mar 22:00 UTC (CEST,
    # summer time started on 29 March), end excluded
    a_rewards_program(ctx, reward(stock=None, window={"start": "2026-03-01",
                                                      "end": "2026-03-31"}))
    with freeze_time("2026-01-01"):
        ada = a_member(ctx)
        earn(ctx, ada, 1000)
    outcomes = {}
    for instant in ("2026-02-28 22:59:59", "2026-02-28 23:00:00", "2026-03-31 21:59:59",
                    "2026-03-31 22:00:00"):
        with freeze_time(instant):
            try:
                outcomes[instant] = redeeming(ctx, ada).status
            except RewardUnavailable as error:
                outcomes[instant] = error.detail

    closed = "this member cannot take 'Coffee': it is not available at this time"
    assert outcomes == {"2026-02-28 22:59:59": closed, "2026-02-28 23:00:00": "issued",
                        "2026-03-31 21:59:59": "issued", "2026-03-31 22:00:00": closed}
    assert available(ctx, ada) == 1000 - 2 * 60


def test_a_reward_for_higher_tiers_waits_until_the_member_reaches_one(ctx, now):
    vip = reward(id="lounge", name="Lounge", cost=100, tiers=["silver", "gold"])
    a_rewards_program(ctx, vip, tiers=LADDER)
    ada = a_member(ctx)
    record_purchase(ctx, a_purchase(ada, "300.00"))  # 300 points, still a Member

    with pytest.raises(RewardUnavailable) as refused:
        redeeming(ctx, ada, "lounge")
    assert refused.value.detail == ("this member cannot take 'Lounge': it is for members of "
                                    "the tiers silver, gold")
    assert catalogue(ctx, "shop", ada.id) == []

    record_purchase(ctx, a_purchase(ada, "250.00"))  # 300.00 + 250.00 = 550.00: Silver
    assert [offer.reward_id for offer in catalogue(ctx, "shop", ada.id)] == ["lounge"]
    assert redeeming(ctx, ada, "lounge").available == 300 + 250 - 100
    assert verify_ledger(ctx).ok


def test_a_member_takes_a_limited_reward_once_per_calendar_month_in_the_program_zone(ctx):
    a_rewards_program(ctx, reward(stock=None, per_member={"period": "month", "count": 1}))
    with freeze_time("2026-03-01"):
        ada, bob = a_member(ctx), a_member(ctx)
        earn(ctx, ada, 500)
        earn(ctx, bob, 500)
    with freeze_time("2026-03-10 12:00:00"):
        redeeming(ctx, ada)
    with freeze_time("2026-03-31 21:59:59"):  # 23:59:59 on 31 March in Paris
        with pytest.raises(RewardUnavailable) as refused:
            redeeming(ctx, ada)
        redeeming(ctx, bob)  # the limit is per member
    with freeze_time("2026-03-31 22:00:00"):  # midnight, 1 April in Paris
        redeeming(ctx, ada)

    assert refused.value.detail == ("this member cannot take 'Coffee': a member may take it "
                                    "1 time(s) per month")
    assert (available(ctx, ada), available(ctx, bob)) == (500 - 2 * 60, 500 - 60)


def test_the_catalogue_lists_what_the_member_may_take_and_whether_it_is_affordable(ctx, now):
    a_rewards_program(
        ctx,
        COFFEE,
        {"id": "voucher-5", "name": "5 EUR off", "cost": 500, "kind": "amount_off",
         "amount": "5.00"},
        {"id": "ten-percent", "name": "10% off", "description": "on the whole basket",
         "cost": 80, "kind": "percent_off", "percent": "10"},
        {"id": "shipping", "name": "Free shipping", "cost": 20, "kind": "free_shipping",
         "stock": 0},
        {"id": "summer", "name": "Summer gift", "cost": 10, "kind": "external_code",
         "window": {"start": "2026-06-01"}},
    )
    ada = a_member(ctx)
    earn(ctx, ada, 100)

    offers = {offer.reward_id: offer for offer in catalogue(ctx, "shop", ada.id)}

    # no free shipping (none in stock) and no summer gift (not before June)
    assert list(offers) == ["coffee", "voucher-5", "ten-percent"]
    assert [(o.cost, o.kind, o.gives, o.affordable, o.stock_left) for o in offers.values()] == [
        (60, "free_product", {"sku": "COFFEE"}, True, 5),
        (500, "amount_off", {"amount": "5.00"}, False, None),
        (80, "percent_off", {"percent": "10"}, True, None),
    ]
    assert offers["ten-percent"].description == "on the whole basket"


def test_64_concurrent_redemptions_of_the_last_10_units_give_exactly_10(ctx):
    a_rewards_program(ctx, reward(stock=12))
    early = a_member(ctx)
    earn(ctx, early, 120)
    redeeming(ctx, early)
    redeeming(ctx, early)  # 12 - 2 = 10 units left
    members = [a_member(ctx) for _ in range(64)]
    for member in members:
        earn(ctx, member, 100)  # enough for one coffee each

    outcomes = run_together(64, lambda i: redeeming(ctx, members[i], external_id=f"C-{i}"))

    won = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, Redeemed)]
    unavailable = [o for o in outcomes if isinstance(o, RewardUnavailable)]
    assert len(won) == 10, [o for o in outcomes if isinstance(o, Exception)][:3]
    assert len(unavailable) == 54, [o for o in outcomes if isinstance(o, Exception)][:3]
    assert issued(ctx) == 12
    balances = [available(ctx, member) for member in members]
    assert all(balance >= 0 for balance in balances)
    assert balances == [40 if i in won else 100 for i in range(64)]  # 100 - 60 for winners
    assert len({outcomes[i].voucher.code for i in won}) == 10
    assert verify_ledger(ctx).ok


# -- vouchers at the till -----------------------------------------------------------------------


def test_a_voucher_is_valid_until_the_instant_it_expires(ctx, now):
    a_rewards_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    code = redeeming(ctx, ada).voucher.code  # expires 30 days later, 9 April 12:00 UTC

    with freeze_time("2026-04-09 11:59:59"):
        assert check_voucher(ctx, "shop", code).state == "valid"
    with freeze_time("2026-04-09 12:00:00"):
        assert check_voucher(ctx, "shop", code).state == "expired"


def test_a_voucher_code_is_checked_whatever_its_case_and_spacing(ctx, now):
    a_rewards_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    redeemed = redeeming(ctx, ada)
    typed = " " + redeemed.voucher.code.lower().replace("-", " ") + " "

    view = check_voucher(ctx, "shop", typed)

    assert (view.code, view.state, view.member_id, view.redemption_id) == (
        redeemed.voucher.code, "valid", ada.id, redeemed.redemption_id)
    assert (view.used_at, view.used_reference) == (None, None)


def test_an_unknown_voucher_is_not_found(ctx, now):
    a_rewards_program(ctx)

    with pytest.raises(VoucherNotFound):
        check_voucher(ctx, "shop", "AAAA-BBBB-CCCC-DDDD-EEEE")
    with pytest.raises(VoucherNotFound):
        consume_voucher(ctx, "shop", "AAAA-BBBB-CCCC-DDDD-EEEE", "T-1")


def test_a_consumed_voucher_is_used_and_consuming_it_again_for_the_same_sale_replays(ctx, now):
    a_rewards_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    code = redeeming(ctx, ada).voucher.code

    first = consume_voucher(ctx, "shop", code.lower(), "T-1")
    now.tick(timedelta(minutes=5))
    again = consume_voucher(ctx, "shop", code, "T-1")

    assert (first.replayed, again.replayed) == (False, True)
    assert (first.result.state, first.result.used_reference) == ("used", "T-1")
    assert first.result.used_at == again.result.used_at == utc("2026-03-10 12:00")
    view = check_voucher(ctx, "shop", code)
    assert (view.state, view.used_at, view.used_reference) == ("used", utc("2026-03-10 12:00"),
                                                               "T-1")


def test_a_used_voucher_is_refused_for_another_sale(ctx, now):
    a_rewards_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    code = redeeming(ctx, ada).voucher.code
    consume_voucher(ctx, "shop", code, "T-1")

    with pytest.raises(VoucherNotUsable) as refused:
        consume_voucher(ctx, "shop", code, "T-2")

    assert refused.value.detail == "this voucher is used (used for T-1)"
    assert refused.value.extensions == {"state": "used"}
    assert check_voucher(ctx, "shop", code).used_reference == "T-1"


def test_an_expired_voucher_cannot_be_consumed(ctx, now):
    a_rewards_program(ctx, reward(voucher_days=1))
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    code = redeeming(ctx, ada).voucher.code
    now.tick(timedelta(days=1))

    with pytest.raises(VoucherNotUsable) as refused:
        consume_voucher(ctx, "shop", code, "T-1")

    assert refused.value.extensions == {"state": "expired"}
    assert check_voucher(ctx, "shop", code).state == "expired"


def test_the_voucher_of_a_cancelled_redemption_cannot_be_consumed(ctx, now):
    a_rewards_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    redeemed = redeeming(ctx, ada)
    cancel_redemption(ctx, "shop", redeemed.redemption_id, "cli:t")

    assert check_voucher(ctx, "shop", redeemed.voucher.code).state == "cancelled"
    with pytest.raises(VoucherNotUsable) as refused:
        consume_voucher(ctx, "shop", redeemed.voucher.code, "T-1")
    assert refused.value.extensions == {"state": "cancelled"}


def test_the_redemption_of_a_used_voucher_cannot_be_cancelled(ctx, now):
    a_rewards_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    redeemed = redeeming(ctx, ada)
    consume_voucher(ctx, "shop", redeemed.voucher.code, "T-1")
    counts = table_counts(ctx)

    with pytest.raises(VoucherNotUsable) as refused:
        cancel_redemption(ctx, "shop", redeemed.redemption_id, "cli:t")

    assert refused.value.detail == "the voucher was already used: the redemption stands"
    assert table_counts(ctx) == counts
    assert (available(ctx, ada), issued(ctx)) == (40, 1)
    assert check_voucher(ctx, "shop", redeemed.voucher.code).state == "used"


# -- cancelling a redemption ------------------------------------------------------------------


def test_cancelling_gives_the_points_back_to_their_lots_with_their_expiry_and_the_unit(ctx):
    a_rewards_program(ctx, settings=EXPIRING_YEARLY)
    with freeze_time("2026-01-01"):
        ada = a_member(ctx)
    with freeze_time("2026-01-10 10:00:00"):
        earn(ctx, ada, 50)  # expires 1 Feb 2027 00:00 Paris
    with freeze_time("2026-02-10 10:00:00"):
        earn(ctx, ada, 40)  # expires 1 Mar 2027 00:00 Paris
    before = [(50, utc("2027-01-31 23:00")), (40, utc("2027-02-28 23:00"))]
    assert expiries(ctx, ada) == before
    with freeze_time("2026-03-01 12:00:00"):
        redeemed = redeeming(ctx, ada)  # 50 from January's lot, 10 from February's
        assert catalogue(ctx, "shop", ada.id)[0].stock_left == 4

    with freeze_time("2026-03-02 12:00:00"):
        cancelled = cancel_redemption(ctx, "shop", redeemed.redemption_id, "key:agent")
        assert catalogue(ctx, "shop", ada.id)[0].stock_left == 5

    assert cancelled.replayed is False
    assert (cancelled.result.points, cancelled.result.status, cancelled.result.available) == (
        60, "cancelled", 90)
    assert expiries(ctx, ada) == before  # each point back in its own lot, same expiry
    assert issued(ctx) == 0
    balance = get_balance(ctx, "shop", ada.id)
    assert (balance.available, balance.lifetime_redeemed) == (90, 0)
    entry = ledger_history(ctx, "shop", ada.id, limit=1).entries[0]
    assert (entry.points, entry.actor) == (60, "key:agent")
    assert entry.reason == "redemption of Coffee cancelled: 60 points back"
    assert verify_ledger(ctx).ok


def test_cancelling_a_redemption_twice_changes_nothing(ctx, now):
    a_rewards_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    redeemed = redeeming(ctx, ada)
    cancel_redemption(ctx, "shop", redeemed.redemption_id, "cli:t")
    counts = table_counts(ctx)

    again = cancel_redemption(ctx, "shop", redeemed.redemption_id, "cli:t")

    assert again.replayed is True
    assert (again.result.status, again.result.available) == ("cancelled", 100)
    assert table_counts(ctx) == counts
    assert (available(ctx, ada), issued(ctx)) == (100, 0)
    assert verify_ledger(ctx).ok


def test_a_cancelled_redemption_no_longer_counts_toward_the_member_limit(ctx, now):
    a_rewards_program(ctx, reward(per_member={"period": "month", "count": 1}))
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    cancel_redemption(ctx, "shop", redeeming(ctx, ada).redemption_id, "cli:t")

    assert redeeming(ctx, ada).available == 40


def test_cancelling_an_unknown_redemption_is_not_found(ctx, now):
    a_rewards_program(ctx)

    with pytest.raises(RedemptionNotFound):
        cancel_redemption(ctx, "shop", "red_nothing", "cli:t")


# -- paying with points at the till -------------------------------------------------------------

TILL = {"redemption": {"point_value": "0.01", "minimum": 100, "step": 50,
                       "max_basket_share": "0.5"}}


def a_payer(ctx, settings: dict[str, Any] = TILL, points: int = 1000) -> Member:
    a_rewards_program(ctx, settings=settings)
    member = a_member(ctx)
    earn(ctx, member, points)
    return member


def test_points_pay_part_of_the_basket_and_the_part_they_pay_earns_nothing(ctx, now):
    ada = a_payer(ctx)

    paid = record_purchase(ctx, a_purchase(ada, "20.00", external_id="1001",
                                           points_to_burn=500)).result

    # 500 points x 0.01 EUR = 5.00 EUR, at most 50% of 20.00; the rest (15.00) earns 15 points
    assert (paid.points_burned, paid.burn_value) == (500, "5.00")
    assert (paid.total, paid.earn_base, paid.points_earned) == ("20.00", "15.00", 15)
    assert paid.balance.available == 1000 - 500 + 15
    balance = get_balance(ctx, "shop", ada.id)
    assert (balance.available, balance.lifetime_redeemed) == (515, 500)
    reasons = [e.reason for e in ledger_history(ctx, "shop", ada.id, limit=2).entries]
    assert reasons == ["earned 15 on order 1001",
                       "paid 5.00 EUR with 500 points on order 1001"]
    assert verify_ledger(ctx).ok


def test_the_part_paid_with_points_earns_when_the_program_says_so(ctx, now):
    ada = a_payer(ctx, {**TILL, "earn": {"include_points_paid": True}})

    paid = record_purchase(ctx, a_purchase(ada, "20.00", points_to_burn=500)).result

    assert (paid.earn_base, paid.points_earned, paid.burn_value) == ("20.00", 20, "5.00")
    assert paid.balance.available == 1000 - 500 + 20


def test_the_point_value_says_what_points_are_worth_rounded_down_to_the_cent(ctx, now):
    ada = a_payer(ctx, {"redemption": {"point_value": "0.005"}})

    paid = record_purchase(ctx, a_purchase(ada, "20.00", points_to_burn=155)).result

    # 155 x 0.005 = 0.775 EUR, floor to the cent = 0.77; 20.00 - 0.77 = 19.23 earns 19
    assert (paid.points_burned, paid.burn_value, paid.points_earned) == (155, "0.77", 19)
    assert paid.balance.available == 1000 - 155 + 19


@pytest.mark.parametrize(("points", "basket", "detail", "extensions"), [
    (50, "20.00", "at least 100 points are burned at a time", {"minimum": 100}),
    (120, "20.00", "points are burned by steps of 50", {"step": 50}),
    # 600 points = 6.00 EUR, more than 50% of 10.00 (5.00, 500 minor units)
    (600, "10.00", "600 points are worth more than the 50% of the basket that points may pay",
     {"maximum_value": 500}),
])
def test_a_burn_the_program_does_not_allow_is_refused_naming_why(ctx, now, points, basket,
                                                                  detail, extensions):
    ada = a_payer(ctx)
    counts = table_counts(ctx)

    with pytest.raises(InvalidRequest) as refused:
        record_purchase(ctx, a_purchase(ada, basket, points_to_burn=points))

    assert (refused.value.field, refused.value.detail) == ("points_to_burn", detail)
    assert refused.value.extensions == extensions
    assert table_counts(ctx) == counts
    assert available(ctx, ada) == 1000


def test_a_burn_beyond_the_balance_is_insufficient_points(ctx, now):
    ada = a_payer(ctx)
    counts = table_counts(ctx)

    with pytest.raises(InsufficientPoints) as refused:
        # 1500 points = 15.00 EUR, within 50% of 100.00, but Ada has 1000
        record_purchase(ctx, a_purchase(ada, "100.00", points_to_burn=1500))

    assert refused.value.extensions == {"available": 1000, "required": 1500}
    assert table_counts(ctx) == counts


def test_a_frozen_member_still_earns_but_cannot_pay_with_points(ctx, now):
    ada = a_payer(ctx)
    set_status(ctx, ada, "frozen")

    with pytest.raises(MemberNotActive) as refused:
        record_purchase(ctx, a_purchase(ada, "20.00", points_to_burn=500))
    earned = record_purchase(ctx, a_purchase(ada, "20.00")).result

    assert refused.value.detail == "a frozen member cannot pay with points"
    assert earned.points_earned == 20
    assert available(ctx, ada) == 1020


def test_points_paid_at_the_till_come_from_the_soonest_expiring_lots(ctx):
    ada_settings = {**TILL, **EXPIRING_YEARLY}
    a_rewards_program(ctx, settings=ada_settings)
    with freeze_time("2026-01-01"):
        ada = a_member(ctx)
    with freeze_time("2026-02-10 10:00:00"):
        earn(ctx, ada, 400)  # expires 1 Mar 2027 00:00 Paris
    with freeze_time("2026-01-10 10:00:00"):
        earn(ctx, ada, 300)  # expires 1 Feb 2027 00:00 Paris

    with freeze_time("2026-03-01 12:00:00"):
        record_purchase(ctx, a_purchase(ada, "20.00", points_to_burn=500,
                                        lines=(PurchaseLine("SKU-1", 1, 2000),)))

    # 500 = 300 (January's lot) + 200 of February's; the 15 points earned expire in March 2027
    assert expiries(ctx, ada) == [(200, utc("2027-02-28 23:00")), (15, utc("2027-03-31 22:00"))]
    assert verify_ledger(ctx).ok

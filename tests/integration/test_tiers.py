"""Tiers against a real database: upgrades in the purchase's transaction, the measures and
windows, the review job under each downgrade policy, returns, manual tiers, ladder changes,
concurrency and the balance's progress.

Unless a test says otherwise the program "shop" (EUR, Europe/Paris) earns 1 point per whole
euro (floor) and its ladder is ``LADDER``: Member from 0, Silver from 500.00 (x1.5, 100 bonus
points), Gold from 1500.00 (x2), spend over the calendar year, ``period_end`` downgrades. The
tiered version is published on 2020-01-01, before every purchase of the tests.
"""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier
from typing import Any

import pytest
from freezegun import freeze_time

from loyalty.adapters.repositories import IdempotencyRepository
from loyalty.domain.basket import PurchaseLine
from loyalty.domain.members import Member
from loyalty.services.points import get_balance
from loyalty.services.programs import (
    CreateProgram,
    create_program,
    draft_tier_moves,
    publish,
    save_draft,
)
from loyalty.services.purchases import PurchaseRecorded, record_purchase
from loyalty.services.tiers import after_return, review_tiers, set_tier, tier_view
from loyalty.services.verification import verify_ledger
from tests.builders import a_member, a_purchase

PUBLISHED = "2020-01-01 00:00:00"

LADDER: dict[str, Any] = {
    "measure": "spend",
    "window": {"type": "calendar_year"},
    "downgrade": {"policy": "period_end", "grace_days": 0},
    "levels": [
        {"id": "member", "name": "Member", "threshold": "0"},
        {"id": "silver", "name": "Silver", "threshold": "500.00", "multiplier": "1.5",
         "bonus_points": 100},
        {"id": "gold", "name": "Gold", "threshold": "1500.00", "multiplier": "2"},
    ],
}


def ladder(**changes: Any) -> dict[str, Any]:
    """``LADDER`` with some top-level keys replaced."""
    tiers = copy.deepcopy(LADDER)
    tiers.update(changes)
    return tiers


def a_tiered_program(ctx, tiers: dict[str, Any] | None = None, *,
                     rules: list[dict[str, Any]] | None = None) -> None:
    """Program "shop" whose version 2, in force from 2020-01-01, has the ladder ``tiers``."""
    with freeze_time(PUBLISHED):
        create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", settings={}))
        save_draft(ctx, "shop", {"settings": {}, "rules": rules or [],
                                 "tiers": tiers or LADDER}, "cli:t")
        publish(ctx, "shop", "cli:t")


def enrolled(ctx, at: str = "2024-06-01 10:00:00") -> Member:
    with freeze_time(at):
        return a_member(ctx)


def buy(ctx, member: Member, amount: str, at: str, **fields: Any) -> PurchaseRecorded:
    """A purchase of ``amount`` EUR (one line, tax 0) at ``at`` (UTC), posted at that instant."""
    with freeze_time(at):
        return record_purchase(ctx, a_purchase(member, amount, **fields)).result


def review(ctx, at: str):
    with freeze_time(at):
        return review_tiers(ctx)


def tier_of(ctx, member: Member) -> str:
    view = tier_view(ctx, "shop", member.id)
    assert view.progress is not None
    return view.progress.tier.id


def progress_of(ctx, member: Member, at: str):
    """The member's progress as of ``at`` (UTC): the window is the one holding ``at``."""
    with freeze_time(at):
        return tier_view(ctx, "shop", member.id).progress


def history_of(ctx, member: Member) -> list[tuple[str | None, str, str]]:
    """(from, to, reason) of every tier change, oldest first."""
    return [(c.from_tier, c.to_tier, c.reason)
            for c in reversed(tier_view(ctx, "shop", member.id).history)]


def events_of(ctx, member: Member) -> list[tuple[str, dict[str, Any]]]:
    """The member's tier events (the outbox also holds its points events)."""
    with ctx.uow(read_only=True) as uow:
        return [(e.type, dict(e.payload)) for e in uow.outbox.events(member.id)
                if e.type.startswith("tier.")]


def available(ctx, member: Member) -> int:
    return get_balance(ctx, "shop", member.id).available


def give_back(ctx, member: Member, spend: str, at: str, *, reference: str = "R-1") -> None:
    """A return of ``spend`` EUR of one purchase: the tier consequences only (``after_return``)."""
    with freeze_time(at), ctx.uow() as uow:
        program = uow.programs.get("shop")
        now = ctx.clock.now()
        compiled = uow.programs.compiled_at(program, now)
        enrolled_at = uow.members.facts_row("shop", member.id)[2]
        minor = int(spend.replace(".", ""))
        after_return(uow, program, compiled, member.id, enrolled_at=enrolled_at,
                     occurred_at=now, now=now, spend=minor, points=0, purchases=1,
                     reference=reference)
        uow.commit()


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


def utc(text: str) -> datetime:
    """The UTC instant ``text`` (``2026-12-31T23:00:00``: midnight of 1 January in Paris)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- moving up with a purchase ----------------------------------------------------------------


def test_the_purchase_that_crosses_a_threshold_upgrades_the_member_in_its_answer(ctx):
    a_tiered_program(ctx)
    ada = enrolled(ctx)
    first = buy(ctx, ada, "300.00", "2025-03-01 12:00:00")
    assert (first.tier, first.upgraded_from, first.points_earned) == ("member", None, 300)

    crossing = buy(ctx, ada, "250.00", "2025-03-10 12:00:00")  # 300 + 250 = 550.00 >= 500.00

    assert (crossing.tier, crossing.upgraded_from) == ("silver", "member")
    # it earns at Silver: 250 points x1.5 = 375; then the 100 bonus points of reaching Silver
    assert crossing.points_earned == 375
    assert crossing.balance.available == 300 + 375 + 100
    assert available(ctx, ada) == 775
    assert tier_of(ctx, ada) == "silver"
    change = tier_view(ctx, "shop", ada.id).history[0]
    assert (change.from_tier, change.to_tier, change.reason) == ("member", "silver", "threshold")
    assert change.at == utc("2025-03-10T12:00:00")
    assert change.detail == f"purchase {crossing.purchase_id}"
    assert events_of(ctx, ada) == [
        ("tier.upgraded", {"from": "member", "to": "silver", "reason": "threshold"})]
    assert verify_ledger(ctx).ok


def test_an_upgrade_is_undone_with_the_purchase_whose_transaction_fails(ctx, monkeypatch):
    a_tiered_program(ctx)
    ada = enrolled(ctx)
    buy(ctx, ada, "300.00", "2025-03-01 12:00:00")
    original = IdempotencyRepository.store

    def fail(self, *args, **kwargs):  # the last write of the purchase's transaction
        raise RuntimeError("the database went away")

    monkeypatch.setattr(IdempotencyRepository, "store", fail)
    with pytest.raises(RuntimeError):
        buy(ctx, ada, "250.00", "2025-03-10 12:00:00", external_id="T-LOST")

    # nothing of the upgrade outlived the purchase: no tier, no history, no event, no bonus
    assert tier_of(ctx, ada) == "member"
    assert history_of(ctx, ada) == [] and events_of(ctx, ada) == []
    assert available(ctx, ada) == 300
    monkeypatch.setattr(IdempotencyRepository, "store", original)
    again = buy(ctx, ada, "250.00", "2025-03-10 12:00:00", external_id="T-LOST")
    assert (again.tier, again.upgraded_from) == ("silver", "member")
    assert available(ctx, ada) == 300 + 375 + 100
    assert verify_ledger(ctx).ok


def test_posting_the_crossing_purchase_again_replays_it_and_upgrades_nothing(ctx):
    a_tiered_program(ctx)
    ada = enrolled(ctx)
    with freeze_time("2025-03-10 12:00:00"):
        crossing = a_purchase(ada, "500.00", external_id="T-CROSS")
        first = record_purchase(ctx, crossing)
        replay = record_purchase(ctx, crossing)

    assert replay.replayed and replay.result == first.result
    assert (replay.result.tier, replay.result.upgraded_from) == ("silver", "member")
    assert history_of(ctx, ada) == [("member", "silver", "threshold")]
    assert available(ctx, ada) == 750 + 100  # 500 x1.5 and one bonus


def test_the_crossing_purchase_earns_at_the_old_tier_when_the_program_says_so(ctx):
    a_tiered_program(ctx, ladder(upgrade_earns_at_new_tier=False))
    ada = enrolled(ctx)
    buy(ctx, ada, "300.00", "2025-03-01 12:00:00")

    crossing = buy(ctx, ada, "250.00", "2025-03-10 12:00:00")
    after = buy(ctx, ada, "100.00", "2025-03-11 12:00:00")

    assert (crossing.tier, crossing.upgraded_from) == ("silver", "member")
    assert crossing.points_earned == 250  # x1, the Member rate
    assert after.points_earned == 150  # 100 x1.5: the next purchase is at Silver
    assert available(ctx, ada) == 300 + 250 + 100 + 150


def test_thresholds_are_inclusive(ctx):
    a_tiered_program(ctx)
    ada, bob = enrolled(ctx), enrolled(ctx)

    below = buy(ctx, ada, "499.99", "2025-03-01 12:00:00")
    exactly = buy(ctx, bob, "500.00", "2025-03-01 12:00:00")
    one_cent_more = buy(ctx, ada, "0.01", "2025-03-02 12:00:00")  # 499.99 + 0.01 = 500.00

    assert (below.tier, below.upgraded_from) == ("member", None)
    assert (exactly.tier, exactly.upgraded_from) == ("silver", "member")
    assert (one_cent_more.tier, one_cent_more.upgraded_from) == ("silver", "member")


def test_spend_counts_the_lines_with_tax_after_discounts_and_not_shipping(ctx):
    a_tiered_program(ctx)
    ada, bob = enrolled(ctx), enrolled(ctx)
    # 2 x 260.00 - 20.00 discount = 500.00, tax 83.33 included; shipping 30.00 not counted
    lines = (PurchaseLine("SKU-1", 2, 26000, discount=2000, tax=8333),)
    reached = buy(ctx, ada, "0", "2025-03-01 12:00:00", lines=lines, shipping=3000)
    # 2 x 260.00 - 20.01 = 499.99: 30.00 of shipping would have made it 529.99
    short = (PurchaseLine("SKU-1", 2, 26000, discount=2001, tax=8333),)
    missed = buy(ctx, bob, "0", "2025-03-01 12:00:00", lines=short, shipping=3000)

    assert (reached.tier, reached.upgraded_from) == ("silver", "member")
    assert (missed.tier, missed.upgraded_from) == ("member", None)
    assert progress_of(ctx, bob, "2025-03-02 12:00:00").measure == 49999


def test_a_purchase_that_jumps_two_levels_gives_both_bonuses(ctx):
    gold_bonus = ladder()
    gold_bonus["levels"][2]["bonus_points"] = 250
    a_tiered_program(ctx, gold_bonus)
    ada = enrolled(ctx)

    jump = buy(ctx, ada, "1600.00", "2025-03-01 12:00:00")

    assert (jump.tier, jump.upgraded_from) == ("gold", "member")
    assert jump.points_earned == 3200  # 1600 x2, at Gold
    assert available(ctx, ada) == 3200 + 100 + 250  # both bonuses
    assert history_of(ctx, ada) == [("member", "gold", "threshold")]
    with ctx.uow(read_only=True) as uow:
        awarded = uow.usage.rules_ever_awarded(ada.id, ["tier-bonus-silver", "tier-bonus-gold"])
    assert awarded == {"tier-bonus-silver", "tier-bonus-gold"}


def test_a_tier_bonus_is_given_once_even_when_the_tier_is_reached_again(ctx):
    a_tiered_program(ctx)
    ada = enrolled(ctx)
    buy(ctx, ada, "600.00", "2025-03-01 12:00:00")  # 600 x1.5 = 900, + 100 bonus
    assert available(ctx, ada) == 1000

    review(ctx, "2027-01-05 12:00:00")  # 2026 measured 0.00: back to Member
    assert tier_of(ctx, ada) == "member"
    again = buy(ctx, ada, "500.00", "2027-02-01 12:00:00")

    assert (again.tier, again.upgraded_from) == ("silver", "member")
    assert again.points_earned == 750  # 500 x1.5
    assert available(ctx, ada) == 1000 + 750  # and no second bonus
    assert history_of(ctx, ada) == [("member", "silver", "threshold"),
                                    ("silver", "member", "period_review"),
                                    ("member", "silver", "threshold")]
    assert verify_ledger(ctx).ok


# -- the measures -----------------------------------------------------------------------------


def test_the_points_measure_counts_only_qualifying_points(ctx):
    points = ladder(measure="points")
    for level, threshold in zip(points["levels"], (0, 500, 1500), strict=True):
        level["threshold"] = threshold
    rules = [
        {"id": "base", "name": "1 point per euro",
         "effect": {"type": "per_currency_unit", "points": "1"}},
        {"id": "gift", "name": "50 points a visit", "effect": {"type": "fixed", "points": 50},
         "qualifying": False},
    ]
    a_tiered_program(ctx, points, rules=rules)
    ada = enrolled(ctx)

    first = buy(ctx, ada, "450.00", "2025-03-01 12:00:00")  # 450 qualifying + 50 gift
    crossing = buy(ctx, ada, "60.00", "2025-03-02 12:00:00")  # 450 + 60 = 510 >= 500
    later = buy(ctx, ada, "100.00", "2025-03-03 12:00:00")

    assert (first.points_earned, first.tier) == (500, "member")
    assert (crossing.tier, crossing.upgraded_from) == ("silver", "member")
    assert crossing.points_earned == 165  # (60 + 50) x1.5
    assert later.points_earned == 225  # (100 + 50) x1.5
    # qualifying: 450 + 60 + 100 = 610; not the gifts (150), the Silver extras (55 + 75) nor
    # the bonus (100)
    progress = progress_of(ctx, ada, "2025-03-04 12:00:00")
    assert (progress.measure, progress.needed) == (610, 1500 - 610)
    assert available(ctx, ada) == 500 + 165 + 100 + 225


def test_the_purchases_measure_counts_purchases(ctx):
    count = ladder(measure="purchases")
    count["levels"] = [{"id": "member", "name": "Member", "threshold": 0},
                       {"id": "regular", "name": "Regular", "threshold": 3, "bonus_points": 30},
                       {"id": "frequent", "name": "Frequent", "threshold": 5}]
    a_tiered_program(ctx, count)
    ada = enrolled(ctx)

    answers = [buy(ctx, ada, "1.00", f"2025-03-0{day} 12:00:00") for day in range(1, 6)]

    assert [a.tier for a in answers] == ["member", "member", "regular", "regular", "frequent"]
    assert [a.upgraded_from for a in answers] == [None, None, "member", None, "regular"]
    progress = progress_of(ctx, ada, "2025-03-06 12:00:00")
    assert (progress.measure, progress.next_tier, progress.needed) == (5, None, None)
    assert available(ctx, ada) == 5 + 30


# -- windows and the review job ---------------------------------------------------------------


def test_a_lifetime_window_adds_up_over_the_years_and_never_drops(ctx):
    a_tiered_program(ctx, ladder(window={"type": "lifetime"}))
    ada = enrolled(ctx, "2020-06-01 10:00:00")
    buy(ctx, ada, "300.00", "2021-03-01 12:00:00")

    crossing = buy(ctx, ada, "250.00", "2024-11-01 12:00:00")  # 300 + 250, three years apart

    assert (crossing.tier, crossing.upgraded_from) == ("silver", "member")
    report = review(ctx, "2030-01-05 12:00:00")
    assert (report.members, report.downgraded) == (1, 0)
    progress = tier_view(ctx, "shop", ada.id).progress
    assert (progress.tier.id, progress.requalify_by, progress.would_fall_to) == (
        "silver", None, None)


def test_a_rolling_window_drops_the_tier_at_the_first_monthly_review_without_it(ctx):
    a_tiered_program(ctx, ladder(window={"type": "rolling", "months": 3}))
    ada = enrolled(ctx, "2025-01-02 10:00:00")
    buy(ctx, ada, "600.00", "2025-01-15 12:00:00")

    # February reviewed: the 3 months to 28 Feb 24:00 include 15 January
    assert review(ctx, "2025-03-05 12:00:00").downgraded == 0
    # March reviewed: the 3 months from 31 Dec 24:00 still include 15 January
    assert review(ctx, "2025-04-10 12:00:00").downgraded == 0
    assert tier_of(ctx, ada) == "silver"
    # April reviewed: the 3 months from 30 Jan 24:00 do not
    assert review(ctx, "2025-05-03 12:00:00").downgraded == 1

    assert tier_of(ctx, ada) == "member"
    change = tier_view(ctx, "shop", ada.id).history[0]
    assert (change.reason, change.at) == ("period_review", utc("2025-04-30T22:00:00"))


def test_the_calendar_year_turns_at_midnight_in_the_program_zone(ctx):
    a_tiered_program(ctx)
    ada, bob = enrolled(ctx), enrolled(ctx)
    buy(ctx, ada, "400.00", "2025-06-01 12:00:00")
    buy(ctx, bob, "400.00", "2025-06-01 12:00:00")

    late = buy(ctx, ada, "200.00", "2025-12-31 22:59:59")  # 23:59:59 in Paris: still 2025
    early = buy(ctx, bob, "200.00", "2025-12-31 23:00:00")  # midnight in Paris: 2026

    assert (late.tier, late.upgraded_from) == ("silver", "member")
    assert (early.tier, early.upgraded_from) == ("member", None)
    assert progress_of(ctx, bob, "2026-01-02 12:00:00").measure == 20000  # 2026 only

    # 2025 reviewed: Ada measured 600.00 and keeps Silver through 2026
    assert review(ctx, "2026-01-05 12:00:00").downgraded == 0
    assert tier_of(ctx, ada) == "silver"
    # 2026 reviewed: 0.00, back to Member when 2027 began in Paris
    assert review(ctx, "2027-01-05 12:00:00").downgraded == 1
    change = tier_view(ctx, "shop", ada.id).history[0]
    assert (change.from_tier, change.to_tier, change.reason) == ("silver", "member",
                                                                 "period_review")
    assert change.at == utc("2026-12-31T23:00:00")


def test_a_membership_year_runs_from_the_enrolment_anniversary(ctx):
    a_tiered_program(ctx, ladder(window={"type": "membership_year"}))
    ada = enrolled(ctx, "2024-05-20 10:00:00")  # 12:00 in Paris: the anniversary is 20 May

    buy(ctx, ada, "300.00", "2025-05-19 21:59:59")  # 19 May 23:59:59 in Paris: first year
    second_year = buy(ctx, ada, "300.00", "2025-05-19 22:00:00")  # 20 May 00:00: second year
    crossing = buy(ctx, ada, "200.00", "2025-06-01 12:00:00")  # 300 + 200 in the second year

    assert (second_year.tier, second_year.upgraded_from) == ("member", None)
    assert (crossing.tier, crossing.upgraded_from) == ("silver", "member")
    progress = progress_of(ctx, ada, "2025-07-01 12:00:00")
    assert progress.requalify_by == utc("2026-05-19T22:00:00")

    assert review(ctx, "2026-05-19 21:00:00").downgraded == 0  # the year has not ended
    assert review(ctx, "2026-05-21 12:00:00").downgraded == 0  # it measured 500.00
    assert tier_of(ctx, ada) == "silver"
    assert review(ctx, "2027-05-21 12:00:00").downgraded == 1  # the third measured 0.00
    change = tier_view(ctx, "shop", ada.id).history[0]
    assert (change.to_tier, change.at) == ("member", utc("2027-05-19T22:00:00"))


# Gold reached on 10 January 2025 by a member enrolled on 15 June 2024 (12:00 in Paris), then
# nothing: when the first review of an empty period runs, and when the 30 days of grace are
# over (within the same period, so that no other review happens).
WINDOWS = {
    # 2026 is the first empty year
    "calendar_year": ({"type": "calendar_year"}, "2027-01-05 12:00:00", "2027-03-06 12:00:00"),
    # 15 June 2025 to 15 June 2026 is the first empty membership year
    "membership_year": ({"type": "membership_year"}, "2026-06-20 12:00:00",
                        "2026-08-19 12:00:00"),
    # April 2025 is the first month whose 3 months (from 30 January) miss 10 January; its
    # grace ends on 31 May, 00:00 in Paris
    "rolling": ({"type": "rolling", "months": 3}, "2025-05-05 12:00:00", "2025-05-31 12:00:00"),
}
POLICIES = {  # the tier the review leaves, and after the grace
    "none": ({"policy": "none"}, "gold", "gold"),
    "period_end": ({"policy": "period_end"}, "member", "member"),
    "one_step": ({"policy": "one_step"}, "silver", "silver"),
    "grace": ({"policy": "period_end", "grace_days": 30}, "gold", "member"),
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("window", WINDOWS)
def test_each_window_under_each_policy(ctx, window, policy):
    shape, first_review, after_grace = WINDOWS[window]
    downgrade, reviewed_to, graced_to = POLICIES[policy]
    a_tiered_program(ctx, ladder(window=shape, downgrade=downgrade))
    ada = enrolled(ctx, "2024-06-15 10:00:00")
    buy(ctx, ada, "1600.00", "2025-01-10 12:00:00")

    report = review(ctx, first_review)

    assert tier_of(ctx, ada) == reviewed_to
    assert report.drops_scheduled == (policy == "grace")
    if policy == "grace":
        assert events_of(ctx, ada)[-1][1]["to"] == "member"
    again = review(ctx, first_review)
    assert (again.upgraded, again.downgraded, again.drops_scheduled) == (0, 0, 0)
    review(ctx, after_grace)
    assert tier_of(ctx, ada) == graced_to


@pytest.mark.parametrize("policy", POLICIES)
def test_a_lifetime_window_never_drops_whatever_the_policy(ctx, policy):
    a_tiered_program(ctx, ladder(window={"type": "lifetime"}, downgrade=POLICIES[policy][0]))
    ada = enrolled(ctx, "2024-06-15 10:00:00")
    buy(ctx, ada, "1600.00", "2025-01-10 12:00:00")

    report = review(ctx, "2030-01-05 12:00:00")

    assert (report.downgraded, report.drops_scheduled) == (0, 0)
    assert tier_of(ctx, ada) == "gold"


def test_the_none_policy_keeps_a_tier_for_life(ctx):
    a_tiered_program(ctx, ladder(downgrade={"policy": "none"}))
    ada = enrolled(ctx)
    buy(ctx, ada, "1500.00", "2025-03-01 12:00:00")

    report = review(ctx, "2028-01-05 12:00:00")

    assert (report.members, report.downgraded, report.drops_scheduled) == (1, 0, 0)
    assert tier_of(ctx, ada) == "gold"
    progress = tier_view(ctx, "shop", ada.id).progress
    assert (progress.requalify_by, progress.would_fall_to) == (None, None)


def test_the_period_end_policy_falls_to_what_the_period_measured(ctx):
    a_tiered_program(ctx)
    ada, bob = enrolled(ctx), enrolled(ctx)
    buy(ctx, ada, "1500.00", "2025-03-01 12:00:00")
    buy(ctx, bob, "1500.00", "2025-03-01 12:00:00")
    buy(ctx, ada, "600.00", "2026-03-01 12:00:00")

    report = review(ctx, "2027-01-05 12:00:00")

    assert (report.members, report.downgraded) == (2, 2)
    assert tier_of(ctx, ada) == "silver"  # 2026 measured 600.00
    assert tier_of(ctx, bob) == "member"  # 2026 measured 0.00: two levels at once
    assert events_of(ctx, bob)[-1] == (
        "tier.downgraded", {"from": "gold", "to": "member", "reason": "period_review"})


def test_the_one_step_policy_drops_one_level_a_period(ctx):
    a_tiered_program(ctx, ladder(downgrade={"policy": "one_step"}))
    ada = enrolled(ctx)
    buy(ctx, ada, "1500.00", "2025-03-01 12:00:00")

    review(ctx, "2027-01-05 12:00:00")  # 2026 measured 0.00
    assert tier_of(ctx, ada) == "silver"
    review(ctx, "2028-01-05 12:00:00")  # 2027 measured 0.00
    assert tier_of(ctx, ada) == "member"
    assert history_of(ctx, ada) == [("member", "gold", "threshold"),
                                    ("gold", "silver", "period_review"),
                                    ("silver", "member", "period_review")]


def test_a_grace_period_warns_then_drops(ctx):
    a_tiered_program(ctx, ladder(downgrade={"policy": "period_end", "grace_days": 30}))
    ada = enrolled(ctx)
    buy(ctx, ada, "600.00", "2025-03-01 12:00:00")

    scheduled = review(ctx, "2027-01-05 12:00:00")  # 2026 measured 0.00

    assert (scheduled.drops_scheduled, scheduled.downgraded) == (1, 0)
    assert tier_of(ctx, ada) == "silver"
    # 1 January 2027 00:00 in Paris + 30 days = 31 January 00:00 in Paris = 30 January 23:00 UTC,
    # 25 days and 11 hours after the job ran
    assert events_of(ctx, ada)[-1] == ("tier.will_drop", {
        "from": "silver", "to": "member", "drop_at": "2027-01-30T23:00:00+00:00", "days": 25})
    waiting = review(ctx, "2027-01-30 22:59:59")  # the last second of the grace
    assert (waiting.downgraded, waiting.drops_scheduled) == (0, 0)
    assert tier_of(ctx, ada) == "silver"

    dropped = review(ctx, "2027-01-30 23:00:00")

    assert dropped.downgraded == 1
    assert tier_of(ctx, ada) == "member"
    change = tier_view(ctx, "shop", ada.id).history[0]
    assert (change.reason, change.detail, change.at) == (
        "period_review", "the grace period ended", utc("2027-01-30T23:00:00"))
    assert events_of(ctx, ada)[-1][0] == "tier.downgraded"


def test_requalifying_during_the_grace_cancels_the_drop(ctx):
    a_tiered_program(ctx, ladder(downgrade={"policy": "period_end", "grace_days": 30}))
    ada = enrolled(ctx)
    buy(ctx, ada, "600.00", "2025-03-01 12:00:00")
    review(ctx, "2027-01-05 12:00:00")
    requalified = buy(ctx, ada, "500.00", "2027-01-15 12:00:00")  # 2027 measures 500.00
    assert (requalified.tier, requalified.upgraded_from) == ("silver", None)

    report = review(ctx, "2027-02-01 12:00:00")

    assert (report.drops_cancelled, report.downgraded) == (1, 0)
    assert tier_of(ctx, ada) == "silver"
    assert [t for t, _ in events_of(ctx, ada)] == ["tier.upgraded", "tier.will_drop",
                                                   "tier.drop_cancelled"]
    assert events_of(ctx, ada)[-1][1] == {"tier": "silver"}
    assert review(ctx, "2027-02-02 12:00:00").drops_cancelled == 0


def test_a_drop_whose_grace_passed_without_a_job_is_made_at_the_end_of_the_grace(ctx):
    a_tiered_program(ctx, ladder(downgrade={"policy": "period_end", "grace_days": 30}))
    ada = enrolled(ctx)
    buy(ctx, ada, "600.00", "2025-03-01 12:00:00")

    report = review(ctx, "2027-03-01 12:00:00")  # first run after the grace

    assert (report.drops_scheduled, report.downgraded) == (0, 1)
    change = tier_view(ctx, "shop", ada.id).history[0]
    assert (change.to_tier, change.at) == ("member", utc("2027-01-30T23:00:00"))


def test_a_member_who_requalified_before_the_review_keeps_the_tier(ctx):
    a_tiered_program(ctx)
    ada = enrolled(ctx)
    buy(ctx, ada, "600.00", "2025-03-01 12:00:00")
    buy(ctx, ada, "600.00", "2027-01-02 12:00:00")  # 2027 already reaches Silver again

    first = review(ctx, "2027-01-05 12:00:00")  # 2026 measured 0.00

    # Thresholds are inclusive and upgrades immediate: with 600.00 in the current year the
    # member is Silver, whatever 2026 measured, so the review has nothing to take away...
    assert (tier_of(ctx, ada), first.downgraded) == ("silver", 0)
    # ...and a second run nothing to give back (as a "ladder_change" it is not)
    second = review(ctx, "2027-01-06 12:00:00")
    assert (second.upgraded, second.downgraded) == (0, 0)
    assert history_of(ctx, ada) == [("member", "silver", "threshold")]


def test_the_review_job_is_idempotent(ctx):
    a_tiered_program(ctx, ladder(downgrade={"policy": "one_step", "grace_days": 10}))
    members = [enrolled(ctx) for _ in range(5)]
    for member, amount in zip(members, ("1500.00", "1500.00", "600.00", "100.00", "0.01"),
                              strict=True):
        buy(ctx, member, amount, "2025-03-01 12:00:00")
    buy(ctx, members[1], "1500.00", "2026-03-01 12:00:00")

    with freeze_time("2027-01-05 12:00:00"):
        first = review_tiers(ctx, batch_size=2)
        events = [events_of(ctx, m) for m in members]
        second = review_tiers(ctx, batch_size=2)

    # Gold (0.00) and Silver (0.00) get a warning; Gold with 1500.00 in 2026 keeps Gold
    assert (first.members, first.drops_scheduled, first.downgraded) == (5, 2, 0)
    assert (second.members, second.upgraded, second.downgraded, second.drops_scheduled,
            second.drops_cancelled) == (5, 0, 0, 0, 0)
    assert [events_of(ctx, m) for m in members] == events
    with freeze_time("2027-01-20 12:00:00"):  # the grace is over on 11 January, 00:00 Paris
        dropped = review_tiers(ctx)
        again = review_tiers(ctx)
    assert dropped.downgraded == 2 and again.downgraded == 0
    assert [tier_of(ctx, m) for m in members] == ["silver", "gold", "member", "member",
                                                  "member"]


def test_the_review_job_is_safe_while_purchases_arrive(ctx):
    a_tiered_program(ctx)
    silvers = [enrolled(ctx) for _ in range(8)]
    newcomers = [enrolled(ctx) for _ in range(4)]
    for member in silvers:
        buy(ctx, member, "600.00", "2025-03-01 12:00:00")  # 900 + 100 bonus points each
    done = threading.Event()
    reports = []

    def job() -> None:
        try:
            reports.append(review_tiers(ctx, batch_size=2))
        finally:
            done.set()

    with freeze_time("2027-01-05 12:00:00"):
        worker = threading.Thread(target=job)
        worker.start()
        for round_ in range(3):
            for member in silvers:  # 10.00 at a time: the 2026 review still drops them
                record_purchase(ctx, a_purchase(member, "10.00", external_id=f"S-{round_}-"
                                                f"{member.id}"))
        for member in newcomers:  # 600.00: each crosses Silver now
            record_purchase(ctx, a_purchase(member, "600.00"))
        worker.join(timeout=120)
        assert done.is_set()
        second = review_tiers(ctx)

    assert reports[0].downgraded == 8
    assert [tier_of(ctx, m) for m in silvers] == ["member"] * 8
    assert [tier_of(ctx, m) for m in newcomers] == ["silver"] * 4
    # each 10.00 earns 15 at Silver or 10 at Member, depending on the race: 30 to 45 in all
    for member in silvers:
        assert 1000 + 30 <= available(ctx, member) <= 1000 + 45
    for member in newcomers:
        assert available(ctx, member) == 900 + 100
    assert (second.upgraded, second.downgraded) == (0, 0)
    assert verify_ledger(ctx).ok


# -- the agent's manual tier ------------------------------------------------------------------


def test_a_manual_tier_is_a_floor_until_it_ends(ctx):
    a_tiered_program(ctx)
    ada = enrolled(ctx)
    buy(ctx, ada, "100.00", "2025-03-01 12:00:00")
    with freeze_time("2026-03-01 12:00:00"):
        set_tier(ctx, "shop", ada.id, "gold", until=utc("2027-06-30T22:00:00"),
                 reason="goodwill after a lost parcel", actor="key:agent")
    assert history_of(ctx, ada)[-1] == ("member", "gold", "manual")

    # 2026 measured 0.00, but Gold is a floor until after the end of the period
    assert review(ctx, "2027-01-05 12:00:00").downgraded == 0
    assert tier_of(ctx, ada) == "gold"
    progress = progress_of(ctx, ada, "2027-03-01 12:00:00")
    # the floor ends before 2027 does: as of now, the review would leave Member
    assert progress.floor_until == utc("2027-06-30T22:00:00")
    assert progress.would_fall_to.id == "member"

    # 2027 measured 0.00, and the floor ended on 30 June
    assert review(ctx, "2028-01-05 12:00:00").downgraded == 1
    assert tier_of(ctx, ada) == "member"


# -- returns ----------------------------------------------------------------------------------


def test_a_return_takes_back_a_tier_reached_this_period_on_the_returned_spend(ctx):
    a_tiered_program(ctx)
    ada = enrolled(ctx)
    buy(ctx, ada, "300.00", "2025-03-01 12:00:00")
    buy(ctx, ada, "250.00", "2025-04-01 12:00:00")  # Silver at 550.00

    give_back(ctx, ada, "100.00", "2025-05-01 12:00:00")  # 450.00 no longer reaches it

    assert tier_of(ctx, ada) == "member"
    change = tier_view(ctx, "shop", ada.id).history[0]
    assert (change.from_tier, change.to_tier, change.reason, change.detail) == (
        "silver", "member", "return", "return R-1")
    assert events_of(ctx, ada)[-1] == (
        "tier.downgraded", {"from": "silver", "to": "member", "reason": "return"})
    assert progress_of(ctx, ada, "2025-05-02 12:00:00").measure == 45000


def test_a_return_that_leaves_the_threshold_reached_changes_nothing(ctx):
    a_tiered_program(ctx)
    ada = enrolled(ctx)
    buy(ctx, ada, "700.00", "2025-03-01 12:00:00")

    give_back(ctx, ada, "200.00", "2025-05-01 12:00:00")  # 500.00 still reaches Silver

    assert tier_of(ctx, ada) == "silver"
    assert len(history_of(ctx, ada)) == 1


def test_a_return_never_goes_below_the_tier_held_when_the_period_began(ctx):
    a_tiered_program(ctx)
    ada = enrolled(ctx)
    buy(ctx, ada, "600.00", "2025-03-01 12:00:00")  # Silver in 2025, kept through 2026
    review(ctx, "2026-01-05 12:00:00")
    buy(ctx, ada, "1500.00", "2026-03-01 12:00:00")  # Gold in 2026

    give_back(ctx, ada, "1200.00", "2026-05-01 12:00:00")  # 300.00 in 2026: Member's

    assert tier_of(ctx, ada) == "silver"  # held on 1 January 2026
    assert history_of(ctx, ada)[-1] == ("gold", "silver", "return")


def test_a_return_leaves_a_tier_held_before_this_period_to_the_review(ctx):
    a_tiered_program(ctx)
    ada = enrolled(ctx)
    buy(ctx, ada, "600.00", "2025-03-01 12:00:00")

    give_back(ctx, ada, "600.00", "2026-02-01 12:00:00")

    assert tier_of(ctx, ada) == "silver"
    assert len(history_of(ctx, ada)) == 1


# -- concurrency --------------------------------------------------------------------------------


def test_concurrent_purchases_that_each_cross_a_threshold_upgrade_once(ctx):
    a_tiered_program(ctx)
    ada = enrolled(ctx)
    buy(ctx, ada, "450.00", "2025-03-01 12:00:00")

    with freeze_time("2025-03-02 12:00:00"):
        outcomes = run_together(12, lambda i: record_purchase(
            ctx, a_purchase(ada, "60.00", external_id=f"C-{i}")))  # 450 + 60 = 510 alone

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes[:3]
    results = [o.result for o in outcomes]
    assert [r.upgraded_from for r in results].count("member") == 1
    assert {r.tier for r in results} == {"silver"}
    assert history_of(ctx, ada) == [("member", "silver", "threshold")]
    assert [t for t, _ in events_of(ctx, ada)] == ["tier.upgraded"]
    # 450 at Member; 12 x (60 x1.5 = 90) at Silver; one bonus of 100. 450 + 12 x 60 = 1170.00
    assert available(ctx, ada) == 450 + 12 * 90 + 100
    assert progress_of(ctx, ada, "2025-03-03 12:00:00").measure == 117000
    assert verify_ledger(ctx).ok


# -- changing the ladder ------------------------------------------------------------------------


def test_a_lower_threshold_moves_members_up_through_the_job_and_the_preview_counts_them(ctx):
    a_tiered_program(ctx)
    near, low, gold, silver, idle = (enrolled(ctx) for _ in range(5))
    buy(ctx, near, "450.00", "2025-03-01 12:00:00")
    buy(ctx, low, "100.00", "2025-03-01 12:00:00")
    buy(ctx, gold, "1600.00", "2025-03-01 12:00:00")
    buy(ctx, silver, "600.00", "2025-03-01 12:00:00")
    cheaper = ladder()
    cheaper["levels"][1]["threshold"] = "400.00"

    with freeze_time("2025-06-01 12:00:00"):
        save_draft(ctx, "shop", {"settings": {}, "rules": [], "tiers": cheaper}, "cli:t")
        moves = draft_tier_moves(ctx, "shop")
        publish(ctx, "shop", "cli:t")

    assert (moves.members, moves.up, moves.down, moves.unchanged) == (5, 1, 0, 4)
    assert moves.by_tier == {"member": 2, "silver": 2, "gold": 1}
    report = review(ctx, "2025-06-02 12:00:00")
    assert (report.members, report.upgraded, report.downgraded) == (5, 1, 0)
    assert tier_of(ctx, near) == "silver"
    change = tier_view(ctx, "shop", near.id).history[0]
    assert (change.from_tier, change.to_tier, change.reason) == ("member", "silver",
                                                                 "ladder_change")
    assert available(ctx, near) == 450 + 100  # the bonus of reaching Silver
    assert [tier_of(ctx, m) for m in (low, gold, silver, idle)] == [
        "member", "gold", "silver", "member"]
    assert review(ctx, "2025-06-03 12:00:00").upgraded == 0


# -- progress in the balance ----------------------------------------------------------------------


def test_the_balance_shows_the_tier_progress(ctx):
    a_tiered_program(ctx)
    ada, bob = enrolled(ctx), enrolled(ctx)
    buy(ctx, ada, "620.00", "2025-03-01 12:00:00")
    buy(ctx, bob, "620.00", "2025-03-01 12:00:00")
    buy(ctx, bob, "120.00", "2026-02-01 12:00:00")

    with freeze_time("2025-09-10 12:00:00"):
        tier = get_balance(ctx, "shop", ada.id).tier
    # 1500.00 - 620.00 = 880.00 to Gold; 620.00 keeps Silver at the end of 2025 in Paris
    assert (tier.tier, tier.tier_name, tier.measure_kind, tier.measure) == (
        "silver", "Silver", "spend", "620.00")
    assert (tier.next_tier, tier.next_tier_name, tier.needed) == ("gold", "Gold", "880.00")
    assert (tier.requalify_by, tier.would_fall_to, tier.floor_until) == (
        utc("2025-12-31T23:00:00"), "silver", None)

    with freeze_time("2026-03-01 12:00:00"):
        tier = get_balance(ctx, "shop", bob.id).tier
    # 2026 so far: 120.00; 1500.00 - 120.00 = 1380.00; 120.00 would leave Member
    assert (tier.tier, tier.measure, tier.needed) == ("silver", "120.00", "1380.00")
    assert (tier.requalify_by, tier.would_fall_to) == (utc("2026-12-31T23:00:00"), "member")


def test_the_progress_under_one_step_falls_one_level_at_most(ctx):
    a_tiered_program(ctx, ladder(downgrade={"policy": "one_step"}))
    ada = enrolled(ctx)
    buy(ctx, ada, "1600.00", "2025-03-01 12:00:00")
    review(ctx, "2026-01-05 12:00:00")  # 2025 measured 1600.00: Gold through 2026

    with freeze_time("2026-04-01 10:00:00"):
        tier = get_balance(ctx, "shop", ada.id).tier

    # at the top: nothing next; 0.00 so far in 2026 would leave Silver, one step down
    assert (tier.tier, tier.measure, tier.next_tier, tier.needed) == ("gold", "0.00", None, None)
    assert (tier.requalify_by, tier.would_fall_to) == (utc("2026-12-31T23:00:00"), "silver")


def test_a_program_without_tiers_has_no_tier_progress(ctx):
    with freeze_time(PUBLISHED):
        create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", settings={}))
    ada = enrolled(ctx)
    answer = buy(ctx, ada, "600.00", "2025-03-01 12:00:00")
    assert (answer.tier, answer.upgraded_from) == (None, None)
    assert get_balance(ctx, "shop", ada.id).tier is None

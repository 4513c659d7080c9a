"""Earn rules against a real database (SQLite and PostgreSQL): program versions in force at a
purchase's instant, limits that remember past awards, member facts read from history, events
and birthdays, and the marketer's tools (draft, publish, simulate, preview, back-test).

Programs are written as a few lines of YAML, in Paris time (the program's zone) where it matters.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from freezegun import freeze_time
from sqlalchemy import func, select, update

from loyalty.adapters.orm import EventRow, LedgerEntryRow, MemberRow, RuleBudgetRow
from loyalty.domain.basket import Basket, Event, PurchaseLine
from loyalty.domain.errors import (
    IdempotencyKeyReused,
    InvalidDefinition,
    InvalidRequest,
    MemberNotActive,
    MemberNotFound,
    NotFound,
    VersionNotFound,
)
from loyalty.domain.members import Identity, Member
from loyalty.rules.program import Program
from loyalty.services.events import RecordEvent, fire_birthdays, record_event
from loyalty.services.members import EnrollMember, MemberRef, enroll_member
from loyalty.services.points import get_balance, ledger_history
from loyalty.services.programs import (
    CreateProgram,
    create_program,
    get_draft,
    get_version,
    list_versions,
    publish,
    save_draft,
)
from loyalty.services.purchases import record_purchase
from loyalty.services.simulation import (
    HypotheticalMember,
    Simulate,
    backtest,
    preview_purchase,
    simulate,
)
from loyalty.services.verification import verify_ledger
from tests.api.support import table_counts
from tests.builders import a_member, a_purchase

PARIS = ZoneInfo("Europe/Paris")
MARKETER = "cli:marketer"

BASE_RATE = """
- id: base
  name: 1 point per euro
  effect: {type: per_currency_unit, points: "1"}
"""


# Frozen instants differ from test to test on purpose: compiled versions are cached per process
# by (program id, version, publication instant), and every test re-creates the program "shop".


def rules(document: str) -> list[dict[str, Any]]:
    return yaml.safe_load(textwrap.dedent(document))


def a_program_with(ctx, *documents: str, **settings: Any) -> Program:
    """The program "shop" (EUR, Europe/Paris) whose version 1 holds these YAML rules."""
    return create_program(ctx, CreateProgram(
        "shop", "Shop", "EUR", "Europe/Paris", settings,
        [rule for document in documents for rule in rules(document)]))


def paris(wall_clock: str) -> datetime:
    return datetime.fromisoformat(wall_clock).replace(tzinfo=PARIS)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def buy(ctx, member: Member, amount: str, at: datetime, **fields: Any):
    return record_purchase(ctx, a_purchase(member, amount, occurred_at=at, **fields)).result


def entries(ctx, member: Member):
    """The member's ledger, oldest first."""
    return list(reversed(ledger_history(ctx, "shop", member.id, limit=100).entries))


def count(ctx, row) -> int:
    with ctx.uow(read_only=True) as uow:
        return uow.session.scalar(select(func.count()).select_from(row))


def a_member_born(ctx, birth_date: str) -> Member:
    return enroll_member(ctx, EnrollMember(
        "shop", (Identity.parse(f"email:born-{birth_date}@example.com"),),
        {"birth_date": birth_date})).result


def close(ctx, member: Member) -> None:
    with ctx.uow() as uow:
        uow.session.execute(update(MemberRow).where(MemberRow.id == member.id)
                            .values(status="closed"))
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


# -- versions in force ------------------------------------------------------------------------

SPRING_BONUS = """
- id: spring-bonus
  name: 10 points on every purchase
  effect: {type: fixed, points: 10}
"""


def test_a_purchase_is_evaluated_against_the_version_in_force_at_its_occurred_at(ctx):
    with freeze_time("2026-05-04 10:00:00") as frozen:
        a_program_with(ctx, BASE_RATE)
        ada = a_member(ctx)
        save_draft(ctx, "shop", {"rules": rules(BASE_RATE + SPRING_BONUS)}, MARKETER)
        # in force from midnight in Paris on 5 May, 22:00 UTC on 4 May (CEST, UTC+2)
        published = publish(ctx, "shop", MARKETER, effective_from=paris("2026-05-05 00:00"))
        assert published.version == 2
        assert published.effective_from == utc("2026-05-04 22:00")
        assert get_version(ctx, "shop").version == 1  # still version 1 now

        frozen.move_to("2026-05-05 10:00:00")
        before = buy(ctx, ada, "20.00", utc("2026-05-04 21:59"))  # 23:59 in Paris
        after = buy(ctx, ada, "20.00", utc("2026-05-04 22:00"))  # 00:00 in Paris: version 2

    assert (before.program_version, before.points_earned) == (1, 20)  # 20 EUR x 1
    assert (after.program_version, after.points_earned) == (2, 30)  # 20 EUR x 1 + 10
    first, second = entries(ctx, ada)
    assert (first.rule_version, first.rules, first.rule_id) == (1, ("base",), "base")
    assert (second.rule_version, second.rules) == (2, ("base", "spring-bonus"))
    assert second.rule_id is None  # two rules applied: none of them alone
    assert list(first.explanation) == list(before.explanation)
    assert list(second.explanation) == list(after.explanation)
    assert [line["points"] for line in second.explanation] == [20, 10]
    assert get_balance(ctx, "shop", ada.id).available == 50
    assert verify_ledger(ctx).ok


def test_a_published_version_never_changes_when_the_next_draft_is_edited(ctx):
    with freeze_time("2026-05-06 10:00:00") as frozen:
        a_program_with(ctx, BASE_RATE)
        ada = a_member(ctx)
        save_draft(ctx, "shop", {"rules": rules(BASE_RATE + SPRING_BONUS)}, MARKETER)
        publish(ctx, "shop", MARKETER)  # in force now
        version_2 = get_version(ctx, "shop", 2).document
        frozen.move_to("2026-05-06 11:00:00")
        save_draft(ctx, "shop", {"rules": rules(BASE_RATE)}, MARKETER)

        assert get_version(ctx, "shop", 2).document == version_2
        assert get_draft(ctx, "shop").saved
        assert buy(ctx, ada, "10.00", utc("2026-05-06 10:30")).points_earned == 20  # 10 + 10

    listed = list_versions(ctx, "shop")
    assert [v.version for v in listed] == [1, 2]
    assert listed[0].effective_from is None  # version 1 is in force from the beginning
    assert listed[1].effective_from == utc("2026-05-06 10:00")
    assert [r["id"] for r in get_version(ctx, "shop", 1).document["rules"]] == ["base"]


# -- limits that remember past awards ---------------------------------------------------------

DOUBLE_CAPPED_PER_DAY = """
- id: double
  name: 2 points per euro, 50 a day
  effect: {type: per_currency_unit, points: "2"}
  limits:
    per_member: [{period: day, points: 50}]
"""


@freeze_time("2026-06-10 23:00:00")
def test_a_daily_cap_holds_across_purchases_and_resets_at_midnight_in_the_program_zone(ctx):
    a_program_with(ctx, DOUBLE_CAPPED_PER_DAY)
    ada = a_member(ctx)

    # 10 June in Paris (CEST, UTC+2)
    evening = buy(ctx, ada, "20.00", utc("2026-06-10 20:00"))  # 22:00: 40 of the 50
    late = buy(ctx, ada, "20.00", utc("2026-06-10 21:30"))  # 23:30: 40 asked, 10 left
    # 11 June in Paris, while it is still 10 June in UTC
    midnight = buy(ctx, ada, "20.00", utc("2026-06-10 22:15"))  # 00:15: a new day, 40
    again = buy(ctx, ada, "10.00", utc("2026-06-10 22:30"))  # 00:30: 20 asked, 10 left

    assert [p.points_earned for p in (evening, late, midnight, again)] == [40, 10, 40, 10]
    assert late.explanation[0]["cut"] == "capped at 50 per member per day (10 left)"
    assert get_balance(ctx, "shop", ada.id).available == 100  # 40 + 10 + 40 + 10
    assert verify_ledger(ctx).ok


MONTHLY_VISIT_BONUS = """
- id: visit
  name: 30 points a visit, 100 a month
  effect: {type: fixed, points: 30}
  limits:
    per_member: [{period: month, points: 100}]
"""


@freeze_time("2026-06-01 12:00:00")
def test_a_monthly_cap_gives_what_is_left_then_nothing_until_next_month_in_paris(ctx):
    a_program_with(ctx, MONTHLY_VISIT_BONUS)
    ada, bob = a_member(ctx), a_member(ctx)
    may = [buy(ctx, ada, "5.00", paris(f"2026-05-{day} 12:00")) for day in (10, 15, 20, 25)]
    last_evening = buy(ctx, ada, "5.00", utc("2026-05-31 21:30"))  # 23:30 on 31 May in Paris
    june = buy(ctx, ada, "5.00", utc("2026-05-31 22:30"))  # 00:30 on 1 June in Paris
    others = buy(ctx, bob, "5.00", paris("2026-05-31 23:00"))

    assert [p.points_earned for p in may] == [30, 30, 30, 10]  # 30 x 3 = 90, then 100 - 90
    assert last_evening.points_earned == 0
    assert last_evening.explanation[0]["cut"] == "capped at 100 per member per month (0 left)"
    assert june.points_earned == 30
    assert others.points_earned == 30  # the cap is per member
    assert get_balance(ctx, "shop", ada.id).available == 130  # 100 in May, 30 in June
    # a purchase that earned nothing leaves no ledger entry: 4 in May + 1 in June, and bob's
    assert count(ctx, LedgerEntryRow) == 6
    assert verify_ledger(ctx).ok


WELCOME_ONCE = """
- id: welcome
  name: 100 points on a first purchase
  effect: {type: fixed, points: 100}
  limits: {once_per_member: true}
"""


@freeze_time("2026-06-02 12:00:00")
def test_a_once_per_member_rule_gives_each_member_once_across_purchases(ctx):
    a_program_with(ctx, BASE_RATE, WELCOME_ONCE)
    ada, bob = a_member(ctx), a_member(ctx)

    first = buy(ctx, ada, "10.00", utc("2026-06-02 08:00"))
    second = buy(ctx, ada, "10.00", utc("2026-06-02 09:00"))
    bobs = buy(ctx, bob, "10.00", utc("2026-06-02 09:30"))

    assert first.points_earned == 110  # 10 + 100
    assert second.points_earned == 10
    assert second.explanation[1]["text"] == "already given to this member once"
    assert bobs.points_earned == 110
    assert [e.rules for e in entries(ctx, ada)] == [("base", "welcome"), ("base",)]


LAUNCH_BUDGET = """
- id: launch
  name: 100 points while the 1050 of the budget last
  effect: {type: fixed, points: 100}
  limits: {budget: 1050}
"""


def budget_spent(ctx, rule_id: str) -> int:
    with ctx.uow(read_only=True) as uow:
        return uow.session.scalar(select(RuleBudgetRow.spent)
                                  .where(RuleBudgetRow.rule_id == rule_id))


@freeze_time("2026-06-03 12:00:00")
def test_a_rule_budget_gives_what_is_left_then_nothing(ctx):
    a_program_with(ctx, BASE_RATE, LAUNCH_BUDGET)
    members = [a_member(ctx) for _ in range(12)]

    earned = [buy(ctx, m, "10.00", utc("2026-06-03 11:00")).points_earned for m in members]

    # 10 members get 10 + 100; the 11th the last 50 of 1050; the 12th the base rate only
    assert earned == [110] * 10 + [60, 10]
    assert budget_spent(ctx, "launch") == 1050


def test_a_rule_budget_is_never_overspent_by_concurrent_purchases(ctx):
    a_program_with(ctx, BASE_RATE, LAUNCH_BUDGET)
    members = [a_member(ctx) for _ in range(16)]

    outcomes = run_together(16, lambda i: record_purchase(
        ctx, a_purchase(members[i], "10.00", external_id=f"LAUNCH-{i}")))

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes[:3]
    launch = Counter(o.result.points_earned - 10 for o in outcomes)  # 10 points of base rate
    assert launch == {100: 10, 50: 1, 0: 5}  # 1050 = 10 x 100 + 50, five come too late
    assert budget_spent(ctx, "launch") == 1050
    assert sum(o.result.points_earned for o in outcomes) == 16 * 10 + 1050
    assert verify_ledger(ctx).ok


# -- member facts read from history -----------------------------------------------------------

FROM_THE_THIRD_VISIT = """
- id: regular
  name: 5 points from the third purchase on
  conditions: {fact: member.purchases, op: gte, value: 2}
  effect: {type: fixed, points: 5}
"""


@freeze_time("2026-06-04 12:00:00")
def test_member_purchases_counts_the_purchases_made_before_this_one(ctx):
    a_program_with(ctx, BASE_RATE, FROM_THE_THIRD_VISIT)
    ada = a_member(ctx)

    earned = [buy(ctx, ada, "10.00", paris(f"2026-06-0{day} 09:00")).points_earned
              for day in (1, 2, 3, 4)]

    # 0 and 1 purchases before: base only; 2 and 3 before: base + 5
    assert earned == [10, 10, 15, 15]


BIG_SPENDER = """
- id: big-spender
  name: 20 points for whoever spent 100 EUR in the last 30 days
  conditions: {fact: member.spend_last_days, days: 30, op: gte, value: "100.00"}
  effect: {type: fixed, points: 20}
"""


@freeze_time("2026-02-21 09:15:00")
def test_member_spend_last_days_adds_up_the_purchases_of_the_window_before_this_one(ctx):
    a_program_with(ctx, BASE_RATE, BIG_SPENDER)
    ada = a_member(ctx)

    january_1 = buy(ctx, ada, "60.00", utc("2026-01-01 12:00"))  # nothing before
    january_20 = buy(ctx, ada, "50.00", utc("2026-01-20 12:00"))  # 60 before: not yet
    january_25 = buy(ctx, ada, "10.00", utc("2026-01-25 12:00"))  # 60 + 50 = 110 before
    # the last 30 days of 14 February begin on 16 January (in Paris): 1 January no longer counts
    february_14 = buy(ctx, ada, "10.00", utc("2026-02-14 12:00"))  # 50 + 10 = 60

    assert [p.points_earned for p in (january_1, january_20, january_25, february_14)] \
        == [60, 50, 30, 10]  # 10 + 20 on 25 January


# -- events -----------------------------------------------------------------------------------

REVIEWS = """
- id: review
  name: 25 points for a review
  trigger: review
  effect: {type: fixed, points: 25}
- id: five-stars
  name: 10 more for five stars
  trigger: review
  conditions: {fact: event.properties.stars, op: gte, value: 5}
  effect: {type: fixed, points: 10}
"""


def a_review(member: Member | str, external_id: str, stars: int, at: datetime) -> RecordEvent:
    member_id = member.id if isinstance(member, Member) else member
    return RecordEvent("shop", MemberRef(member_id=member_id), "review", external_id, at,
                       {"stars": stars})


@freeze_time("2026-06-05 12:00:00")
def test_an_event_earns_through_the_rules_of_its_type(ctx):
    a_program_with(ctx, BASE_RATE, REVIEWS)
    ada = a_member(ctx)

    glowing = record_event(ctx, a_review(ada, "REV-1", 5, utc("2026-06-05 11:00"))).result
    lukewarm = record_event(ctx, a_review(ada, "REV-2", 3, utc("2026-06-05 11:30"))).result
    unrewarded = record_event(ctx, RecordEvent("shop", MemberRef(member_id=ada.id), "newsletter",
                                               "NL-1", utc("2026-06-05 11:45"))).result

    assert (glowing.points_earned, glowing.program_version) == (35, 1)  # 25 + 10
    assert lukewarm.points_earned == 25
    assert unrewarded.points_earned == 0 and unrewarded.explanation == ()
    assert get_balance(ctx, "shop", ada.id).available == 60  # 35 + 25
    first, second = entries(ctx, ada)  # an event that earned nothing leaves no entry
    assert (first.event_id, first.rules, first.rule_version) == (
        glowing.event_id, ("review", "five-stars"), 1)
    assert first.purchase_id is None
    assert second.rules == ("review",)
    assert count(ctx, EventRow) == 3
    assert verify_ledger(ctx).ok


@freeze_time("2026-06-06 12:00:00")
def test_posting_an_event_again_replays_it_and_another_payload_is_refused(ctx):
    a_program_with(ctx, REVIEWS)
    ada = a_member(ctx)
    review = a_review(ada, "REV-1", 5, utc("2026-06-06 11:00"))
    first = record_event(ctx, review)

    again = record_event(ctx, review)
    with pytest.raises(IdempotencyKeyReused):
        record_event(ctx, a_review(ada, "REV-1", 1, utc("2026-06-06 11:00")))

    assert not first.replayed and again.replayed
    assert again.result == first.result
    assert count(ctx, EventRow) == 1
    assert get_balance(ctx, "shop", ada.id).available == 35


@freeze_time("2026-06-07 12:00:00")
def test_an_event_for_a_closed_or_unknown_member_is_refused_and_writes_nothing(ctx):
    a_program_with(ctx, REVIEWS)
    ada = a_member(ctx)
    close(ctx, ada)
    counts = table_counts(ctx)

    with pytest.raises(MemberNotActive):
        record_event(ctx, a_review(ada, "REV-1", 5, utc("2026-06-07 11:00")))
    with pytest.raises(MemberNotFound):
        record_event(ctx, a_review("mem_nobody", "REV-2", 5, utc("2026-06-07 11:00")))

    assert table_counts(ctx) == counts


# -- birthdays --------------------------------------------------------------------------------

BIRTHDAY_GIFT = """
- id: birthday-gift
  name: 200 points on the member's birthday
  trigger: birthday
  effect: {type: fixed, points: 200}
"""


def test_birthdays_fire_once_a_year_on_the_day_in_the_program_zone(ctx):
    # 22:30 UTC on 22 April is 00:30 on 23 April in Paris (CEST, UTC+2)
    with freeze_time("2026-04-22 22:30:00") as frozen:
        a_program_with(ctx, BIRTHDAY_GIFT)
        ada = a_member_born(ctx, "1990-04-23")
        bob = a_member_born(ctx, "1985-04-22")  # his day is over in Paris, not yet in UTC
        a_member(ctx)  # no birth date

        fired = fire_birthdays(ctx)
        fired_again = fire_birthdays(ctx)

        assert (fired.members, fired.points) == (1, 200)
        assert (fired_again.members, fired_again.points) == (0, 0)
        assert get_balance(ctx, "shop", ada.id).available == 200
        assert get_balance(ctx, "shop", bob.id).available == 0
        assert count(ctx, EventRow) == 1

        frozen.move_to("2027-04-23 06:00:00")  # a year later: once more
        assert fire_birthdays(ctx).members == 1
    assert get_balance(ctx, "shop", ada.id).available == 400
    assert verify_ledger(ctx).ok


def test_a_birth_date_given_in_another_iso_form_is_stored_as_a_plain_date_and_celebrated(ctx):
    with freeze_time("2026-04-23 09:00:00"):
        a_program_with(ctx, BIRTHDAY_GIFT)
        ada = a_member_born(ctx, "19900423")

        assert ada.attributes["birth_date"] == "1990-04-23"
        assert fire_birthdays(ctx).members == 1
        assert get_balance(ctx, "shop", ada.id).available == 200


def test_a_29_february_birthday_is_kept_on_28_february_in_other_years(ctx):
    with freeze_time("2027-02-28 10:00:00") as frozen:
        a_program_with(ctx, BIRTHDAY_GIFT)
        leap = a_member_born(ctx, "2000-02-29")
        a_member_born(ctx, "1999-02-28")

        assert fire_birthdays(ctx).members == 2  # 2027 has no 29 February: both today

        frozen.move_to("2028-02-28 10:00:00")
        assert fire_birthdays(ctx).members == 1  # 2028 has one: only the 28 February birthday

        frozen.move_to("2028-02-29 10:00:00")
        assert fire_birthdays(ctx).members == 1
        assert fire_birthdays(ctx).members == 0
    assert get_balance(ctx, "shop", leap.id).available == 400  # 2027 and 2028


# -- simulation and preview -------------------------------------------------------------------

DOUBLE_RATE = """
- id: base
  name: 2 points per euro
  effect: {type: per_currency_unit, points: "2"}
"""
VIP = """
- id: vip
  name: 30 points for VIPs
  conditions: {fact: member.attributes.vip, op: eq, value: true}
  effect: {type: fixed, points: 30}
"""
A_20_EURO_BASKET = (PurchaseLine("SKU-1", 1, 2000),)


def a_simulation(at: datetime, version: str | int, *, member: Member | None = None,
                 **hypothetical: Any) -> Simulate:
    return Simulate(
        "shop", at, basket=Basket("EUR", at, A_20_EURO_BASKET), version=version,
        member=MemberRef(member_id=member.id) if member else None,
        hypothetical=None if member else HypotheticalMember(**hypothetical))


def test_simulate_evaluates_the_draft_the_published_version_or_a_numbered_one(ctx):
    with freeze_time("2026-07-01 10:00:00") as frozen:
        a_program_with(ctx, BASE_RATE, WELCOME_ONCE)
        ada = a_member(ctx)
        buy(ctx, ada, "10.00", utc("2026-07-01 09:00"))  # 10 + 100 welcome
        save_draft(ctx, "shop", {"rules": rules(DOUBLE_RATE + WELCOME_ONCE + VIP)}, MARKETER)
        at = utc("2026-07-01 09:30")
        counts = table_counts(ctx)

        published = simulate(ctx, a_simulation(at, "published", member=ada))
        draft = simulate(ctx, a_simulation(at, "draft", member=ada))
        newcomer = simulate(ctx, a_simulation(at, 1))
        vip = simulate(ctx, a_simulation(at, "draft", attributes={"vip": True}))

        assert table_counts(ctx) == counts
        # ada had her welcome: 20 EUR x 1, or x 2 under the draft
        assert (published.version, published.points, published.earn_base) == (1, 20, "20.00")
        assert published.explanation[1]["text"] == "already given to this member once"
        assert (draft.version, draft.points) == (None, 40)
        assert (newcomer.version, newcomer.points) == (1, 120)  # 20 + 100
        assert vip.points == 170  # 40 + 100 + 30

        frozen.move_to("2026-07-01 11:00:00")
        publish(ctx, "shop", MARKETER)  # version 2, in force from 11:00 UTC
        assert simulate(ctx, a_simulation(utc("2026-07-01 11:30"), "published",
                                          member=ada)).points == 40
        assert simulate(ctx, a_simulation(utc("2026-07-01 10:30"), "published",
                                          member=ada)).version == 1  # before 11:00
        assert simulate(ctx, a_simulation(at, 2, member=ada)).points == 40


@freeze_time("2026-07-02 10:00:00")
def test_simulate_an_event_for_a_hypothetical_member(ctx):
    a_program_with(ctx, REVIEWS)
    at = utc("2026-07-02 09:00")

    simulated = simulate(ctx, Simulate("shop", at, event=Event("review", at, {"stars": 5}),
                                       hypothetical=HypotheticalMember()))

    assert (simulated.points, simulated.earn_base) == (35, None)
    assert [line["rule"] for line in simulated.explanation] == ["review", "five-stars"]


@freeze_time("2026-07-03 10:00:00")
def test_simulate_refuses_a_missing_draft_an_unknown_version_and_an_unknown_member(ctx):
    a_program_with(ctx, BASE_RATE)
    at = utc("2026-07-03 09:00")

    with pytest.raises(InvalidRequest) as no_draft:
        simulate(ctx, a_simulation(at, "draft"))
    with pytest.raises(VersionNotFound):
        simulate(ctx, a_simulation(at, 9))
    with pytest.raises(MemberNotFound):
        simulate(ctx, Simulate("shop", at, basket=Basket("EUR", at, A_20_EURO_BASKET),
                               member=MemberRef(member_id="mem_nobody")))
    assert no_draft.value.field == "version"


@freeze_time("2026-07-04 10:00:00")
def test_a_preview_explains_what_the_purchase_would_earn_and_writes_nothing(ctx):
    a_program_with(ctx, BASE_RATE, WELCOME_ONCE)
    ada = a_member(ctx)
    purchase = a_purchase(ada, "25.00", external_id="TILL-1", occurred_at=utc("2026-07-04 09:00"))
    counts = table_counts(ctx)

    preview = preview_purchase(ctx, purchase)

    assert table_counts(ctx) == counts
    assert (preview.version, preview.points, preview.earn_base) == (1, 125, "25.00")  # 25 + 100
    recorded = record_purchase(ctx, purchase)  # the preview claimed no idempotency key
    assert not recorded.replayed
    assert recorded.result.points_earned == preview.points


# -- back-test --------------------------------------------------------------------------------

BIG_BASKET = """
- id: big-basket
  name: 15 points on baskets of 25 EUR or more
  conditions: {fact: basket.total, op: gte, value: "25.00"}
  effect: {type: fixed, points: 15}
"""


@freeze_time("2026-06-01 08:00:00")
def test_a_backtest_replays_the_range_under_the_draft_and_compares_with_what_was_issued(ctx):
    a_program_with(ctx, BASE_RATE)
    ada, bob, cy = a_member(ctx), a_member(ctx), a_member(ctx)
    buy(ctx, cy, "50.00", paris("2026-04-30 23:30"))  # before the range
    buy(ctx, ada, "10.00", paris("2026-05-02 12:00"))
    buy(ctx, ada, "30.00", paris("2026-05-03 12:00"))
    buy(ctx, bob, "5.00", paris("2026-05-09 23:59"))
    buy(ctx, bob, "40.00", paris("2026-05-10 00:00"))  # the range ends before it
    save_draft(ctx, "shop", {"rules": rules(BASE_RATE + BIG_BASKET)}, MARKETER)
    counts = table_counts(ctx)

    report = backtest(ctx, "shop", paris("2026-05-01 00:00"), paris("2026-05-10 00:00"))

    assert table_counts(ctx) == counts
    assert (report.version, report.purchases, report.members) == (None, 3, 2)
    assert report.points_issued == 45  # 10 + 30 + 5
    assert report.points_simulated == 60  # the same + 15 on ada's 30 EUR basket
    assert report.difference == 15
    assert report.members_affected == 1  # ada
    assert [(r.rule_id, r.points, r.purchases) for r in report.rules] == [
        ("base", 45, 3), ("big-basket", 15, 1)]


@freeze_time("2026-06-02 08:00:00")
def test_a_backtest_of_the_version_that_issued_the_points_finds_no_difference(ctx):
    a_program_with(ctx, BASE_RATE, WELCOME_ONCE)
    ada = a_member(ctx)
    buy(ctx, ada, "10.00", paris("2026-05-02 12:00"))  # 110
    buy(ctx, ada, "20.00", paris("2026-05-03 12:00"))  # 20: the welcome was given

    report = backtest(ctx, "shop", paris("2026-05-01 00:00"), paris("2026-06-01 00:00"),
                      version=1)

    assert (report.points_issued, report.points_simulated) == (130, 130)
    assert (report.difference, report.members_affected) == (0, 0)
    assert [(r.rule_id, r.points, r.purchases) for r in report.rules] == [
        ("base", 30, 2), ("welcome", 100, 1)]


@freeze_time("2026-06-03 08:00:00")
def test_a_backtest_needs_a_range_that_ends_after_it_starts_and_a_draft(ctx):
    a_program_with(ctx, BASE_RATE)

    with pytest.raises(InvalidRequest) as backwards:
        backtest(ctx, "shop", paris("2026-05-10 00:00"), paris("2026-05-01 00:00"), version=1)
    with pytest.raises(InvalidRequest) as no_draft:
        backtest(ctx, "shop", paris("2026-05-01 00:00"), paris("2026-05-10 00:00"))

    assert backwards.value.field == "until"
    assert no_draft.value.field == "version"


# -- draft and publication --------------------------------------------------------------------

THREE_MISTAKES = """
settings:
  earn: {roundng: floor}
rules:
  - id: big-basket
    name: 15 points on baskets of 25 EUR or more
    conditions: {fact: basket.total, op: gte, value: 25}
    effect: {type: fixed, points: 15}
  - id: bonus
    name: a bonus
    effect: {type: fixed, points: -5}
"""


@freeze_time("2026-06-04 08:00:00")
def test_a_draft_with_several_mistakes_is_refused_listing_each_with_its_path(ctx):
    a_program_with(ctx, BASE_RATE)

    with pytest.raises(InvalidDefinition) as raised:
        save_draft(ctx, "shop", yaml.safe_load(THREE_MISTAKES), MARKETER)

    fields = [problem["field"] for problem in raised.value.extensions["problems"]]
    assert sorted(fields) == sorted([
        "settings.earn.roundng", "rules[0].conditions.value", "rules[1].effect.points"])
    assert all(problem["detail"] for problem in raised.value.extensions["problems"])
    assert not get_draft(ctx, "shop").saved  # nothing kept


@freeze_time("2026-06-05 08:00:00")
def test_a_draft_amount_the_currency_cannot_hold_is_refused_with_its_path(ctx):
    a_program_with(ctx, BASE_RATE)
    document = {"rules": rules(BIG_BASKET.replace('"25.00"', '"24.999"'))}

    with pytest.raises(InvalidDefinition) as raised:
        save_draft(ctx, "shop", document, MARKETER)

    assert [p["field"] for p in raised.value.extensions["problems"]] == [
        "rules[0].conditions.value"]


@freeze_time("2026-06-06 08:00:00")
def test_publishing_without_a_draft_is_refused(ctx):
    a_program_with(ctx, BASE_RATE)

    with pytest.raises(InvalidRequest) as raised:
        publish(ctx, "shop", MARKETER)

    assert raised.value.field == "draft"
    assert [v.version for v in list_versions(ctx, "shop")] == [1]


@freeze_time("2026-06-07 08:00:00")
def test_a_version_cannot_take_effect_in_the_past(ctx):
    a_program_with(ctx, BASE_RATE)
    save_draft(ctx, "shop", {"rules": rules(DOUBLE_RATE)}, MARKETER)

    with pytest.raises(InvalidRequest) as raised:
        publish(ctx, "shop", MARKETER, effective_from=utc("2026-06-07 07:59"))

    assert raised.value.field == "effective_from"
    assert [v.version for v in list_versions(ctx, "shop")] == [1]
    assert get_draft(ctx, "shop").saved  # the draft is still there to publish


@freeze_time("2026-06-08 08:00:00")
def test_an_unknown_version_is_not_found(ctx):
    a_program_with(ctx, BASE_RATE)

    with pytest.raises(NotFound):
        get_version(ctx, "shop", 2)

"""Referrals against a real database (SQLite and PostgreSQL): codes, enrolling with a code, the
job that qualifies and completes referrals through ``referral_completed`` rules, and every way
the program refuses to be farmed.

Unless a test says otherwise the program "shop" (EUR, Europe/Paris) earns 1 point per euro, and
a completed referral gives the referrer 500 points and the referee 250 (one rule each, telling
them apart by the event's ``role``). A referral needs a purchase of at least 20.00 EUR that
clears 14 days after it was made.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import delete, select

from loyalty.adapters.orm import EventRow, ReferralCodeRow
from loyalty.domain.errors import InvalidRequest
from loyalty.domain.members import Identity, Member
from loyalty.services import desk
from loyalty.services.members import EnrollMember, enroll_member
from loyalty.services.points import get_balance
from loyalty.services.programs import CreateProgram, create_program
from loyalty.services.purchases import record_purchase
from loyalty.services.referral_jobs import ReferralsReport, complete_referrals
from loyalty.services.referrals import ReferralView, member_referrals
from loyalty.services.returns import RecordReturn, record_return
from loyalty.services.verification import verify_ledger
from tests.api.support import table_counts
from tests.builders import a_purchase

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
AGENT = desk.Actor("key:agent1")

RULES: list[dict[str, Any]] = [
    {
        "id": "base",
        "name": "1 point per euro",
        "effect": {"type": "per_currency_unit", "points": "1"},
    },
    {
        "id": "referrer",
        "name": "500 points for bringing a friend",
        "trigger": "referral_completed",
        "conditions": {"fact": "event.properties.role", "op": "eq", "value": "referrer"},
        "effect": {"type": "fixed", "points": 500},
    },
    {
        "id": "referee",
        "name": "250 points for coming with a friend",
        "trigger": "referral_completed",
        "conditions": {"fact": "event.properties.role", "op": "eq", "value": "referee"},
        "effect": {"type": "fixed", "points": 250},
    },
]
REFERRALS = {"minimum_purchase": "20.00", "clear_after_days": 14}

_ids = iter(range(1, 10**9))


@pytest.fixture
def clock():
    with freeze_time(NOW) as frozen:
        yield frozen


def a_referral_program(ctx, *, currency: str = "EUR", **settings: Any) -> None:
    settings.setdefault("referrals", REFERRALS)
    create_program(ctx, CreateProgram("shop", "Shop", currency, "Europe/Paris", settings, RULES))


def enrol(ctx, *identities: str, code: str | None = None) -> Member:
    identities = identities or (f"card:{next(_ids):08d}",)
    return enroll_member(
        ctx, EnrollMember("shop", tuple(Identity.parse(i) for i in identities), referral_code=code)
    ).result


def code_of(ctx, member: Member) -> str:
    code = member_referrals(ctx, "shop", member.id, limit=10).code
    assert code is not None
    return code


def referred_by(ctx, referrer: Member, *identities: str) -> Member:
    return enrol(ctx, *identities, code=code_of(ctx, referrer))


def buy(ctx, member: Member, amount: str, **fields: Any) -> str:
    return record_purchase(ctx, a_purchase(member, amount, **fields)).result.purchase_id


def referral_of(ctx, referee: Member) -> ReferralView:
    referral = member_referrals(ctx, "shop", referee.id, limit=1).referred_by
    assert referral is not None
    return referral


def status_of(ctx, referee: Member) -> tuple[str, str | None]:
    referral = referral_of(ctx, referee)
    return referral.status, referral.reason


def available(ctx, member: Member) -> int:
    return get_balance(ctx, "shop", member.id).available


def run_job(ctx, **kwargs: Any) -> ReferralsReport:
    return complete_referrals(ctx, **kwargs)


def counts(report: ReferralsReport) -> tuple[int, int, int, int, int]:
    return (
        report.qualified,
        report.completed,
        report.referrer_unrewarded,
        report.back_to_pending,
        report.rejected,
    )


def referral_events(ctx) -> list[tuple[str, str, dict[str, Any], int]]:
    with ctx.uow(read_only=True) as uow:
        return [
            (row.member_id, row.external_id, row.properties, row.points_earned)
            for row in uow.session.scalars(
                select(EventRow)
                .where(EventRow.type == "referral_completed")
                .order_by(EventRow.recorded_at, EventRow.external_id)
            )
        ]


# -- codes --------------------------------------------------------------------------------------


def test_every_member_gets_a_short_unambiguous_code_and_earlier_members_get_one_when_asked(
    ctx, clock
):
    a_referral_program(ctx)
    ada, bob = enrol(ctx), enrol(ctx)
    codes = {code_of(ctx, ada), code_of(ctx, bob)}
    assert len(codes) == 2
    for code in codes:
        assert len(code) == 9 and code[4] == "-"
        assert not set(code.replace("-", "")) & set("01ILOUV")
    # A member enrolled before referrals existed has no code until one is asked for.
    with ctx.uow() as uow:
        uow.session.execute(delete(ReferralCodeRow).where(ReferralCodeRow.member_id == ada.id))
        uow.commit()
    made = code_of(ctx, ada)
    assert made not in codes and code_of(ctx, ada) == made  # made once, then kept


def test_enrolling_with_a_code_as_a_friend_types_it_links_the_friend_to_the_referrer(ctx, clock):
    a_referral_program(ctx)
    ada = enrol(ctx)
    typed = code_of(ctx, ada).replace("-", " ").lower()
    bob = enrol(ctx, code=typed)

    referral = referral_of(ctx, bob)
    assert (referral.referrer_id, referral.status, referral.reason) == (ada.id, "pending", None)
    assert referral.code == code_of(ctx, ada) and referral.referred_at == NOW
    seen_by_ada = member_referrals(ctx, "shop", ada.id, limit=10)
    assert [r.referee_id for r in seen_by_ada.referrals] == [bob.id]
    assert seen_by_ada.referred_by is None
    assert member_referrals(ctx, "shop", bob.id, limit=10).referred_by.referrer_id == ada.id


def test_an_unknown_code_is_refused_and_nothing_is_written(ctx, clock):
    a_referral_program(ctx)
    enrol(ctx)
    before = table_counts(ctx)
    with pytest.raises(InvalidRequest) as refused:
        enrol(ctx, "email:bob@example.com", code="ZZZZ-ZZZZ")
    assert refused.value.field == "referral_code"
    assert table_counts(ctx) == before


# -- the happy path and the job -------------------------------------------------------------------


def test_a_referral_completes_when_the_first_qualifying_purchase_clears_and_rewards_both(
    ctx, clock
):
    a_referral_program(ctx)
    ada = enrol(ctx)
    bob = referred_by(ctx, ada)
    buy(ctx, bob, "19.99")  # below the minimum: does not qualify
    assert counts(run_job(ctx)) == (0, 0, 0, 0, 0)
    clock.tick(timedelta(days=1))
    purchase = buy(ctx, bob, "20.00")
    assert counts(run_job(ctx)) == (1, 0, 0, 0, 0)
    referral = referral_of(ctx, bob)
    assert (referral.status, referral.purchase_id) == ("qualified", purchase)
    assert referral.clears_at == NOW + timedelta(days=15)

    clock.tick(timedelta(days=14) - timedelta(seconds=1))
    assert counts(run_job(ctx)) == (0, 0, 0, 0, 0)  # not yet cleared
    clock.tick(timedelta(seconds=1))
    assert counts(run_job(ctx)) == (0, 1, 0, 0, 0)

    referral = referral_of(ctx, bob)
    assert (referral.status, referral.reason) == ("completed", None)
    assert referral.completed_at == NOW + timedelta(days=15)
    assert available(ctx, ada) == 500
    assert available(ctx, bob) == 19 + 20 + 250
    ref = referral.referral_id
    assert referral_events(ctx) == [
        (bob.id, f"referral:{ref}:referee", {"role": "referee", "referral": ref}, 250),
        (ada.id, f"referral:{ref}:referrer", {"role": "referrer", "referral": ref}, 500),
    ]
    assert verify_ledger(ctx).ok


def test_running_the_job_again_or_later_gives_nothing_twice(ctx, clock):
    a_referral_program(ctx, referrals={"clear_after_days": 0})
    ada = enrol(ctx)
    bob = referred_by(ctx, ada)
    buy(ctx, bob, "30.00")
    assert counts(run_job(ctx)) == (1, 1, 0, 0, 0)  # qualified and clear at once
    clock.tick(timedelta(days=40))
    buy(ctx, bob, "30.00")  # a later purchase is not a second first purchase
    assert counts(run_job(ctx)) == (0, 0, 0, 0, 0)
    assert counts(run_job(ctx)) == (0, 0, 0, 0, 0)
    assert (available(ctx, ada), available(ctx, bob)) == (500, 30 + 30 + 250)
    assert len(referral_events(ctx)) == 2


def test_the_return_window_defaults_to_the_programs_pending_days(ctx, clock):
    a_referral_program(ctx, referrals={}, pending={"days": 30})
    ada = enrol(ctx)
    bob = referred_by(ctx, ada)
    buy(ctx, bob, "5.00")  # no minimum by default
    run_job(ctx)
    assert referral_of(ctx, bob).clears_at == NOW + timedelta(days=30)


def test_the_minimum_purchase_is_compared_in_the_currencys_minor_units(ctx, clock):
    a_referral_program(
        ctx, currency="JPY", referrals={"minimum_purchase": "1000", "clear_after_days": 0}
    )
    ada = enrol(ctx)
    bob, cyd = referred_by(ctx, ada), referred_by(ctx, ada)
    record_purchase(ctx, a_purchase(bob, "999", currency="JPY"))
    record_purchase(ctx, a_purchase(cyd, "1000", currency="JPY"))
    run_job(ctx)
    assert [status_of(ctx, m)[0] for m in (bob, cyd)] == ["pending", "completed"]


def test_a_returned_qualifying_purchase_sends_the_referral_back_and_a_later_one_qualifies(
    ctx, clock
):
    a_referral_program(ctx)
    ada = enrol(ctx)
    bob = referred_by(ctx, ada)
    first = buy(ctx, bob, "40.00")
    run_job(ctx)
    assert referral_of(ctx, bob).purchase_id == first
    clock.tick(timedelta(days=3))
    record_return(ctx, RecordReturn("shop", first, "RET-1", everything=True))
    clock.tick(timedelta(days=3))
    second = buy(ctx, bob, "25.00")
    clock.tick(timedelta(days=8))  # the first purchase's window is over, the second's is not
    report = run_job(ctx)
    assert (report.back_to_pending, report.qualified, report.completed) == (1, 1, 0)
    referral = referral_of(ctx, bob)
    assert (referral.status, referral.purchase_id) == ("qualified", second)
    assert referral.clears_at == NOW + timedelta(days=6 + 14)
    clock.tick(timedelta(days=6))
    assert run_job(ctx).completed == 1
    assert (available(ctx, ada), available(ctx, bob)) == (500, 25 + 250)
    assert verify_ledger(ctx).ok


def test_a_partly_returned_purchase_still_qualifies_while_what_is_left_reaches_the_minimum(
    ctx, clock
):
    a_referral_program(ctx)
    ada = enrol(ctx)
    bob, cyd = referred_by(ctx, ada), referred_by(ctx, ada)
    kept = buy(ctx, bob, "50.00")
    shrunk = buy(ctx, cyd, "50.00")
    run_job(ctx)
    record_return(ctx, RecordReturn("shop", kept, "RET-B", amount=3000, currency="EUR"))
    record_return(ctx, RecordReturn("shop", shrunk, "RET-C", amount=3001, currency="EUR"))
    clock.tick(timedelta(days=14))
    run_job(ctx)
    assert status_of(ctx, bob) == ("completed", None)
    assert status_of(ctx, cyd) == (
        "pending",
        f"purchase {shrunk} was returned; waiting for another qualifying purchase",
    )


def test_a_purchase_returned_before_the_job_ever_saw_it_never_qualifies(ctx, clock):
    a_referral_program(ctx)
    ada = enrol(ctx)
    bob = referred_by(ctx, ada)
    gone = buy(ctx, bob, "40.00")
    record_return(ctx, RecordReturn("shop", gone, "RET-1", everything=True))
    assert run_job(ctx).qualified == 0
    assert status_of(ctx, bob) == ("pending", None)


def test_the_job_pages_through_many_referrals(ctx, clock):
    a_referral_program(ctx, referrals={"clear_after_days": 0, "max_rewarded_per_referrer": 100})
    ada = enrol(ctx)
    friends = [referred_by(ctx, ada) for _ in range(7)]
    for friend in friends:
        buy(ctx, friend, "20.00")
    assert counts(run_job(ctx, batch_size=3)) == (7, 7, 0, 0, 0)
    assert available(ctx, ada) == 7 * 500


def test_two_copies_of_the_job_at_once_complete_each_referral_once(ctx, clock):
    a_referral_program(ctx, referrals={"clear_after_days": 0, "max_rewarded_per_referrer": 3})
    ada = enrol(ctx)
    friends = [referred_by(ctx, ada) for _ in range(6)]
    for friend in friends:
        buy(ctx, friend, "20.00")
    barrier = Barrier(2)

    def job(_: int) -> ReferralsReport:
        barrier.wait()
        return run_job(ctx, batch_size=2)

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(job, range(2)))
    assert sum(r.qualified for r in reports) == 6
    assert sum(r.completed for r in reports) == 3  # the cap holds across both copies
    assert sum(r.referrer_unrewarded for r in reports) == 3
    assert available(ctx, ada) == 3 * 500
    assert all(available(ctx, friend) == 20 + 250 for friend in friends)
    assert len(referral_events(ctx)) == 6 + 3
    assert verify_ledger(ctx).ok


# -- abuse ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identities",
    [
        ("customer_id:ADA@example.com",),  # her e-mail typed as a customer id
        ("card:0612345678",),  # her phone number as a card
        ("email:bob@example.com", "phone:06 12-34-56-78"),  # her own phone: the code is refused
    ],
)
def test_enrolling_with_ones_own_code_under_another_identity_is_refused(ctx, clock, identities):
    a_referral_program(ctx)
    ada = enrol(ctx, "email:ada@example.com", "phone:0612345678")
    code = code_of(ctx, ada)
    before = table_counts(ctx)
    with pytest.raises(InvalidRequest) as refused:
        enrol(ctx, *identities, code=code)
    assert refused.value.field == "referral_code"
    assert "refers themselves" in refused.value.detail
    assert table_counts(ctx) == before


def test_a_closed_members_code_is_refused_and_a_frozen_members_is_accepted(ctx, clock):
    a_referral_program(ctx)
    closed, frozen = enrol(ctx), enrol(ctx)
    closed_code, frozen_code = code_of(ctx, closed), code_of(ctx, frozen)
    desk.close(ctx, "shop", closed.id, "moved away", AGENT)
    desk.freeze(ctx, "shop", frozen.id, "suspicious", AGENT)
    with pytest.raises(InvalidRequest) as refused:
        enrol(ctx, code=closed_code)
    assert refused.value.field == "referral_code"
    bob = enrol(ctx, code=frozen_code)
    assert status_of(ctx, bob) == ("pending", None)


def test_referrals_are_refused_while_the_program_takes_none(ctx, clock):
    a_referral_program(ctx, referrals={"enabled": False})
    ada = enrol(ctx)
    with pytest.raises(InvalidRequest) as refused:
        enrol(ctx, code=code_of(ctx, ada))
    assert refused.value.field == "referral_code"


def test_the_code_of_a_merged_member_refers_to_the_member_it_was_merged_into(ctx, clock):
    a_referral_program(ctx)
    ada, ada_again = enrol(ctx), enrol(ctx)
    old_code = code_of(ctx, ada_again)
    desk.merge(ctx, "shop", ada.id, ada_again.id, AGENT)
    bob = enrol(ctx, code=old_code)
    assert referral_of(ctx, bob).referrer_id == ada.id


def test_a_referee_merged_into_the_referrer_is_a_self_referral(ctx, clock):
    a_referral_program(ctx)
    ada = enrol(ctx)
    ada_again = referred_by(ctx, ada)
    desk.merge(ctx, "shop", ada.id, ada_again.id, AGENT)
    assert status_of(ctx, ada_again) == ("rejected", "self-referral (merged)")


def test_a_referrer_merged_into_the_referee_is_a_self_referral(ctx, clock):
    a_referral_program(ctx)
    ada = enrol(ctx)
    ada_again = referred_by(ctx, ada)
    desk.merge(ctx, "shop", ada_again.id, ada.id, AGENT)
    referral = referral_of(ctx, ada_again)
    assert (referral.status, referral.reason) == ("rejected", "self-referral (merged)")
    assert referral.referrer_id == ada_again.id


def test_a_referrer_and_referee_both_merged_into_a_third_record_are_one_person(ctx, clock):
    a_referral_program(ctx)
    ada = enrol(ctx)
    ada_online = enrol(ctx)
    ada_in_store = referred_by(ctx, ada_online)
    desk.merge(ctx, "shop", ada.id, ada_online.id, AGENT)
    assert status_of(ctx, ada_in_store) == ("pending", None)  # not yet the same person
    desk.merge(ctx, "shop", ada.id, ada_in_store.id, AGENT)
    assert status_of(ctx, ada_in_store) == ("rejected", "self-referral (merged)")
    buy(ctx, ada, "50.00")
    clock.tick(timedelta(days=30))
    assert counts(run_job(ctx)) == (0, 0, 0, 0, 0)
    assert referral_events(ctx) == []


def test_a_referral_loop_closed_by_a_merge_is_rejected(ctx, clock):
    a_referral_program(ctx)
    ada = enrol(ctx)
    bob = referred_by(ctx, ada)
    ada_again = referred_by(ctx, bob)  # Bob "refers" Ada's second record
    desk.merge(ctx, "shop", ada_again.id, ada.id, AGENT)  # now Ada referred Bob who referred Ada
    assert status_of(ctx, bob) == ("rejected", "referral loop (merged)")
    assert status_of(ctx, ada_again) == ("rejected", "referral loop (merged)")


def test_a_referee_who_turns_out_to_be_an_earlier_member_was_not_a_new_customer(ctx, clock):
    a_referral_program(ctx)
    ada = enrol(ctx)
    bob = enrol(ctx)
    clock.tick(timedelta(days=100))
    bob_again = referred_by(ctx, ada)  # Bob signs up again with Ada's code
    desk.merge(ctx, "shop", bob.id, bob_again.id, AGENT)
    referral = referral_of(ctx, bob)  # the referral followed Bob to his first record
    assert (referral.status, referral.reason) == (
        "rejected",
        "the referee was already a member (merged with an earlier record)",
    )


def test_a_referee_merged_with_a_later_duplicate_keeps_the_referral(ctx, clock):
    a_referral_program(ctx, referrals={"clear_after_days": 0})
    ada = enrol(ctx)
    bob = referred_by(ctx, ada)
    clock.tick(timedelta(days=2))
    bob_again = enrol(ctx)  # a second card, made later
    buy(ctx, bob_again, "30.00")
    desk.merge(ctx, "shop", bob.id, bob_again.id, AGENT)
    run_job(ctx)  # the purchase followed Bob into his record, and qualifies
    assert status_of(ctx, bob) == ("completed", None)
    assert available(ctx, ada) == 500


def test_referrals_beyond_the_cap_complete_for_the_referee_but_not_for_the_referrer(ctx, clock):
    a_referral_program(
        ctx, referrals={"clear_after_days": 0, "max_rewarded_per_referrer": 2, "cap_period": "year"}
    )
    ada = enrol(ctx)
    friends = [referred_by(ctx, ada) for _ in range(3)]
    for friend in friends:
        buy(ctx, friend, "20.00")
        run_job(ctx)
    assert [status_of(ctx, friend) for friend in friends] == [
        ("completed", None),
        ("completed", None),
        (
            "completed",
            "the referrer's cap of 2 rewarded referrals a year is reached: the "
            "referrer is not rewarded",
        ),
    ]
    assert available(ctx, ada) == 2 * 500
    assert [available(ctx, friend) for friend in friends] == [20 + 250] * 3
    with freeze_time("2027-01-05 12:00:00"):  # a new year: the cap starts again
        next_friend = referred_by(ctx, ada)
        buy(ctx, next_friend, "20.00")
        run_job(ctx)
        assert status_of(ctx, next_friend) == ("completed", None)
        assert available(ctx, ada) == 3 * 500


def test_a_lifetime_cap_of_zero_never_rewards_the_referrer(ctx, clock):
    a_referral_program(
        ctx,
        referrals={"clear_after_days": 0, "max_rewarded_per_referrer": 0, "cap_period": "lifetime"},
    )
    ada = enrol(ctx)
    bob = referred_by(ctx, ada)
    buy(ctx, bob, "20.00")
    assert counts(run_job(ctx)) == (1, 0, 1, 0, 0)
    assert (available(ctx, ada), available(ctx, bob)) == (0, 20 + 250)
    assert "in all" in status_of(ctx, bob)[1]


def test_a_referee_closed_before_completion_is_rejected_and_a_closed_referrer_is_not_rewarded(
    ctx, clock
):
    a_referral_program(ctx, closure={"remaining_points": "keep"})
    ada, cyd = enrol(ctx), enrol(ctx)
    bob = referred_by(ctx, ada)
    dan = referred_by(ctx, cyd)
    buy(ctx, bob, "20.00")
    buy(ctx, dan, "20.00")
    run_job(ctx)
    desk.close(ctx, "shop", bob.id, "left", AGENT)
    desk.close(ctx, "shop", cyd.id, "left", AGENT)
    clock.tick(timedelta(days=14))
    assert counts(run_job(ctx)) == (0, 0, 1, 0, 1)
    assert status_of(ctx, bob) == ("rejected", "the referee's account was closed")
    assert status_of(ctx, dan) == (
        "completed",
        "the referrer's account is closed: the referrer is not rewarded",
    )
    assert available(ctx, dan) == 20 + 250
    assert available(ctx, ada) == available(ctx, cyd) == 0


def test_a_referrers_referrals_are_listed_newest_first_a_page_at_a_time(ctx, clock):
    a_referral_program(ctx)
    ada = enrol(ctx)
    friends = []
    for _ in range(5):
        clock.tick(timedelta(minutes=1))
        friends.append(referred_by(ctx, ada).id)
    pages, cursor = [], None
    while True:
        page = member_referrals(ctx, "shop", ada.id, limit=2, cursor=cursor)
        pages.append([referral.referee_id for referral in page.referrals])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == [friends[:2:-1], friends[2:0:-1], friends[:1]]

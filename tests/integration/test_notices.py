"""Proactive notices against a real database: each kind finds the right members, once per
occasion however often the job runs, again on a new occasion; disabled kinds, closed and
frozen members; the reward wait from the refused redemption to the notice.

Unless a test says otherwise the program "shop" (EUR, Europe/Paris) earns 1 point per whole
euro, and its version 2, in force from 2020-01-01, sends only the kind of notice under test.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from loyalty.adapters.orm import DomainEventRow, NoticeRow, RewardWaitRow
from loyalty.domain.errors import ProgramNotFound, RewardUnavailable
from loyalty.domain.members import Identity, Member
from loyalty.domain.notices import Notice, NoticeKind
from loyalty.services.desk import Actor, close, erase, freeze, merge, unfreeze
from loyalty.services.members import EnrollMember, enroll_member
from loyalty.services.notices import find_notices, member_notices
from loyalty.services.points import DebitPoints, debit_points
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from loyalty.services.purchases import record_purchase
from loyalty.services.rewards import Redeem, cancel_redemption, redeem
from loyalty.services.tiers import review_tiers
from tests.builders import a_member, a_purchase

PUBLISHED = "2020-01-01 00:00:00"
AGENT = Actor("cli:tests")

NOTHING = {
    "points_expiring_within_days": None,
    "near_next_tier_percent": None,
    "tier_drop_within_days": None,
    "lapsed_after_days": None,
    "birthday": False,
    "reward_back_in_stock": False,
}

# Points expire at the end of the month, 12 months after they were earned (Paris time).
EXPIRING_YEARLY = {"mode": "after", "period": 12, "unit": "months", "rounding": "end_of_month"}

LADDER: dict[str, Any] = {
    "measure": "spend",
    "window": {"type": "calendar_year"},
    "downgrade": {"policy": "period_end", "grace_days": 0},
    "levels": [
        {"id": "member", "name": "Member", "threshold": "0"},
        {"id": "silver", "name": "Silver", "threshold": "500.00"},
        {"id": "gold", "name": "Gold", "threshold": "1500.00"},
    ],
}

COFFEE: dict[str, Any] = {
    "id": "coffee",
    "name": "Coffee",
    "cost": 60,
    "kind": "free_product",
    "sku": "COFFEE",
    "stock": 1,
}

_ids = iter(range(1, 10**9))


def a_definition(
    *,
    notices: dict[str, Any],
    tiers: dict[str, Any] | None = None,
    rewards: list[dict[str, Any]] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """A definition that sends only the notices in ``notices`` (the others are off)."""
    document: dict[str, Any] = {
        "settings": {"notices": {**NOTHING, **notices}, **settings},
        "rules": [],
        "rewards": rewards or [],
    }
    if tiers is not None:
        document["tiers"] = tiers
    return document


def a_noticing_program(ctx, program_id: str = "shop", **definition: Any) -> None:
    """Program ``program_id`` whose version 2, in force from 2020-01-01, is
    ``a_definition(**definition)``."""
    with freeze_time(PUBLISHED):
        create_program(ctx, CreateProgram(program_id, "Shop", "EUR", "Europe/Paris", {}))
    republish(ctx, PUBLISHED, program_id, **definition)


def republish(ctx, at: str, program_id: str = "shop", **definition: Any) -> None:
    """Publish ``a_definition(**definition)`` as the next version of the program, at ``at``."""
    with freeze_time(at):
        save_draft(ctx, program_id, a_definition(**definition), "cli:t")
        publish(ctx, program_id, "cli:t")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def enrolled(ctx, at: str = "2024-06-01 10:00:00", **attributes: Any) -> Member:
    with freeze_time(at):
        if not attributes:
            return a_member(ctx)
        card = Identity.parse(f"card:{next(_ids):08d}")
        return enroll_member(ctx, EnrollMember("shop", (card,), attributes)).result


def buy(ctx, member: Member, amount: str, at: str) -> None:
    with freeze_time(at):
        record_purchase(ctx, a_purchase(member, amount, program_id=member.program_id))


def run(ctx, at: str, **options: Any) -> dict[NoticeKind, int]:
    with freeze_time(at):
        return {kind: n for kind, n in find_notices(ctx, **options).by_kind.items() if n}


def told(ctx, member: Member) -> list[tuple[str, str]]:
    """(kind, occasion) of the member's notices, oldest first."""
    page = member_notices(ctx, "shop", member.id, limit=100)
    return [(n.kind.value, n.occasion) for n in reversed(page.notices)]


def told_in(ctx, member: Member) -> list[Notice]:
    return list(member_notices(ctx, member.program_id, member.id, limit=100).notices)


def payload(ctx, member: Member) -> dict[str, Any]:
    """The member's newest notice's payload."""
    return member_notices(ctx, "shop", member.id, limit=1).notices[0].payload


def counted(ctx) -> tuple[int, int]:
    """(notices, notice events in the outbox)."""
    with ctx.uow(read_only=True) as uow:
        notices = uow.session.scalar(select(func.count()).select_from(NoticeRow))
        events = uow.session.scalar(
            select(func.count())
            .select_from(DomainEventRow)
            .where(DomainEventRow.type.like("notice.%"))
        )
    return notices, events


def waits(ctx) -> list[tuple[str, str]]:
    with ctx.uow(read_only=True) as uow:
        return [
            (r, m)
            for r, m in uow.session.execute(
                select(RewardWaitRow.reward_id, RewardWaitRow.member_id).order_by(
                    RewardWaitRow.member_id
                )
            ).all()
        ]


# -- points about to expire -----------------------------------------------------------------------


def test_points_expiring_within_the_days_are_noticed_once_per_expiry_date(ctx):
    a_noticing_program(ctx, notices={"points_expiring_within_days": 30}, expiry=EXPIRING_YEARLY)
    ada, bob, cleo = enrolled(ctx), enrolled(ctx), enrolled(ctx)
    buy(ctx, ada, "100.00", "2025-03-10 10:00:00")  # last usable on 31 March 2026
    buy(ctx, ada, "40.00", "2025-04-15 10:00:00")  # last usable on 30 April 2026
    buy(ctx, bob, "70.00", "2025-06-10 10:00:00")  # last usable on 30 June 2026

    assert run(ctx, "2026-03-10 12:00:00") == {NoticeKind.POINTS_EXPIRING: 1}

    assert told(ctx, ada) == [("points_expiring", "2026-03-31")]
    assert payload(ctx, ada) == {
        "points": 100,
        "expires_at": "2026-03-31T22:00:00+00:00",
        "last_usable_day": "2026-03-31",
    }
    assert told(ctx, bob) == told(ctx, cleo) == []
    assert counted(ctx) == (1, 1)
    assert run(ctx, "2026-03-11 12:00:00") == {}
    assert counted(ctx) == (1, 1)
    # March's points are gone (expired, even before the expiry job): April's are next
    assert run(ctx, "2026-04-05 12:00:00") == {NoticeKind.POINTS_EXPIRING: 1}
    assert told(ctx, ada) == [("points_expiring", "2026-03-31"), ("points_expiring", "2026-04-30")]
    assert payload(ctx, ada)["points"] == 40


def test_points_already_spent_are_not_said_to_expire(ctx):
    a_noticing_program(ctx, notices={"points_expiring_within_days": 30}, expiry=EXPIRING_YEARLY)
    ada, bob = enrolled(ctx), enrolled(ctx)
    buy(ctx, ada, "100.00", "2025-03-10 10:00:00")
    buy(ctx, bob, "100.00", "2025-03-10 10:00:00")
    with freeze_time("2025-05-01 10:00:00"):
        debit_points(ctx, DebitPoints("shop", ada.id, 100, "D-1"))
        debit_points(ctx, DebitPoints("shop", bob.id, 30, "D-2"))

    run(ctx, "2026-03-10 12:00:00")

    assert told(ctx, ada) == []
    assert payload(ctx, bob)["points"] == 70


def test_under_the_inactivity_policy_all_points_are_noticed_before_they_go(ctx):
    a_noticing_program(
        ctx,
        notices={"points_expiring_within_days": 30},
        expiry={"mode": "inactivity", "period": 6, "unit": "months", "rounding": "end_of_month"},
    )
    ada, bob = enrolled(ctx), enrolled(ctx)
    buy(ctx, ada, "80.00", "2025-09-05 10:00:00")  # inactive from 1 April 2026
    buy(ctx, bob, "50.00", "2025-11-05 10:00:00")  # inactive from 1 June 2026

    run(ctx, "2026-03-10 12:00:00")

    assert told(ctx, ada) == [("points_expiring", "2026-03-31")]
    assert payload(ctx, ada)["points"] == 80
    assert told(ctx, bob) == []
    # Ada comes back: her points live six more months, and a new date is noticed in time
    buy(ctx, ada, "10.00", "2026-03-20 10:00:00")
    assert run(ctx, "2026-03-25 12:00:00") == {}
    run(ctx, "2026-09-10 12:00:00")
    assert told(ctx, ada) == [("points_expiring", "2026-03-31"), ("points_expiring", "2026-09-30")]
    assert payload(ctx, ada)["points"] == 90


# -- the next tier within reach -------------------------------------------------------------------


def test_members_within_reach_of_the_next_tier_are_noticed_once_per_tier_and_period(ctx):
    a_noticing_program(ctx, notices={"near_next_tier_percent": 10}, tiers=LADDER)
    ada, bob, cleo, dan = (enrolled(ctx) for _ in range(4))
    buy(ctx, ada, "460.00", "2026-02-01 10:00:00")  # Silver at 500.00: within 10 %
    buy(ctx, bob, "400.00", "2026-02-01 10:00:00")  # not yet
    buy(ctx, cleo, "1400.00", "2026-02-01 10:00:00")  # Silver already; Gold at 1500.00
    buy(ctx, dan, "1600.00", "2026-02-01 10:00:00")  # Gold: nothing above

    assert run(ctx, "2026-03-01 12:00:00") == {NoticeKind.NEAR_NEXT_TIER: 2}

    assert told(ctx, ada) == [("near_next_tier", "silver:2026-01-01")]
    assert payload(ctx, ada) == {
        "tier": "member",
        "next_tier": "silver",
        "measure": "spend",
        "current": "460.00",
        "needed": "40.00",
    }
    assert told(ctx, cleo) == [("near_next_tier", "gold:2026-01-01")]
    assert told(ctx, bob) == told(ctx, dan) == []
    buy(ctx, ada, "5.00", "2026-03-02 10:00:00")
    assert run(ctx, "2026-03-03 12:00:00") == {}
    # a new qualification period is a new occasion
    buy(ctx, ada, "470.00", "2027-02-01 10:00:00")
    run(ctx, "2027-02-02 12:00:00")
    assert told(ctx, ada)[-1] == ("near_next_tier", "silver:2027-01-01")


def test_within_reach_in_membership_years_counts_each_members_own_year(ctx):
    a_noticing_program(
        ctx,
        notices={"near_next_tier_percent": 10},
        tiers={**LADDER, "window": {"type": "membership_year"}},
    )
    ada = enrolled(ctx, "2024-06-01 10:00:00")  # her year began on 1 June 2025
    bob = enrolled(ctx, "2024-09-01 10:00:00")  # his on 1 September 2024
    cleo = enrolled(ctx, "2024-06-01 10:00:00")
    buy(ctx, ada, "300.00", "2025-05-20 10:00:00")  # her previous year
    buy(ctx, ada, "460.00", "2025-07-01 10:00:00")
    buy(ctx, bob, "200.00", "2025-05-20 10:00:00")
    buy(ctx, bob, "260.00", "2025-07-01 10:00:00")
    buy(ctx, cleo, "460.00", "2025-05-20 10:00:00")  # her previous year only

    run(ctx, "2025-08-01 12:00:00")

    assert told(ctx, ada) == [("near_next_tier", "silver:2025-06-01")]
    assert told(ctx, bob) == [("near_next_tier", "silver:2024-09-01")]
    assert told(ctx, cleo) == []


# -- the tier about to drop -----------------------------------------------------------------------


def test_a_tier_that_the_period_end_would_drop_is_noticed_before_the_end(ctx):
    a_noticing_program(ctx, notices={"tier_drop_within_days": 30}, tiers=LADDER)
    ada, bob, cleo = enrolled(ctx), enrolled(ctx), enrolled(ctx)
    buy(ctx, ada, "1600.00", "2025-05-01 10:00:00")  # Gold
    buy(ctx, ada, "600.00", "2026-05-01 10:00:00")  # this year only reaches Silver
    buy(ctx, bob, "1600.00", "2025-05-01 10:00:00")
    buy(ctx, bob, "1600.00", "2026-05-01 10:00:00")  # keeps Gold
    buy(ctx, cleo, "100.00", "2026-05-01 10:00:00")  # the lowest tier: nothing to lose

    assert run(ctx, "2026-11-20 12:00:00") == {}  # the year ends in more than 30 days
    assert run(ctx, "2026-12-10 12:00:00") == {NoticeKind.TIER_DROP: 1}

    assert told(ctx, ada) == [("tier_drop", "silver:2027-01-01")]
    assert payload(ctx, ada) == {
        "tier": "gold",
        "drop_to": "silver",
        "drop_at": "2026-12-31T23:00:00+00:00",
        "days": 21,
        "scheduled": False,
        "measure": "spend",
        "current": "600.00",
        "needed": "900.00",
    }
    assert told(ctx, bob) == told(ctx, cleo) == []
    assert run(ctx, "2026-12-20 12:00:00") == {}


def test_a_drop_scheduled_after_the_grace_is_noticed_unless_the_member_requalified(ctx):
    a_noticing_program(
        ctx,
        notices={"tier_drop_within_days": 30},
        tiers={**LADDER, "downgrade": {"policy": "period_end", "grace_days": 30}},
    )
    ada, bob = enrolled(ctx), enrolled(ctx)
    buy(ctx, ada, "1600.00", "2024-05-01 10:00:00")  # Gold, and nothing in 2025
    buy(ctx, bob, "1600.00", "2024-05-01 10:00:00")
    assert run(ctx, "2025-12-10 12:00:00") == {}  # the drop would come after 30 days' grace
    with freeze_time("2026-01-01 06:00:00"):
        assert review_tiers(ctx).drops_scheduled == 2
    buy(ctx, bob, "1500.00", "2026-01-03 10:00:00")  # Bob requalifies for Gold

    run(ctx, "2026-01-05 12:00:00")

    assert told(ctx, ada) == [("tier_drop", "member:2026-01-31")]
    assert payload(ctx, ada)["scheduled"] is True
    assert payload(ctx, ada)["drop_at"] == "2026-01-30T23:00:00+00:00"
    assert told(ctx, bob) == []


# -- lapsed members -------------------------------------------------------------------------------


def test_a_lapsed_member_is_noticed_once_per_lapse(ctx):
    a_noticing_program(ctx, notices={"lapsed_after_days": 90})
    ada, bob, cleo = enrolled(ctx), enrolled(ctx), enrolled(ctx)  # Cleo never bought
    buy(ctx, ada, "10.00", "2026-01-01 10:00:00")
    buy(ctx, bob, "10.00", "2026-03-01 10:00:00")

    assert run(ctx, "2026-04-15 12:00:00") == {NoticeKind.LAPSED: 1}

    assert told(ctx, ada) == [("lapsed", "2026-01-01")]
    assert payload(ctx, ada) == {"last_purchase_at": "2026-01-01T10:00:00+00:00", "days": 104}
    assert told(ctx, bob) == told(ctx, cleo) == []
    assert run(ctx, "2026-04-16 12:00:00") == {}
    assert counted(ctx) == (1, 1)
    # Ada comes back, then lapses again: a new occasion
    buy(ctx, ada, "10.00", "2026-04-20 10:00:00")
    assert run(ctx, "2026-06-01 12:00:00") == {NoticeKind.LAPSED: 1}  # Bob's turn
    run(ctx, "2026-08-01 12:00:00")
    assert told(ctx, ada) == [("lapsed", "2026-01-01"), ("lapsed", "2026-04-20")]
    assert counted(ctx) == (3, 3)


# -- birthdays ------------------------------------------------------------------------------------


def test_a_birthday_is_noticed_once_a_year_on_the_day_in_the_program_zone(ctx):
    a_noticing_program(ctx, notices={"birthday": True})
    ada = enrolled(ctx, birth_date="1990-03-10")
    bob = enrolled(ctx, birth_date="1985-07-01")
    cleo = enrolled(ctx)

    assert run(ctx, "2026-03-09 22:30:00") == {}  # 23:30 on 9 March in Paris
    assert run(ctx, "2026-03-09 23:30:00") == {NoticeKind.BIRTHDAY: 1}  # 00:30 on 10 March
    assert run(ctx, "2026-03-10 18:00:00") == {}

    assert told(ctx, ada) == [("birthday", "2026")]
    assert payload(ctx, ada) == {"year": 2026, "date": "2026-03-10"}
    assert told(ctx, bob) == told(ctx, cleo) == []
    run(ctx, "2027-03-10 09:00:00")
    assert told(ctx, ada) == [("birthday", "2026"), ("birthday", "2027")]


def test_erasure_blanks_what_the_member_was_told_and_forgets_their_reward_waits(ctx):
    a_noticing_program(ctx, notices={"birthday": True})
    ada = enrolled(ctx, birth_date="1990-03-10")
    run(ctx, "2026-03-10 09:00:00")
    with ctx.uow() as uow:
        uow.session.add(RewardWaitRow(program_id="shop", reward_id="mug", member_id=ada.id,
                                      since=datetime(2026, 3, 10, tzinfo=UTC)))
        uow.commit()

    with freeze_time("2026-03-11 09:00:00"):
        erase(ctx, "shop", ada.id, AGENT)

    with ctx.uow(read_only=True) as uow:
        notices = uow.session.scalars(select(NoticeRow.payload)
                                      .where(NoticeRow.member_id == ada.id)).all()
        events = uow.session.scalars(select(DomainEventRow.payload).where(
            DomainEventRow.member_id == ada.id, DomainEventRow.type.like("notice.%"))).all()
        waits = uow.session.scalar(select(func.count()).select_from(RewardWaitRow)
                                   .where(RewardWaitRow.member_id == ada.id))
    assert notices == [{}] and events == [{}]
    assert waits == 0


def test_a_29_february_birthday_is_noticed_on_28_february_in_other_years(ctx):
    a_noticing_program(ctx, notices={"birthday": True})
    leap = enrolled(ctx, birth_date="2000-02-29")

    run(ctx, "2027-02-28 09:00:00")
    run(ctx, "2028-02-28 09:00:00")  # 2028 has its own 29 February
    run(ctx, "2028-02-29 09:00:00")

    assert told(ctx, leap) == [("birthday", "2027"), ("birthday", "2028")]
    assert payload(ctx, leap)["date"] == "2028-02-29"


# -- who is told ----------------------------------------------------------------------------------


def test_closed_erased_and_merged_members_get_no_notice_and_frozen_ones_get_theirs_later(ctx):
    a_noticing_program(ctx, notices={"lapsed_after_days": 90, "birthday": True})
    closed, erased, merged, survivor, frozen, active = (
        enrolled(ctx, birth_date="1990-04-15") for _ in range(6)
    )
    for member in (closed, erased, merged, frozen, active):
        buy(ctx, member, "10.00", "2026-01-01 10:00:00")
    buy(ctx, survivor, "10.00", "2026-04-10 10:00:00")
    with freeze_time("2026-02-01 10:00:00"):
        close(ctx, "shop", closed.id, "moved away", AGENT)
        erase(ctx, "shop", erased.id, AGENT)
        merge(ctx, "shop", survivor.id, merged.id, AGENT)
        freeze(ctx, "shop", frozen.id, "under review", AGENT)

    run(ctx, "2026-04-15 12:00:00")

    assert told(ctx, active) == [("lapsed", "2026-01-01"), ("birthday", "2026")]
    assert told(ctx, survivor) == [("birthday", "2026")]  # bought on 10 April
    assert told(ctx, closed) == told(ctx, erased) == told(ctx, merged) == []
    assert told(ctx, frozen) == []
    with freeze_time("2026-04-20 10:00:00"):
        unfreeze(ctx, "shop", frozen.id, "all clear", AGENT)
    run(ctx, "2026-04-20 12:00:00")
    assert told(ctx, frozen) == [("lapsed", "2026-01-01")]  # the birthday was on the 15th


def test_disabled_kinds_find_nothing(ctx):
    a_noticing_program(ctx, notices={}, expiry=EXPIRING_YEARLY, tiers=LADDER, rewards=[COFFEE])
    ada = enrolled(ctx, birth_date="1990-03-10")
    bob = enrolled(ctx)
    buy(ctx, ada, "1600.00", "2025-03-10 10:00:00")  # points expiring, Gold about to drop
    buy(ctx, bob, "460.00", "2025-12-01 10:00:00")  # near Silver
    with freeze_time("2025-12-10 10:00:00"):
        redeem(ctx, Redeem("shop", ada.id, "coffee", "R-1"))
        with pytest.raises(RewardUnavailable):
            redeem(ctx, Redeem("shop", bob.id, "coffee", "R-2"))

    assert run(ctx, "2025-12-10 12:00:00") == {}
    assert run(ctx, "2026-03-10 12:00:00") == {}  # lapsed, birthday, expiring
    assert counted(ctx) == (0, 0)
    assert waits(ctx) == []  # no wait is recorded for a notice the program does not send


# -- rewards back in stock ------------------------------------------------------------------------


def test_a_member_refused_for_lack_of_stock_is_told_once_when_it_is_back(ctx):
    a_noticing_program(ctx, notices={"reward_back_in_stock": True}, rewards=[COFFEE])
    ada, bob = enrolled(ctx), enrolled(ctx)
    buy(ctx, ada, "100.00", "2026-03-01 10:00:00")
    buy(ctx, bob, "100.00", "2026-03-01 10:00:00")
    with freeze_time("2026-03-10 12:00:00"):
        taken = redeem(ctx, Redeem("shop", ada.id, "coffee", "R-1")).result  # the last unit
    with freeze_time("2026-03-10 12:05:00"), pytest.raises(RewardUnavailable) as refused:
        redeem(ctx, Redeem("shop", bob.id, "coffee", "R-2"))
    with freeze_time("2026-03-10 12:06:00"), pytest.raises(RewardUnavailable):
        redeem(ctx, Redeem("shop", bob.id, "coffee", "R-3"))  # still waiting since 12:05

    assert refused.value.detail == "this member cannot take 'Coffee': it is out of stock"
    assert waits(ctx) == [("coffee", bob.id)]
    assert run(ctx, "2026-03-11 12:00:00") == {}  # still none in stock
    with freeze_time("2026-03-12 12:00:00"):
        cancel_redemption(ctx, "shop", taken.redemption_id, "key:agent")
    assert run(ctx, "2026-03-12 13:00:00") == {NoticeKind.REWARD_BACK_IN_STOCK: 1}

    assert told(ctx, bob) == [("reward_back_in_stock", "coffee:2026-03-10T12:05:00+00:00")]
    assert payload(ctx, bob) == {
        "reward": "coffee",
        "name": "Coffee",
        "cost": 60,
        "stock_left": 1,
        "waiting_since": "2026-03-10T12:05:00+00:00",
    }
    assert told(ctx, ada) == []
    assert waits(ctx) == []
    with ctx.uow(read_only=True) as uow:
        event = uow.outbox.events(bob.id)[-1]
        assert event.type == "notice.reward_back_in_stock"
        assert event.payload["occasion"] == "coffee:2026-03-10T12:05:00+00:00"
    assert run(ctx, "2026-03-12 14:00:00") == {}
    with freeze_time("2026-03-12 15:00:00"):
        assert redeem(ctx, Redeem("shop", bob.id, "coffee", "R-2")).result.points == 60


def test_a_reward_made_unlimited_is_back_in_stock_and_closed_or_frozen_waiters_are_not_told(ctx):
    a_noticing_program(
        ctx, notices={"reward_back_in_stock": True}, rewards=[{**COFFEE, "stock": 0}]
    )
    ada, bob, cleo = enrolled(ctx), enrolled(ctx), enrolled(ctx)
    for member in (ada, bob, cleo):
        buy(ctx, member, "100.00", "2026-03-01 10:00:00")
        with freeze_time("2026-03-01 11:00:00"), pytest.raises(RewardUnavailable):
            redeem(ctx, Redeem("shop", member.id, "coffee", f"R-{member.id}"))
    with freeze_time("2026-03-02 10:00:00"):
        close(ctx, "shop", bob.id, "moved away", AGENT)
        freeze(ctx, "shop", cleo.id, "under review", AGENT)
    republish(
        ctx,
        "2026-03-05 10:00:00",
        notices={"reward_back_in_stock": True},
        rewards=[{**COFFEE, "stock": None}],
    )

    # one wait a page: the frozen member's wait, kept, is stepped over
    assert run(ctx, "2026-03-05 12:00:00", batch_size=1) == {NoticeKind.REWARD_BACK_IN_STOCK: 1}

    assert told(ctx, ada) == [("reward_back_in_stock", "coffee:2026-03-01T11:00:00+00:00")]
    assert payload(ctx, ada)["stock_left"] is None
    assert told(ctx, bob) == told(ctx, cleo) == []
    assert waits(ctx) == [("coffee", cleo.id)]  # Bob's wait ended; Cleo's waits for her
    with freeze_time("2026-03-06 10:00:00"):
        unfreeze(ctx, "shop", cleo.id, "all clear", AGENT)
    run(ctx, "2026-03-06 12:00:00")
    assert told(ctx, cleo) == [("reward_back_in_stock", "coffee:2026-03-01T11:00:00+00:00")]
    assert waits(ctx) == []


# -- the job --------------------------------------------------------------------------------------


def test_every_page_of_members_of_every_program_is_searched(ctx):
    a_noticing_program(ctx, notices={"lapsed_after_days": 90})
    a_noticing_program(ctx, "other", notices={"lapsed_after_days": 30})
    a_noticing_program(ctx, "quiet", notices={})
    with freeze_time("2025-06-01 10:00:00"):
        members = [a_member(ctx, program_id=program) for program in ["shop", "other", "quiet"] * 4]
    for member in members:
        buy(ctx, member, "10.00", "2026-01-01 10:00:00")

    assert run(ctx, "2026-04-15 12:00:00", batch_size=2) == {NoticeKind.LAPSED: 8}
    assert run(ctx, "2026-04-15 12:00:00", batch_size=3) == {}
    assert [len(told_in(ctx, m)) for m in members] == [1, 1, 0] * 4


def test_the_job_runs_in_one_program_when_asked(ctx):
    a_noticing_program(ctx, notices={"lapsed_after_days": 90})
    a_noticing_program(ctx, "other", notices={"lapsed_after_days": 90})
    ada = enrolled(ctx)
    buy(ctx, ada, "10.00", "2026-01-01 10:00:00")

    assert run(ctx, "2026-04-15 12:00:00", program_id="other") == {}
    assert run(ctx, "2026-04-15 12:00:00", program_id="shop") == {NoticeKind.LAPSED: 1}
    with pytest.raises(ProgramNotFound):
        run(ctx, "2026-04-15 12:00:00", program_id="nowhere")


def test_two_jobs_running_at_once_tell_each_member_once(ctx):
    a_noticing_program(ctx, notices={"lapsed_after_days": 90, "birthday": True})
    members = [enrolled(ctx, birth_date="1990-04-15") for _ in range(20)]
    for member in members:
        buy(ctx, member, "10.00", "2026-01-01 10:00:00")
    barrier = Barrier(2)

    def job(_: int) -> int:
        barrier.wait()
        return find_notices(ctx, batch_size=5).total

    with freeze_time("2026-04-15 12:00:00"), ThreadPoolExecutor(2) as pool:
        totals = list(pool.map(job, range(2)))

    assert sum(totals) == 40
    assert counted(ctx) == (40, 40)
    assert all(len(told(ctx, member)) == 2 for member in members)

"""Analytics against a real database: every figure of a small, hand-built program, with the
expected value worked out by hand in the test.

The program "shop" (EUR, Europe/Paris) earns 1 point per whole euro; points expire exactly 30
days after they are earned; a point costs the program 0.005 EUR; the ladder is Member (0),
Silver (150.00) and Gold (500.00) on lifetime spend. The report is for January 2026 (Paris),
whose previous period is December 2025 (31 days too). ``january`` builds this story, at the
instants given (UTC):

=========  ===========================================================================
Ada        enrolled 15 Nov; bought 100.00 at the till on 5 Dec; redeemed a coffee (30)
           on 2 Jan; the rest of December's 100 (70) expired on 4 Jan; bought 50.00 at
           the till on 10 Jan (reaching Silver), 30.00 on the web on 20 Jan; was put
           back to Member by an agent on 25 Jan.
Bob        enrolled 20 Nov; bought 40.00 on the web on 8 Dec; redeemed a coffee on 20 Dec;
           put in Gold by an agent on 21 Dec; his last 10 points expired on 7 Jan.
Cleo       enrolled 10 Dec; bought 20.00 at the till on 12 Dec; bought 80.00 at the till
           at 23:30 UTC on 31 Dec (1 January in Paris) and returned 20.00 of it on 3 Jan;
           December's 20 points expired on 11 Jan.
Dan        enrolled 5 Jan; bought 200.00 on the web on 6 Jan (Silver); redeemed a voucher
           (100) on 7 Jan, a coffee on 8 Jan, cancelled it on 9 Jan and took another.
Eve        enrolled 15 Jan; 13 goodwill points on 20 Jan; bought 10.00 at 23:30 UTC on
           31 Jan, which is 1 February in Paris.
Fay        enrolled 1 Dec; closed on 20 Jan.
Hal        enrolled 1 Dec; bought 50.00 at the till on 2 Dec, spent the 50 points on 3 Dec
           and cancelled the purchase on 25 Jan: the member owes 50 points.
Gus        enrolled on 1 Feb, after the period.
=========  ===========================================================================

Survey answers (inserted as rows) are listed in ``ANSWERS``. The report runs at ``AS_OF``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import insert

from loyalty.adapters.orm import FeedbackRow
from loyalty.domain.errors import InvalidRequest
from loyalty.domain.members import Member
from loyalty.services.analytics import (
    AnalyticsReport,
    ReportRequest,
    analytics_report,
    buckets,
    default_interval,
    ratio,
)
from loyalty.services.desk import Actor, Adjust, adjust, close
from loyalty.services.jobs import expire_points
from loyalty.services.points import DebitPoints, debit_points
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from loyalty.services.purchases import record_purchase
from loyalty.services.returns import RecordReturn, record_return
from loyalty.services.rewards import Redeem, cancel_redemption, redeem
from loyalty.services.tiers import set_tier
from tests.builders import a_member, a_purchase

AS_OF = "2026-02-01 12:00:00"
JANUARY = ReportRequest("shop", date(2026, 1, 1), date(2026, 1, 31))
AGENT = Actor("cli:tests")

SETTINGS = {
    "expiry": {"mode": "after", "period": 30, "unit": "days", "rounding": "none"},
    "finance": {"cost_per_point": "0.005"},
}
LADDER = {
    "measure": "spend",
    "window": {"type": "lifetime"},
    "levels": [
        {"id": "member", "name": "Member", "threshold": "0"},
        {"id": "silver", "name": "Silver", "threshold": "150.00"},
        {"id": "gold", "name": "Gold", "threshold": "500.00"},
    ],
}
REWARDS = [
    {"id": "coffee", "name": "Coffee", "cost": 30, "kind": "free_product", "sku": "COFFEE"},
    {"id": "voucher", "name": "10 EUR off", "cost": 100, "kind": "amount_off", "amount": "10.00"},
]

# (member, kind, score, channel, answered at)
ANSWERS = [
    ("ada", "nps", 10, "pos", "2026-01-11 09:00:00"),
    ("dan", "nps", 9, "web", "2026-01-12 09:00:00"),
    ("dan", "nps", 7, "web", "2026-01-13 09:00:00"),
    ("cleo", "nps", 3, "pos", "2026-01-14 09:00:00"),
    ("bob", "nps", 10, "app", "2026-01-15 09:00:00"),
    ("bob", "nps", 0, "app", "2025-12-15 09:00:00"),  # December: not in the report
    ("ada", "csat", 5, "pos", "2026-01-16 09:00:00"),
    ("dan", "csat", 4, "web", "2026-01-17 09:00:00"),
    ("eve", "csat", 4, "web", "2026-01-18 09:00:00"),
    ("cleo", "ces", 2, "pos", "2026-01-19 09:00:00"),
    ("hal", "ces", 5, "pos", "2026-01-31 22:59:59"),  # the last second of January in Paris
    ("hal", "ces", 1, "pos", "2026-01-31 23:00:00"),  # midnight in Paris: February
]


def a_program_with_tiers_and_rewards(ctx, program_id: str = "shop", name: str = "Shop") -> None:
    with freeze_time("2025-01-01 00:00:00"):
        create_program(ctx, CreateProgram(program_id, name, "EUR", "Europe/Paris", settings={}))
        save_draft(
            ctx,
            program_id,
            {"settings": SETTINGS, "rules": [], "tiers": LADDER, "rewards": REWARDS},
            "cli:t",
        )
        publish(ctx, program_id, "cli:t")


def enrolled(ctx, at: str) -> Member:
    with freeze_time(at):
        return a_member(ctx)


def buy(ctx, member: Member, amount: str, at: str, channel: str) -> str:
    with freeze_time(at):
        return record_purchase(ctx, a_purchase(member, amount, channel=channel)).result.purchase_id


def take(ctx, member: Member, reward: str, at: str, external_id: str) -> str:
    with freeze_time(at):
        return redeem(ctx, Redeem("shop", member.id, reward, external_id)).result.redemption_id


def expire(ctx, at: str) -> None:
    with freeze_time(at):
        expire_points(ctx)


def january(ctx) -> dict[str, Member]:
    a_program_with_tiers_and_rewards(ctx)
    ada = enrolled(ctx, "2025-11-15 10:00:00")
    bob = enrolled(ctx, "2025-11-20 10:00:00")
    fay = enrolled(ctx, "2025-12-01 10:00:00")
    hal = enrolled(ctx, "2025-12-01 11:00:00")
    hals = buy(ctx, hal, "50.00", "2025-12-02 10:00:00", "pos")
    with freeze_time("2025-12-03 10:00:00"):
        debit_points(ctx, DebitPoints("shop", hal.id, 50, "HAL-SPENDS"))
    buy(ctx, ada, "100.00", "2025-12-05 10:00:00", "pos")
    buy(ctx, bob, "40.00", "2025-12-08 10:00:00", "web")
    cleo = enrolled(ctx, "2025-12-10 10:00:00")
    buy(ctx, cleo, "20.00", "2025-12-12 10:00:00", "pos")
    take(ctx, bob, "coffee", "2025-12-20 10:00:00", "BOB-1")
    with freeze_time("2025-12-21 10:00:00"):
        set_tier(ctx, "shop", bob.id, "gold", until=None, reason="VIP", actor="cli:tests")
    cleos = buy(ctx, cleo, "80.00", "2025-12-31 23:30:00", "pos")
    take(ctx, ada, "coffee", "2026-01-02 10:00:00", "ADA-1")
    with freeze_time("2026-01-03 10:00:00"):
        record_return(ctx, RecordReturn("shop", cleos, "CLEO-RET", amount=2000))
    dan = enrolled(ctx, "2026-01-05 10:00:00")
    buy(ctx, dan, "200.00", "2026-01-06 10:00:00", "web")
    take(ctx, dan, "voucher", "2026-01-07 10:00:00", "DAN-1")
    cancelled = take(ctx, dan, "coffee", "2026-01-08 10:00:00", "DAN-2")
    expire(ctx, "2026-01-08 12:00:00")  # Ada's 70 (4 Jan) and Bob's 10 (7 Jan)
    with freeze_time("2026-01-09 10:00:00"):
        cancel_redemption(ctx, "shop", cancelled, "cli:tests")
    take(ctx, dan, "coffee", "2026-01-09 11:00:00", "DAN-3")
    buy(ctx, ada, "50.00", "2026-01-10 10:00:00", "pos")
    expire(ctx, "2026-01-12 12:00:00")  # Cleo's 20 (11 Jan)
    eve = enrolled(ctx, "2026-01-15 10:00:00")
    buy(ctx, ada, "30.00", "2026-01-20 10:00:00", "web")
    with freeze_time("2026-01-20 11:00:00"):
        adjust(ctx, Adjust("shop", eve.id, 13, "goodwill", "EVE-1"), AGENT)
        close(ctx, "shop", fay.id, "moved away", AGENT)
    with freeze_time("2026-01-25 10:00:00"):
        set_tier(ctx, "shop", ada.id, "member", until=None, reason="review", actor="cli:tests")
        record_return(ctx, RecordReturn("shop", hals, "HAL-RET", everything=True))
    buy(ctx, eve, "10.00", "2026-01-31 23:30:00", "pos")  # 1 February in Paris
    enrolled(ctx, "2026-02-01 10:00:00")  # Gus
    members = {"ada": ada, "bob": bob, "cleo": cleo, "dan": dan, "eve": eve, "fay": fay, "hal": hal}
    with ctx.uow() as uow:
        uow.session.execute(
            insert(FeedbackRow),
            [
                {
                    "id": f"fb_{index}",
                    "program_id": "shop",
                    "member_id": members[who].id,
                    "external_id": f"F-{index}",
                    "kind": kind,
                    "score": score,
                    "channel": channel,
                    "comment": None,
                    "purchase_id": None,
                    "answered_at": utc(at),
                    "recorded_at": utc(at),
                }
                for index, (who, kind, score, channel, at) in enumerate(ANSWERS)
            ],
        )
        uow.commit()
    return members


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def report(ctx, request: ReportRequest = JANUARY, **changes: Any) -> AnalyticsReport:
    with freeze_time(AS_OF):
        return analytics_report(ctx, replace(request, **changes))


def rate(numerator: int, denominator: int) -> Decimal:
    """A rate as the report rounds it: 4 decimals, half-even."""
    result = ratio(numerator, denominator)
    assert result is not None
    return result


def group(found: AnalyticsReport, key: str):
    return next(g for g in found.groups if g.key == key)


# -- the whole program --------------------------------------------------------------------------


def test_the_member_and_purchase_figures_of_january_are_those_counted_by_hand(ctx):
    january(ctx)
    totals = report(ctx).totals
    # members enrolled by 31 January (Gus came later): Ada, Bob, Cleo, Dan, Eve, Fay, Hal
    assert totals.members == 7
    assert totals.new_members == 2  # Dan, Eve
    # January's purchases in Paris: Cleo 80 (1 Jan, 00:30 in Paris), Dan 200, Ada 50 and 30;
    # not Eve's 10.00 of 1 February
    assert totals.purchases == 4
    assert totals.revenue == (80_00 - 20_00) + 200_00 + 50_00 + 30_00  # net of Cleo's return
    assert totals.active_members == 3  # Ada, Cleo, Dan
    assert totals.repeat_members == 1  # Ada bought twice
    assert totals.repeat_purchase_rate == Decimal("0.3333")
    assert totals.average_order_value == 340_00 // 4
    assert totals.purchase_frequency == Decimal("1.33")  # 4 / 3
    # December's buyers: Ada, Bob, Cleo and Hal; Ada and Cleo came back
    assert totals.previous_active_members == 4
    assert totals.retained_members == 2
    assert totals.retention_rate == Decimal("0.5000")
    assert totals.churn_rate == Decimal("0.5000")


def test_customer_lifetime_value_historical_and_predicted(ctx):
    january(ctx)
    totals = report(ctx).totals
    # every purchase before February, net of returns: December 100 + 40 + 20 + (50 - 50),
    # January 340; over the 7 members: 500.00 / 7 = 71.428... EUR
    assert totals.clv_historical == 71_43
    # revenue per active member (340.00 / 3) times the expected lifetime 1 / churn = 2 periods
    assert totals.clv_predicted == 226_67  # 680.00 / 3 = 226.666...


def test_survey_figures_count_the_answers_of_the_period(ctx):
    january(ctx)
    totals = report(ctx).totals
    # NPS answers of January: 10, 9, 7, 3, 10: promoters 3, detractors 1 (December's 0 is out)
    assert totals.nps_answers == 5
    assert totals.nps == Decimal("40.0")  # 100 * (3 - 1) / 5
    assert totals.csat_answers == 3
    assert totals.csat_average == Decimal("4.33")  # 13 / 3
    assert totals.ces_answers == 2  # Cleo's 2 and Hal's 5; not Hal's 1 of 1 February
    assert totals.ces_average == Decimal("3.50")


def test_points_issued_redeemed_expired_reversed_and_the_rates(ctx):
    january(ctx)
    totals = report(ctx).totals
    assert totals.points_issued == 80 + 200 + 50 + 30
    # Ada's coffee, Dan's voucher, coffee, the coffee given back, and the next coffee
    assert totals.points_redeemed == 30 + 100 + 30 - 30 + 30
    assert totals.points_expired == 70 + 10 + 20  # Ada's, Bob's and Cleo's December points
    assert totals.points_reversed == 20 + 50  # Cleo's return, Hal's cancelled purchase
    assert totals.points_adjusted == 13
    assert totals.points_pending == 0
    assert totals.redemption_rate == rate(160, 360) == Decimal("0.4444")
    assert totals.breakage_rate == rate(100, 160 + 100) == Decimal("0.3846")


def test_the_liability_is_the_outstanding_points_at_the_cost_of_a_point(ctx):
    january(ctx)
    found = report(ctx)
    # now: Ada 80 (180 earned, 30 redeemed, 70 expired), Bob 0, Cleo 60, Dan 70, Eve 23, and
    # Hal -50, who owes points: a debt is not a liability, so Hal counts 0
    assert found.totals.liability_points == 80 + 60 + 70 + 23
    assert found.cost_per_point == Decimal("0.005")
    # 233 * 0.005 = 1.165 EUR = 116.5 cents, rounded half-even to 116
    assert found.totals.liability == 116
    assert found.totals.pending_liability == 0
    assert found.document()["totals"]["liability"] == "1.16"


def test_the_cost_of_a_point_defaults_to_the_redemption_value(ctx):
    january(ctx)
    with freeze_time("2026-01-31 12:00:00"):
        save_draft(
            ctx,
            "shop",
            {
                "settings": {"redemption": {"point_value": "0.02"}},
                "rules": [],
                "tiers": LADDER,
                "rewards": REWARDS,
            },
            "cli:t",
        )
        publish(ctx, "shop", "cli:t")
    found = report(ctx)
    assert found.cost_per_point == Decimal("0.02")
    assert found.totals.liability == 233 * 2


def test_tier_distribution_now_and_tier_moves_in_the_period(ctx):
    january(ctx)
    found = report(ctx)
    # now: Ada (put back), Cleo, Eve, Hal and Gus (enrolled since) are Members, not Fay (closed);
    # Bob was put in Gold in December
    assert [(t.tier, t.name, t.members) for t in found.tier_distribution] == [
        ("member", "Member", 5),
        ("silver", "Silver", 1),
        ("gold", "Gold", 1),
    ]
    assert [(m.from_tier, m.to_tier, m.direction, m.moves) for m in found.tier_moves] == [
        ("member", "silver", "up", 2),
        ("silver", "member", "down", 1),
    ]
    assert (found.tier_moves_up, found.tier_moves_down) == (2, 1)


def test_reward_popularity_counts_redemptions_not_cancelled(ctx):
    january(ctx)
    found = report(ctx)
    assert [(r.reward_id, r.name, r.redemptions, r.points) for r in found.rewards] == [
        ("coffee", "Coffee", 2, 60),
        ("voucher", "10 EUR off", 1, 100),
    ]
    assert [r.reward_id for r in report(ctx, top=1).rewards] == ["coffee"]


def test_the_weekly_trend_buckets_january_in_the_programs_time_zone(ctx):
    january(ctx)
    found = report(ctx, interval="week")
    assert found.interval == "week"
    assert [
        (
            t.start.isoformat(),
            t.end.isoformat(),
            t.active_members,
            t.new_members,
            t.purchases,
            t.revenue,
            t.points_issued,
            t.points_redeemed,
        )
        for t in found.trend
    ] == [
        # 1 January 2026 is a Thursday: the first week is cut at the period's start
        ("2026-01-01", "2026-01-04", 1, 0, 1, 60_00, 80, 30),
        ("2026-01-05", "2026-01-11", 2, 1, 2, 250_00, 250, 100 + 30 - 30 + 30),
        ("2026-01-12", "2026-01-18", 0, 1, 0, 0, 0, 0),
        ("2026-01-19", "2026-01-25", 1, 0, 1, 30_00, 30, 0),
        ("2026-01-26", "2026-01-31", 0, 0, 0, 0, 0, 0),
    ]
    assert sum(t.revenue for t in found.trend) == found.totals.revenue


def test_a_month_is_reported_day_by_day_unless_told_otherwise(ctx):
    january(ctx)
    found = report(ctx)
    assert found.interval == "day"
    assert len(found.trend) == 31
    first = found.trend[0]
    assert (first.start, first.purchases, first.revenue) == (date(2026, 1, 1), 1, 60_00)
    by_month = report(
        ctx, ReportRequest("shop", date(2025, 12, 15), date(2026, 1, 31)), interval="month"
    )
    assert [(t.start.isoformat(), t.end.isoformat(), t.purchases) for t in by_month.trend] == [
        ("2025-12-15", "2025-12-31", 0),
        ("2026-01-01", "2026-01-31", 4),
    ]


# -- breakdowns ---------------------------------------------------------------------------------


def test_figures_by_channel(ctx):
    january(ctx)
    found = report(ctx, by="channel")
    assert [g.key for g in found.groups] == ["app", "pos", "web"]
    pos, web, app = group(found, "pos"), group(found, "web"), group(found, "app")
    # the till: Cleo 80 - 20 and Ada 50; in December Ada, Cleo and Hal bought there
    assert (pos.purchases, pos.revenue, pos.active_members, pos.repeat_members) == (2, 110_00, 2, 0)
    assert (pos.previous_active_members, pos.retained_members) == (3, 2)
    assert (pos.retention_rate, pos.churn_rate) == (Decimal("0.6667"), Decimal("0.3333"))
    assert pos.average_order_value == 55_00
    assert pos.purchase_frequency == Decimal("1.00")
    assert (pos.points_issued, pos.points_reversed) == (50 + 80, 20 + 50)
    assert (pos.nps, pos.nps_answers, pos.csat_average, pos.ces_average) == (
        Decimal("0.0"),
        2,
        Decimal("5.00"),
        Decimal("3.50"),
    )
    # the web: Dan 200 and Ada 30; Bob bought there in December and did not come back
    assert (web.purchases, web.revenue, web.active_members) == (2, 230_00, 2)
    assert (
        web.previous_active_members,
        web.retained_members,
        web.retention_rate,
        web.churn_rate,
    ) == (1, 0, Decimal("0.0000"), Decimal("1.0000"))
    assert (web.points_issued, web.points_reversed) == (230, 0)
    assert (web.nps, web.csat_average, web.ces_average, web.ces_answers) == (
        Decimal("50.0"),
        Decimal("4.00"),
        None,
        0,
    )
    # the app: one survey answer, no purchase
    assert (app.purchases, app.active_members, app.nps, app.nps_answers) == (
        0,
        0,
        Decimal("100.0"),
        1,
    )
    assert app.average_order_value is app.repeat_purchase_rate is app.retention_rate is None
    # what belongs to no channel is left out, not made up
    for channel in found.groups:
        assert channel.members is channel.new_members is channel.points_redeemed is None
        assert channel.liability is channel.clv_historical is channel.redemption_rate is None
    assert found.totals.purchases == pos.purchases + web.purchases


def test_figures_by_current_tier(ctx):
    january(ctx)
    found = report(ctx, by="tier")
    assert [g.key for g in found.groups] == ["member", "silver", "gold"]
    member, silver, gold = (group(found, key) for key in ("member", "silver", "gold"))
    # Member now: Ada, Cleo, Eve, Fay (closed, still a member of the period) and Hal
    assert (member.members, member.new_members) == (5, 1)
    assert (member.purchases, member.revenue, member.active_members, member.repeat_members) == (
        3,
        140_00,
        2,
        1,
    )
    assert (member.previous_active_members, member.retained_members) == (3, 2)
    assert member.clv_historical == 52_00  # Ada 180 + Cleo 80 + Hal 0, over 5 members
    assert member.clv_predicted == 210_00  # 140.00 / 2 active, times 1 / (1/3)
    assert (
        member.points_issued,
        member.points_redeemed,
        member.points_expired,
        member.points_reversed,
        member.points_adjusted,
    ) == (160, 30, 90, 70, 13)
    assert member.liability_points == 80 + 60 + 23  # Hal's debt counts 0
    assert member.liability == 82  # 163 * 0.005 = 0.815 EUR: 81.5 cents, half-even 82
    assert (member.nps, member.csat_average, member.ces_average) == (
        Decimal("0.0"),
        Decimal("4.50"),
        Decimal("3.50"),
    )
    # Silver now: Dan, new in January, no December: no retention to speak of
    assert (silver.members, silver.new_members, silver.purchases, silver.revenue) == (
        1,
        1,
        1,
        200_00,
    )
    assert silver.retention_rate is silver.churn_rate is silver.clv_predicted is None
    assert silver.clv_historical == 200_00
    assert (silver.points_issued, silver.points_redeemed, silver.redemption_rate) == (
        200,
        130,
        Decimal("0.6500"),
    )
    assert (silver.liability_points, silver.liability) == (70, 35)
    assert (silver.nps, silver.csat_average, silver.ces_average) == (
        Decimal("50.0"),
        Decimal("4.00"),
        None,
    )
    # Gold now: Bob, who bought in December only
    assert (gold.members, gold.active_members, gold.previous_active_members) == (1, 0, 1)
    assert (gold.retention_rate, gold.churn_rate) == (Decimal("0.0000"), Decimal("1.0000"))
    assert gold.clv_historical == 40_00
    assert gold.clv_predicted is None  # no active member to project
    assert (gold.points_expired, gold.breakage_rate) == (10, Decimal("1.0000"))
    assert (gold.nps, gold.nps_answers) == (Decimal("100.0"), 1)
    for name in ("members", "purchases", "revenue", "points_issued", "liability_points"):
        assert sum(getattr(g, name) for g in found.groups) == getattr(found.totals, name)


def test_a_program_without_tiers_cannot_be_broken_down_by_tier(ctx):
    create_program(ctx, CreateProgram("plain", "Plain", "EUR", "Europe/Paris", settings={}))
    with pytest.raises(InvalidRequest) as refused:
        analytics_report(
            ctx, ReportRequest("plain", date(2026, 1, 1), date(2026, 1, 31), by="tier")
        )
    assert refused.value.field == "by"
    plain = analytics_report(ctx, ReportRequest("plain", date(2026, 1, 1), date(2026, 1, 31)))
    assert plain.tier_distribution == () and plain.tier_moves == ()


# -- empty periods and bad requests ---------------------------------------------------------


def test_a_period_with_nothing_in_it_has_null_rates_not_errors(ctx):
    a_program_with_tiers_and_rewards(ctx)
    found = report(ctx, by="tier")
    totals = found.totals
    assert (totals.members, totals.active_members, totals.purchases, totals.revenue) == (0, 0, 0, 0)
    for name in (
        "repeat_purchase_rate",
        "retention_rate",
        "churn_rate",
        "average_order_value",
        "purchase_frequency",
        "clv_historical",
        "clv_predicted",
        "nps",
        "csat_average",
        "ces_average",
        "redemption_rate",
        "breakage_rate",
    ):
        assert getattr(totals, name) is None, name
    assert (totals.liability_points, totals.liability) == (0, 0)
    assert [(t.tier, t.members) for t in found.tier_distribution] == [
        ("member", 0),
        ("silver", 0),
        ("gold", 0),
    ]
    assert [g.key for g in found.groups] == ["member", "silver", "gold"]
    assert found.document()["totals"]["liability"] == "0.00"
    assert found.document()["totals"]["retention_rate"] is None


def test_churn_of_zero_gives_the_capped_lifetime(ctx):
    a_program_with_tiers_and_rewards(ctx)
    ada = enrolled(ctx, "2025-11-15 10:00:00")
    buy(ctx, ada, "10.00", "2025-12-05 10:00:00", "pos")
    buy(ctx, ada, "30.00", "2026-01-05 10:00:00", "pos")
    totals = report(ctx).totals
    assert totals.churn_rate == Decimal("0.0000")
    # 30.00 a period for at most 3650 days = 3650 / 31 periods: 3532.258... EUR
    assert totals.clv_predicted == 353226


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"end": date(2025, 12, 31)}, "to"),
        ({"end": date(2028, 1, 2)}, "to"),
        ({"by": "store"}, "by"),
        ({"interval": "hour"}, "interval"),
        ({"top": 0}, "top"),
        ({"start": date(1900, 1, 1)}, "from"),
        ({"end": date(9999, 12, 31)}, "to"),
    ],
)
def test_a_bad_request_names_its_field(ctx, changes, field):
    a_program_with_tiers_and_rewards(ctx)
    with pytest.raises(InvalidRequest) as refused:
        report(ctx, **changes)
    assert refused.value.field == field


def test_two_years_is_the_longest_report(ctx):
    a_program_with_tiers_and_rewards(ctx)
    found = report(ctx, ReportRequest("shop", date(2024, 2, 1), date(2026, 1, 31)))
    assert found.period.days == 731
    assert found.interval == "month" and len(found.trend) == 24
    assert (found.previous.start, found.previous.end) == (date(2022, 1, 31), date(2024, 1, 31))


# -- units --------------------------------------------------------------------------------------


def test_buckets_cut_weeks_and_months_at_the_edges():
    assert buckets(date(2026, 1, 30), date(2026, 2, 2), "day") == [
        (date(2026, 1, d), date(2026, 1, d)) for d in (30, 31)
    ] + [(date(2026, 2, d), date(2026, 2, d)) for d in (1, 2)]
    assert buckets(date(2026, 1, 31), date(2026, 2, 10), "week") == [
        (date(2026, 1, 31), date(2026, 2, 1)),
        (date(2026, 2, 2), date(2026, 2, 8)),
        (date(2026, 2, 9), date(2026, 2, 10)),
    ]
    assert buckets(date(2026, 1, 15), date(2026, 3, 3), "month") == [
        (date(2026, 1, 15), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 3)),
    ]
    assert [default_interval(days) for days in (1, 31, 32, 184, 185, 731)] == [
        "day",
        "day",
        "week",
        "week",
        "month",
        "month",
    ]


def test_rates_round_half_even_and_a_zero_denominator_is_none():
    assert ratio(1, 8, 2) == Decimal("0.12")  # 0.125 to the even 0.12
    assert ratio(3, 8, 2) == Decimal("0.38")
    assert ratio(2, 3) == Decimal("0.6667")
    assert ratio(5, 0) is None

"""The service desk against a real database: adjustments with maker-checker, freezing, closing
and reopening, merging two records of one person, erasing a person, and transfers between
members (concurrent ones included). Every action is in the audit log; the ledger verifies after
every write.

Unless a test says otherwise the program "shop" (EUR, Europe/Paris) earns 1 point per whole
euro (floor) and the tests run at ``NOW``: Tuesday 10 March 2026, 12:00 UTC, 13:00 in Paris
(UTC+1 until the last Sunday of March). Agents and supervisors are named as the API names them:
``key:<key id>``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier
from typing import Any

import pytest
from click.testing import CliRunner
from freezegun import freeze_time
from sqlalchemy import func, select

from api.cli import main
from loyalty.adapters.orm import (
    AuditRecordRow,
    Base,
    LedgerEntryRow,
    MemberBalanceRow,
    MemberRow,
    TransferRow,
)
from loyalty.domain.errors import (
    AdjustmentNotFound,
    Conflict,
    Forbidden,
    InsufficientPoints,
    InvalidRequest,
    MemberNotActive,
    MemberNotFound,
    TransfersDisabled,
)
from loyalty.domain.members import Identity, Member
from loyalty.services import desk
from loyalty.services.events import RecordEvent, record_event
from loyalty.services.feedback import RecordFeedback, record_feedback
from loyalty.services.jobs import expire_points, release_pending
from loyalty.services.members import EnrollMember, MemberRef, enroll_member, find_member
from loyalty.services.points import DebitPoints, debit_points, get_balance
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from loyalty.services.purchases import record_purchase
from loyalty.services.rewards import Redeem, check_voucher, redeem
from loyalty.services.tiers import review_tiers, tier_view
from loyalty.services.verification import verify_ledger
from tests.api.support import table_counts
from tests.builders import a_member, a_program, a_purchase, debit, earn

NOW = "2026-03-10 12:00:00"
PUBLISHED = "2020-01-01 00:00:00"

AGENT = desk.Actor("key:agent1")
OTHER_AGENT = desk.Actor("key:agent2")
SUPERVISOR = desk.Actor("key:super1", person="Grace at the desk")

COFFEE: dict[str, Any] = {"id": "coffee", "name": "Coffee", "cost": 60, "kind": "free_product",
                          "sku": "COFFEE", "stock": 5, "voucher_days": 365}

SPEND_LADDER: dict[str, Any] = {
    "measure": "spend",
    "window": {"type": "calendar_year"},
    "levels": [
        {"id": "member", "name": "Member", "threshold": "0"},
        {"id": "silver", "name": "Silver", "threshold": "500.00"},
        {"id": "gold", "name": "Gold", "threshold": "1500.00"},
    ],
}

POINTS_LADDER: dict[str, Any] = {
    "measure": "points",
    "window": {"type": "calendar_year"},
    "levels": [
        {"id": "member", "name": "Member", "threshold": 0},
        {"id": "silver", "name": "Silver", "threshold": 500},
    ],
}

# Points expire at the end of the month, 12 months after they were earned (Paris time).
EXPIRING_YEARLY = {"mode": "after", "period": 12, "unit": "months", "rounding": "end_of_month"}

TRANSFERS_ON = {"enabled": True}
RING = 32

_ids = iter(range(1, 10**9))


@pytest.fixture
def now():
    with freeze_time(NOW) as frozen:
        yield frozen


@pytest.fixture
def runner(settings, monkeypatch):
    monkeypatch.setenv("LOYALTY_DATABASE_URL", settings.database_url)
    return CliRunner()


def a_desk_program(ctx, program_id: str = "shop", *, rewards: list[dict[str, Any]] | None = None,
                   tiers: dict[str, Any] | None = None, **settings: Any) -> None:
    """A program whose version 2, published on 2020-01-01, has ``settings``, ``rewards`` and
    ``tiers``: before every purchase of the tests."""
    with freeze_time(PUBLISHED):
        create_program(ctx, CreateProgram(program_id, f"Program {program_id}", "EUR",
                                          "Europe/Paris", settings={}))
        document: dict[str, Any] = {"settings": settings, "rules": []}
        if rewards is not None:
            document["rewards"] = rewards
        if tiers is not None:
            document["tiers"] = tiers
        save_draft(ctx, program_id, document, "cli:t")
        publish(ctx, program_id, "cli:t")


def adjusting(ctx, member: Member, points: int, actor: desk.Actor = AGENT, *,
              reason: str = "goodwill", note: str | None = None,
              program_id: str = "shop") -> desk.AdjustmentView:
    command = desk.Adjust(program_id, member.id, points, reason, f"ADJ-{next(_ids)}", note)
    return desk.adjust(ctx, command, actor).result


def transferring(ctx, sender: Member, receiver: Member | str, points: int,
                 actor: desk.Actor = AGENT, external_id: str | None = None
                 ) -> desk.Transferred:
    to = receiver.id if isinstance(receiver, Member) else receiver
    command = desk.Transfer("shop", sender.id, to, points, external_id or f"TRF-{next(_ids)}")
    return desk.transfer(ctx, command, actor).result


def available(ctx, member: Member) -> int:
    return get_balance(ctx, "shop", member.id).available


def points_of(ctx, member: Member) -> tuple[int, int]:
    """(available, pending)."""
    balance = get_balance(ctx, "shop", member.id)
    return balance.available, balance.pending


def expiries(ctx, member: Member) -> list[tuple[int, datetime]]:
    return [(e.points, e.expires_at) for e in get_balance(ctx, "shop", member.id).next_expiries]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def member_row(ctx, member: Member) -> dict[str, Any]:
    """The member's stored row, as a dict (status, merged_into, attributes, erased_at...)."""
    with ctx.uow(read_only=True) as uow:
        return dict(uow.session.execute(select(MemberRow.__table__).where(
            MemberRow.id == member.id)).mappings().one())


def adjustment_entries(ctx, member: Member) -> list[tuple[int, str | None, str | None]]:
    """(points, actor, approved_by) of the member's adjustment entries, oldest first."""
    with ctx.uow(read_only=True) as uow:
        return [(row.points, row.actor, row.approved_by) for row in uow.session.scalars(
            select(LedgerEntryRow).where(LedgerEntryRow.member_id == member.id,
                                         LedgerEntryRow.kind == "adjust")
            .order_by(LedgerEntryRow.id))]


def audited(ctx, member: Member) -> list[tuple[str, str]]:
    """(action, actor) of the audit records about the member, oldest first."""
    with ctx.uow(read_only=True) as uow:
        return [(row.action, row.actor) for row in uow.session.scalars(
            select(AuditRecordRow).where(AuditRecordRow.member_id == member.id)
            .order_by(AuditRecordRow.id))]


def audit_record(ctx, member: Member, action: str) -> dict[str, Any]:
    """The one audit record of ``action`` about the member, as a dict."""
    with ctx.uow(read_only=True) as uow:
        return dict(uow.session.execute(select(AuditRecordRow.__table__).where(
            AuditRecordRow.member_id == member.id,
            AuditRecordRow.action == action)).mappings().one())


def program_figures(ctx) -> tuple[int, int, int]:
    """(sum of available, sum of pending, sum of lifetime earned) over every member."""
    with ctx.uow(read_only=True) as uow:
        row = uow.session.execute(select(
            func.coalesce(func.sum(MemberBalanceRow.available), 0),
            func.coalesce(func.sum(MemberBalanceRow.pending), 0),
            func.coalesce(func.sum(MemberBalanceRow.lifetime_earned), 0))).one()
    return int(row[0]), int(row[1]), int(row[2])


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


# -- adjustments: limits and approvals -----------------------------------------------------------


def test_adjustments_within_the_agent_limits_apply_at_once_and_above_them_wait(ctx, now):
    a_program(ctx, adjustments={"agent_limit_per_adjustment": 500, "agent_limit_per_day": 1200})
    ada = a_member(ctx)

    first = adjusting(ctx, ada, 300)  # today: 0 + 300 = 300 <= 1200, and 300 <= 500
    too_big = adjusting(ctx, ada, 600)  # 600 > 500 a single adjustment: waits
    second = adjusting(ctx, ada, 500)  # 300 + 500 = 800 <= 1200 (the pending 600 counts not)
    down = adjusting(ctx, ada, -400, reason="correction")  # |-400|: 800 + 400 = 1200 <= 1200
    over_the_day = adjusting(ctx, ada, 1)  # 1200 + 1 = 1201 > 1200: waits

    assert [a.status for a in (first, too_big, second, down, over_the_day)] == [
        "applied", "pending", "applied", "applied", "pending"]
    assert available(ctx, ada) == 300 + 500 - 400  # = 400; nothing of what waits
    assert adjustment_entries(ctx, ada) == [(300, "key:agent1", None), (500, "key:agent1", None),
                                            (-400, "key:agent1", None)]
    pending = desk.list_adjustments(ctx, "shop", "pending")
    assert {a.adjustment_id for a in pending} == {too_big.adjustment_id,
                                                  over_the_day.adjustment_id}
    assert len(desk.list_adjustments(ctx, "shop", "applied")) == 3
    assert len(desk.list_adjustments(ctx, "shop", None)) == 5
    # Another agent's day is their own: 600 is still above the per-adjustment limit, 200 is not.
    assert adjusting(ctx, ada, 200, OTHER_AGENT).status == "applied"
    assert [action for action, _ in audited(ctx, ada)] == [
        "member.adjustment_applied", "member.adjustment_requested", "member.adjustment_applied",
        "member.adjustment_applied", "member.adjustment_requested", "member.adjustment_applied"]
    assert verify_ledger(ctx).ok


def test_the_agent_day_starts_again_at_midnight_in_the_program_time_zone(ctx, now):
    a_program(ctx, adjustments={"agent_limit_per_adjustment": 500, "agent_limit_per_day": 500})
    ada = a_member(ctx)
    assert adjusting(ctx, ada, 500).status == "applied"  # 500 <= 500 today
    now.move_to("2026-03-10 22:59:00")  # 23:59 in Paris: still the same day
    assert adjusting(ctx, ada, 1).status == "pending"  # 500 + 1 > 500
    now.move_to("2026-03-10 23:00:00")  # midnight in Paris: a new day, 0 so far
    assert adjusting(ctx, ada, 500).status == "applied"
    assert available(ctx, ada) == 500 + 500
    assert verify_ledger(ctx).ok


def test_no_one_approves_or_rejects_their_own_adjustment(ctx, now):
    a_program(ctx)
    ada = a_member(ctx)
    request = adjusting(ctx, ada, 800, SUPERVISOR)  # 800 > 500 (the default): waits
    assert request.status == "pending"

    for approve in (True, False):
        with pytest.raises(Forbidden):
            desk.decide(ctx, "shop", request.adjustment_id, approve=approve, actor=SUPERVISOR)

    assert [a.status for a in desk.list_adjustments(ctx, "shop", None)] == ["pending"]
    assert available(ctx, ada) == 0
    assert adjustment_entries(ctx, ada) == []
    assert verify_ledger(ctx).ok


def test_a_supervisor_approves_and_the_entry_names_who_asked_and_who_approved(ctx, now):
    a_program(ctx, adjustments={"agent_limit_per_adjustment": 500, "agent_limit_per_day": 1000})
    ada = a_member(ctx)
    request = adjusting(ctx, ada, 600, note="parcel lost")  # 600 > 500: waits
    now.tick(timedelta(minutes=5))

    approved = desk.decide(ctx, "shop", request.adjustment_id, approve=True, actor=SUPERVISOR)

    assert (approved.status, approved.requested_by, approved.decided_by) == (
        "applied", "key:agent1", "key:super1")
    assert approved.decided_at == utc("2026-03-10 12:05:00")
    assert approved.note == "parcel lost"
    assert available(ctx, ada) == 600
    assert adjustment_entries(ctx, ada) == [(600, "key:agent1", "key:super1")]
    with pytest.raises(Conflict):  # decided once and for all
        desk.decide(ctx, "shop", request.adjustment_id, approve=False, actor=SUPERVISOR)
    # What a supervisor approved does not use the agent's own day: 500 + 500 = 1000 <= 1000
    # (had the approved 600 counted, 600 + 500 > 1000 would have waited).
    assert adjusting(ctx, ada, 500).status == "applied"
    assert adjusting(ctx, ada, 500).status == "applied"
    assert available(ctx, ada) == 600 + 500 + 500
    assert audited(ctx, ada)[:2] == [("member.adjustment_requested", "key:agent1"),
                                     ("member.adjustment_approved", "key:super1")]
    record = audit_record(ctx, ada, "member.adjustment_approved")
    assert record["acting_person"] == "Grace at the desk"
    assert record["after"] == {"adjustment": request.adjustment_id, "status": "applied"}
    assert verify_ledger(ctx).ok


def test_a_rejected_adjustment_moves_no_points(ctx, now):
    a_program(ctx)
    ada = a_member(ctx)
    request = adjusting(ctx, ada, 900)

    rejected = desk.decide(ctx, "shop", request.adjustment_id, approve=False, actor=SUPERVISOR)

    assert (rejected.status, rejected.decided_by) == ("rejected", "key:super1")
    assert available(ctx, ada) == 0 and adjustment_entries(ctx, ada) == []
    assert [a.adjustment_id for a in desk.list_adjustments(ctx, "shop", "rejected")] == [
        request.adjustment_id]
    assert desk.list_adjustments(ctx, "shop", "pending") == []
    with pytest.raises(Conflict):
        desk.decide(ctx, "shop", request.adjustment_id, approve=True, actor=SUPERVISOR)
    assert audited(ctx, ada) == [("member.adjustment_requested", "key:agent1"),
                                 ("member.adjustment_rejected", "key:super1")]
    assert verify_ledger(ctx).ok


def test_approving_a_deduction_that_would_now_overdraw_is_refused_and_it_stays_pending(ctx, now):
    a_program(ctx)
    ada = a_member(ctx)
    earn(ctx, ada, 700)
    request = adjusting(ctx, ada, -600, reason="fraud")  # |-600| > 500: waits
    debit(ctx, ada, 200)  # meanwhile: 700 - 200 = 500 left, fewer than the 600 to take

    with pytest.raises(InsufficientPoints) as refused:
        desk.decide(ctx, "shop", request.adjustment_id, approve=True, actor=SUPERVISOR)

    assert (refused.value.extensions["available"], refused.value.extensions["required"]) == (
        500, 600)
    [still] = desk.list_adjustments(ctx, "shop", "pending")
    assert (still.adjustment_id, still.decided_by) == (request.adjustment_id, None)
    assert available(ctx, ada) == 500
    assert adjustment_entries(ctx, ada) == []
    assert ("member.adjustment_approved", "key:super1") not in audited(ctx, ada)
    # Once the member has the points again, the same approval goes through: 500 + 150 - 600.
    earn(ctx, ada, 150)
    desk.decide(ctx, "shop", request.adjustment_id, approve=True, actor=SUPERVISOR)
    assert available(ctx, ada) == 50
    assert adjustment_entries(ctx, ada) == [(-600, "key:agent1", "key:super1")]
    assert verify_ledger(ctx).ok


def test_a_reason_outside_the_program_list_is_refused_and_nothing_is_written(ctx, now):
    a_program(ctx, adjustments={"reasons": ["goodwill", "late-delivery"]})
    ada = a_member(ctx)
    before = table_counts(ctx)

    with pytest.raises(InvalidRequest) as refused:
        adjusting(ctx, ada, 10, reason="correction")  # a default reason, not in this list
    assert refused.value.field == "reason"
    assert "goodwill, late-delivery" in refused.value.detail
    with pytest.raises(InvalidRequest) as nothing:
        adjusting(ctx, ada, 0)
    assert nothing.value.field == "points"
    with pytest.raises(MemberNotFound):
        desk.adjust(ctx, desk.Adjust("shop", "mem_nobody", 10, "goodwill", "X-1"), AGENT)
    with pytest.raises(AdjustmentNotFound):
        desk.decide(ctx, "shop", "adj_nothing", approve=True, actor=SUPERVISOR)

    assert table_counts(ctx) == before
    assert adjusting(ctx, ada, 10, reason="late-delivery").status == "applied"
    assert available(ctx, ada) == 10
    assert verify_ledger(ctx).ok


def test_an_adjustment_sent_twice_is_applied_once(ctx, now):
    a_program(ctx)
    ada = a_member(ctx)
    command = desk.Adjust("shop", ada.id, 40, "goodwill", "ADJ-TWICE", "sorry")
    first = desk.adjust(ctx, command, AGENT)
    again = desk.adjust(ctx, command, AGENT)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.result.adjustment_id == first.result.adjustment_id
    assert available(ctx, ada) == 40
    assert verify_ledger(ctx).ok


@pytest.mark.parametrize("qualifying", [True, False])
def test_goodwill_points_count_toward_tiers_only_when_the_program_says_so(ctx, now, qualifying):
    a_desk_program(ctx, tiers=POINTS_LADDER, adjustments={"qualifying": qualifying})
    ada = a_member(ctx)

    adjusting(ctx, ada, 400)
    progress = tier_view(ctx, "shop", ada.id).progress
    assert progress is not None
    assert progress.measure == (400 if qualifying else 0)

    # 150 EUR earn 150 qualifying points: 400 + 150 = 550 >= 500 reaches Silver only if the
    # goodwill counts; 150 alone stays below.
    bought = record_purchase(ctx, a_purchase(ada, "150.00")).result
    assert bought.tier == ("silver" if qualifying else "member")
    assert tier_view(ctx, "shop", ada.id).progress.measure == (550 if qualifying else 150)
    assert available(ctx, ada) == 400 + 150
    assert verify_ledger(ctx).ok


def test_qualifying_goodwill_that_crosses_a_threshold_lifts_the_tier_by_the_review(ctx, now):
    a_desk_program(ctx, tiers=POINTS_LADDER,
                   adjustments={"qualifying": True, "agent_limit_per_adjustment": 1000})
    ada = a_member(ctx)
    adjusting(ctx, ada, 600)  # 600 >= 500
    assert tier_view(ctx, "shop", ada.id).progress.measure == 600
    review_tiers(ctx)
    assert tier_view(ctx, "shop", ada.id).progress.tier.id == "silver"
    assert verify_ledger(ctx).ok


# -- freezing -----------------------------------------------------------------------------------


def test_a_frozen_member_keeps_earning_but_no_point_leaves_until_unfrozen(ctx, now):
    a_desk_program(ctx, rewards=[COFFEE], transfers=TRANSFERS_ON)
    ada, bob = a_member(ctx), a_member(ctx)
    earn(ctx, ada, 200)

    state = desk.freeze(ctx, "shop", ada.id, "card reported stolen", AGENT)
    assert (state.status, state.reason) == ("frozen", "card reported stolen")

    with pytest.raises(MemberNotActive):
        debit(ctx, ada, 10)
    with pytest.raises(MemberNotActive):
        redeem(ctx, Redeem("shop", ada.id, "coffee", "R-FROZEN"))
    with pytest.raises(MemberNotActive):
        record_purchase(ctx, a_purchase(ada, "20.00", points_to_burn=100))
    with pytest.raises(MemberNotActive):
        transferring(ctx, ada, bob, 20)
    with pytest.raises(MemberNotActive):  # nor do points arrive by transfer
        transferring(ctx, bob, ada, 1)
    earned = record_purchase(ctx, a_purchase(ada, "30.00")).result
    assert earned.points_earned == 30
    assert available(ctx, ada) == 200 + 30
    with pytest.raises(Conflict):  # only a frozen member is unfrozen
        desk.unfreeze(ctx, "shop", bob.id, "nothing to do", AGENT)

    state = desk.unfreeze(ctx, "shop", ada.id, "the customer proved who she is", AGENT)
    assert (state.status, state.reason) == ("active", "the customer proved who she is")
    debit(ctx, ada, 10)  # 230 - 10 = 220
    redeem(ctx, Redeem("shop", ada.id, "coffee", "R-AFTER"))  # 220 - 60 = 160
    # 100 points pay 1.00 EUR of a 20.00 basket; the 19.00 paid in money earn 19: 160 - 100 + 19
    burned = record_purchase(ctx, a_purchase(ada, "20.00", points_to_burn=100)).result
    assert (burned.points_burned, burned.points_earned) == (100, 19)
    transferring(ctx, ada, bob, 20)  # 79 - 20 = 59
    assert (available(ctx, ada), available(ctx, bob)) == (59, 20)
    assert [action for action, _ in audited(ctx, ada)] == [
        "member.frozen", "member.unfrozen", "member.transfer"]
    assert verify_ledger(ctx).ok


def test_the_frozen_reason_is_in_the_audit_log(ctx, now):
    a_program(ctx)
    ada = a_member(ctx)
    desk.freeze(ctx, "shop", ada.id, "suspected fraud", AGENT)
    record = audit_record(ctx, ada, "member.frozen")
    assert (record["actor"], record["target_type"], record["target_id"]) == (
        "key:agent1", "member", ada.id)
    assert record["before"] == {"status": "active", "reason": None}
    assert record["after"] == {"status": "frozen", "reason": "suspected fraud"}
    assert verify_ledger(ctx).ok


# -- closing and reopening ----------------------------------------------------------------------


def test_closing_forfeits_every_point_and_stops_earning(ctx, now):
    a_program(ctx, pending={"days": 14})
    ada = a_member(ctx)
    earn(ctx, ada, 100)
    now.tick(timedelta(days=15))
    release_pending(ctx)  # the 100 are available after 14 days
    earn(ctx, ada, 40)  # pending until 14 days from now
    assert points_of(ctx, ada) == (100, 40)

    state = desk.close(ctx, "shop", ada.id, "the customer asked", AGENT)

    assert (state.status, state.reason, state.closed_at) == (
        "closed", "the customer asked", utc("2026-03-25 12:00:00"))
    balance = get_balance(ctx, "shop", ada.id)
    assert (balance.available, balance.pending) == (0, 0)
    assert balance.lifetime_expired == 100 + 40
    with ctx.uow(read_only=True) as uow:
        forfeited = uow.session.execute(select(
            LedgerEntryRow.points, LedgerEntryRow.available_delta, LedgerEntryRow.pending_delta)
            .where(LedgerEntryRow.member_id == ada.id, LedgerEntryRow.kind == "expire")).all()
    assert [tuple(row) for row in forfeited] == [(-140, -100, -40)]
    with pytest.raises(MemberNotActive):
        record_purchase(ctx, a_purchase(ada, "10.00"))
    with pytest.raises(MemberNotActive):
        record_event(ctx, RecordEvent("shop", MemberRef(member_id=ada.id), "review", "E-1",
                                      datetime.now(UTC)))
    with pytest.raises(MemberNotActive):
        adjusting(ctx, ada, 10)
    with pytest.raises(MemberNotActive):
        desk.freeze(ctx, "shop", ada.id, "too late", AGENT)
    with pytest.raises(Conflict):
        desk.close(ctx, "shop", ada.id, "twice", AGENT)
    now.tick(timedelta(days=15))
    release_pending(ctx)  # the forfeited pending lot has nothing left to release
    assert points_of(ctx, ada) == (0, 0)
    assert verify_ledger(ctx).ok

    state = desk.reopen(ctx, "shop", ada.id, "she came back", AGENT)
    assert (state.status, state.closed_at) == ("active", None)
    earn(ctx, ada, 25)
    assert points_of(ctx, ada) == (0, 25)  # forfeited points do not come back
    assert [action for action, _ in audited(ctx, ada)] == ["member.closed", "member.reopened"]
    assert verify_ledger(ctx).ok


def test_closing_with_kept_points_forfeits_them_after_keep_days(ctx, now):
    a_program(ctx, closure={"remaining_points": "keep", "keep_days": 30})
    ada, bob = a_member(ctx), a_member(ctx)
    earn(ctx, ada, 100)
    earn(ctx, bob, 70)

    desk.close(ctx, "shop", ada.id, "moved abroad", AGENT)
    desk.close(ctx, "shop", bob.id, "moved abroad", AGENT)
    assert (available(ctx, ada), available(ctx, bob)) == (100, 70)
    with pytest.raises(MemberNotActive):
        record_purchase(ctx, a_purchase(ada, "10.00"))

    now.tick(timedelta(days=10))
    desk.reopen(ctx, "shop", bob.id, "came back within the month", AGENT)
    now.tick(timedelta(days=19))  # 29 days after closing
    assert expire_points(ctx).points == 0
    assert available(ctx, ada) == 100

    now.tick(timedelta(days=1))  # 30 days after closing
    assert expire_points(ctx).points == 100
    balance = get_balance(ctx, "shop", ada.id)
    assert (balance.available, balance.lifetime_expired) == (0, 100)
    assert available(ctx, bob) == 70  # reopened: nothing to forfeit
    assert expire_points(ctx).points == 0  # once
    assert verify_ledger(ctx).ok


# -- merging ------------------------------------------------------------------------------------


def test_merging_moves_everything_of_the_duplicate_into_the_survivor(ctx):
    a_desk_program(ctx, rewards=[COFFEE], tiers=SPEND_LADDER, pending={"days": 14},
                   expiry=EXPIRING_YEARLY)
    with freeze_time("2025-06-01 10:00:00"):
        ada = a_member(ctx, "card:1111", "email:ada@example.com")
        bob = a_member(ctx, "card:2222", "email:ada.work@example.com")
    # Bob: 600 EUR on 10 June 2025 (pending 14 days; expire at the end of June 2026, i.e. the
    # start of 1 July 2026 in Paris = 2026-06-30 22:00 UTC). 600 >= 500.00 makes him Silver.
    with freeze_time("2025-06-10 10:00:00"):
        assert record_purchase(ctx, a_purchase(bob, "600.00")).result.tier == "silver"
    with freeze_time("2025-06-25 10:00:00"):
        release_pending(ctx)
        voucher = redeem(ctx, Redeem("shop", bob.id, "coffee", "R-1")).result.voucher  # -60
    # Ada: 100 EUR on 5 August 2025 (expire 2026-08-31 22:00 UTC); she stays a Member.
    with freeze_time("2025-08-05 10:00:00"):
        record_purchase(ctx, a_purchase(ada, "100.00"))
    with freeze_time("2025-08-20 10:00:00"):
        release_pending(ctx)
    # Bob again: 200 EUR on 15 September 2025, pending until 29 September, expire 2026-09-30
    # 22:00 UTC.
    with freeze_time("2025-09-15 10:00:00"):
        record_purchase(ctx, a_purchase(bob, "200.00"))

    with freeze_time("2025-09-20 10:00:00"):
        assert points_of(ctx, ada) == (100, 0)
        assert points_of(ctx, bob) == (600 - 60, 200)
        total_before = program_figures(ctx)
        assert total_before[:2] == (100 + 540, 200)

        merged = desk.merge(ctx, "shop", ada.id, bob.id, AGENT)

        assert merged == desk.Merged(ada.id, bob.id, 540, 200, "silver")
        assert points_of(ctx, ada) == (100 + 540, 200)
        assert points_of(ctx, bob) == (0, 0)
        assert program_figures(ctx)[:2] == total_before[:2]
        # Every lot moved with its own expiry: the soonest first.
        assert expiries(ctx, ada) == [(540, utc("2026-06-30 22:00:00")),
                                      (100, utc("2026-08-31 22:00:00"))]
        assert [(p.points, p.available_at) for p in
                get_balance(ctx, "shop", ada.id).pending_releases] == [
            (200, utc("2025-09-29 10:00:00"))]
        # Bob's identities now find Ada; Bob is closed and points to her.
        for identity in ("card:2222", "email:ada.work@example.com", "card:1111"):
            assert find_member(ctx, "shop", Identity.parse(identity)).id == ada.id
        row = member_row(ctx, bob)
        assert (row["status"], row["merged_into"]) == ("closed", ada.id)
        assert check_voucher(ctx, "shop", voucher.code).member_id == ada.id
        # Ada keeps the higher tier, with Bob's qualification: 100 + 600 + 200 = 900 EUR.
        view = tier_view(ctx, "shop", ada.id)
        assert view.progress.tier.id == "silver"
        assert view.progress.measure == 90000
        assert view.history[0].reason == "merge"
        assert verify_ledger(ctx).ok
        with pytest.raises(MemberNotActive):  # the duplicate no longer earns
            record_purchase(ctx, a_purchase(bob, "10.00"))
        with pytest.raises(Conflict):  # nor is it reopened
            desk.reopen(ctx, "shop", bob.id, "by mistake", AGENT)

    with freeze_time("2025-09-30 10:00:00"):
        release_pending(ctx)  # Bob's pending 200 are released on Ada
        assert points_of(ctx, ada) == (640 + 200, 0)
        assert points_of(ctx, bob) == (0, 0)
        assert expiries(ctx, ada) == [(540, utc("2026-06-30 22:00:00")),
                                      (100, utc("2026-08-31 22:00:00")),
                                      (200, utc("2026-09-30 22:00:00"))]
        assert program_figures(ctx)[:2] == (840, 0)
    assert audited(ctx, bob)[-1] == ("member.merged", "key:agent1")
    assert verify_ledger(ctx).ok


def test_a_survivor_already_higher_keeps_its_own_tier(ctx):
    a_desk_program(ctx, tiers=SPEND_LADDER)
    with freeze_time("2025-03-01 10:00:00"):
        ada, bob = a_member(ctx), a_member(ctx)
        record_purchase(ctx, a_purchase(ada, "1600.00"))  # >= 1500.00: Gold
        record_purchase(ctx, a_purchase(bob, "50.00"))  # Member
        assert desk.merge(ctx, "shop", ada.id, bob.id, AGENT).tier == "gold"
        assert tier_view(ctx, "shop", ada.id).progress.tier.id == "gold"
        assert available(ctx, ada) == 1600 + 50
        assert verify_ledger(ctx).ok


def test_merges_that_make_no_sense_are_refused(ctx, now):
    a_program(ctx)
    ada, bob, cid = a_member(ctx), a_member(ctx), a_member(ctx)
    with pytest.raises(InvalidRequest):
        desk.merge(ctx, "shop", ada.id, ada.id, AGENT)
    with pytest.raises(MemberNotFound):
        desk.merge(ctx, "shop", ada.id, "mem_nobody", AGENT)
    desk.merge(ctx, "shop", ada.id, bob.id, AGENT)
    with pytest.raises(Conflict):  # already merged
        desk.merge(ctx, "shop", cid.id, bob.id, AGENT)
    with pytest.raises(Conflict):  # nor into a merged one
        desk.merge(ctx, "shop", bob.id, cid.id, AGENT)
    desk.close(ctx, "shop", cid.id, "closed", AGENT)
    with pytest.raises(MemberNotActive):  # into a closed one
        desk.merge(ctx, "shop", cid.id, ada.id, AGENT)
    assert verify_ledger(ctx).ok


def test_the_cli_merges_two_members(ctx, runner, now):
    a_program(ctx)
    ada, bob = a_member(ctx, "card:1111"), a_member(ctx, "card:2222")
    earn(ctx, ada, 10)
    earn(ctx, bob, 32)

    result = runner.invoke(main, ["members", "merge", "--program", "shop", ada.id, bob.id])

    assert result.exit_code == 0, result.output
    assert f"Merged {bob.id} into {ada.id}: 32 points and 0 pending moved." in result.output
    assert available(ctx, ada) == 42
    assert find_member(ctx, "shop", Identity.parse("card:2222")).id == ada.id
    action, actor = audited(ctx, bob)[-1]
    assert action == "member.merged" and actor.startswith("cli:")
    failed = runner.invoke(main, ["members", "merge", "--program", "shop", ada.id, bob.id])
    assert failed.exit_code == 1 and "merged" in failed.output
    assert verify_ledger(ctx).ok


# -- erasing ------------------------------------------------------------------------------------

NAME, EMAIL, PHONE, CARD, BIRTH = (
    "Ada Lovelace", "ada.lovelace@example.com", "+33612345678", "CARD77001234", "1815-12-10")


def dump_database(ctx) -> dict[str, str]:
    """Every row of every table, as text: where personal data would show."""
    with ctx.uow(read_only=True) as uow:
        return {table.name: "\n".join(str(tuple(row)) for row in
                                      uow.session.execute(select(table)).all())
                for table in Base.metadata.sorted_tables}


def test_an_erased_member_leaves_no_personal_data_and_every_figure_stays(ctx, now):
    a_program(ctx)
    ada = enroll_member(ctx, EnrollMember("shop", tuple(Identity.parse(i) for i in (
        f"card:{CARD}", f"email:{EMAIL}", f"phone:{PHONE}")), {
        "name": NAME, "email": EMAIL, "phone": PHONE, "card": CARD, "birth_date": BIRTH})).result
    grace = a_member(ctx)
    earn(ctx, grace, 12)
    record_purchase(ctx, a_purchase(f"card:{CARD}", "40.00"))
    record_purchase(ctx, a_purchase(f"email:{EMAIL}", "25.00"))
    record_event(ctx, RecordEvent("shop", MemberRef(identity=Identity.parse(f"phone:{PHONE}")),
                                  "review", "EVT-1", datetime.now(UTC) - timedelta(hours=1),
                                  {"comment": f"{NAME} loved the tea", "stars": 5}))
    adjusting(ctx, ada, 15, note=f"{NAME}'s parcel came late; call {PHONE}")
    record_feedback(ctx, RecordFeedback("shop", ada.id, "SURVEY-1", "nps", 3, "email",
                                        comment=f"{NAME} here, call me on {PHONE}"))
    figures = program_figures(ctx)
    assert figures == (40 + 25 + 15 + 12, 0, 40 + 25 + 12)  # the adjustment is not earned
    assert any(NAME in text for text in dump_database(ctx).values())  # the check can see it

    state = desk.erase(ctx, "shop", ada.id, SUPERVISOR)

    assert (state.status, state.erased) == ("closed", True)
    for identity in (f"card:{CARD}", f"email:{EMAIL}", f"phone:{PHONE}"):
        with pytest.raises(MemberNotFound):
            find_member(ctx, "shop", Identity.parse(identity))
    row = member_row(ctx, ada)
    assert (row["attributes"], row["status"], row["erased_at"]) == ({}, "closed", utc(NOW))
    assert program_figures(ctx) == figures
    assert available(ctx, ada) == 80  # the points stay, so that every total stays right
    assert audited(ctx, ada)[-1] == ("member.erased", "key:super1")
    assert verify_ledger(ctx).ok
    with pytest.raises(Conflict):
        desk.erase(ctx, "shop", ada.id, SUPERVISOR)
    with pytest.raises(Conflict):
        desk.reopen(ctx, "shop", ada.id, "she came back", AGENT)
    # Last, as it names every table still holding a piece of the person.
    found = {value: sorted(table for table, text in dump_database(ctx).items() if value in text)
             for value in (NAME, "Lovelace", EMAIL, PHONE, PHONE[1:], CARD, BIRTH)}
    assert {value: tables for value, tables in found.items() if tables} == {}


def test_erasing_a_member_erases_the_records_merged_into_it(ctx, now):
    a_program(ctx)
    ada = a_member(ctx, f"card:{CARD}")
    old = enroll_member(ctx, EnrollMember("shop", (Identity.parse(f"email:{EMAIL}"),), {
        "name": NAME, "phone": PHONE, "birth_date": BIRTH})).result
    older = enroll_member(ctx, EnrollMember("shop", (Identity.parse(f"phone:{PHONE}"),),
                                            {"name": NAME})).result
    earn(ctx, old, 20)
    adjusting(ctx, older, 5, note=f"{NAME} called from {PHONE}")
    desk.merge(ctx, "shop", old.id, older.id, AGENT)  # a merged record merged again: a chain
    desk.merge(ctx, "shop", ada.id, old.id, AGENT)
    figures = program_figures(ctx)

    desk.erase(ctx, "shop", ada.id, SUPERVISOR)

    for member in (ada, old, older):
        row = member_row(ctx, member)
        assert (row["attributes"], row["status"], row["erased_at"]) == ({}, "closed", utc(NOW))
        assert audited(ctx, member)[-1] == ("member.erased", "key:super1")
    assert available(ctx, ada) == 25 and program_figures(ctx) == figures
    assert verify_ledger(ctx).ok
    found = {value: sorted(table for table, text in dump_database(ctx).items() if value in text)
             for value in (NAME, "Lovelace", EMAIL, PHONE, PHONE[1:], CARD, BIRTH)}
    assert {value: tables for value, tables in found.items() if tables} == {}


def test_the_cli_erases_a_member_only_once_confirmed(ctx, runner, now):
    a_program(ctx)
    ada = a_member(ctx, "card:1111")

    declined = runner.invoke(main, ["members", "erase", "--program", "shop", ada.id], input="n\n")
    assert declined.exit_code == 1
    assert find_member(ctx, "shop", Identity.parse("card:1111")).id == ada.id

    confirmed = runner.invoke(main, ["members", "erase", "--program", "shop", ada.id],
                              input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert f"Erased the personal data of {ada.id}." in confirmed.output
    with pytest.raises(MemberNotFound):
        find_member(ctx, "shop", Identity.parse("card:1111"))
    action, actor = audited(ctx, ada)[-1]
    assert action == "member.erased" and actor.startswith("cli:")
    again = runner.invoke(main, ["members", "erase", "--program", "shop", ada.id, "--yes"])
    assert again.exit_code == 1 and "already erased" in again.output
    assert verify_ledger(ctx).ok


# -- transfers ----------------------------------------------------------------------------------


def test_transfers_are_off_unless_the_program_turns_them_on(ctx, now):
    a_program(ctx)
    ada, bob = a_member(ctx), a_member(ctx)
    earn(ctx, ada, 100)
    before = table_counts(ctx)
    with pytest.raises(TransfersDisabled):
        transferring(ctx, ada, bob, 10)
    assert table_counts(ctx) == before
    assert verify_ledger(ctx).ok


def test_a_transfer_moves_points_with_the_expiries_of_the_sender(ctx, now):
    a_program(ctx, transfers=TRANSFERS_ON, expiry=EXPIRING_YEARLY)
    ada, bob = a_member(ctx), a_member(ctx)
    now.move_to("2026-01-15 10:00:00")
    earn(ctx, ada, 30)  # expire at the end of January 2027: 2027-01-31 23:00 UTC (Paris +1)
    now.move_to(NOW)
    earn(ctx, ada, 50)  # expire at the end of March 2027: 2027-03-31 22:00 UTC (Paris +2)

    done = transferring(ctx, ada, bob, 40)  # the soonest first: 30 of January, 10 of March

    assert (done.points, done.from_available, done.to_available) == (40, 80 - 40, 40)
    assert expiries(ctx, bob) == [(30, utc("2027-01-31 23:00:00")),
                                  (10, utc("2027-03-31 22:00:00"))]
    assert expiries(ctx, ada) == [(40, utc("2027-03-31 22:00:00"))]
    assert audited(ctx, ada) == [("member.transfer", "key:agent1")]
    assert verify_ledger(ctx).ok


def test_a_transfer_sent_twice_moves_points_once(ctx, now):
    a_program(ctx, transfers=TRANSFERS_ON)
    ada, bob = a_member(ctx), a_member(ctx)
    earn(ctx, ada, 100)
    command = desk.Transfer("shop", ada.id, bob.id, 30, "TRF-TWICE")
    first, again = desk.transfer(ctx, command, AGENT), desk.transfer(ctx, command, AGENT)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.result == first.result
    assert (available(ctx, ada), available(ctx, bob)) == (70, 30)
    assert verify_ledger(ctx).ok


def test_transfers_stay_within_the_per_transfer_and_per_period_limits(ctx, now):
    a_program(ctx, transfers={"enabled": True, "per_transfer": 300,
                              "per_period": {"period": "day", "points": 500}})
    ada, bob = a_member(ctx), a_member(ctx)
    earn(ctx, ada, 1000)
    earn(ctx, bob, 1000)

    with pytest.raises(InvalidRequest) as too_big:
        transferring(ctx, ada, bob, 301)  # 301 > 300
    assert (too_big.value.field, too_big.value.extensions["maximum"]) == ("points", 300)
    transferring(ctx, ada, bob, 300)  # 300 today
    transferring(ctx, bob, ada, 300)  # Bob's day is his own
    transferring(ctx, ada, bob, 200)  # 300 + 200 = 500 <= 500
    with pytest.raises(InvalidRequest) as over:
        transferring(ctx, ada, bob, 1)  # 501 > 500
    assert over.value.field == "points"
    now.move_to("2026-03-10 22:59:59")  # 23:59:59 in Paris: still today
    with pytest.raises(InvalidRequest):
        transferring(ctx, ada, bob, 1)
    now.move_to("2026-03-10 23:00:00")  # a new day in Paris
    transferring(ctx, ada, bob, 300)
    # Ada: 1000 - 300 + 300 - 200 - 300 = 500; Bob: 1000 + 300 - 300 + 200 + 300 = 1500
    assert (available(ctx, ada), available(ctx, bob)) == (500, 1500)
    assert verify_ledger(ctx).ok


def test_transfers_to_oneself_to_inactive_or_unknown_members_or_beyond_the_balance_are_refused(
        ctx, now):
    a_program(ctx, transfers=TRANSFERS_ON)
    ada, bob, cid = a_member(ctx), a_member(ctx), a_member(ctx)
    earn(ctx, ada, 100)
    desk.close(ctx, "shop", bob.id, "gone", AGENT)
    before = table_counts(ctx)

    with pytest.raises(InvalidRequest) as to_self:
        transferring(ctx, ada, ada, 10)
    assert to_self.value.field == "to_member"
    with pytest.raises(MemberNotActive):
        transferring(ctx, ada, bob, 10)
    with pytest.raises(MemberNotFound) as unknown:
        transferring(ctx, ada, "mem_nobody", 10)
    assert unknown.value.field == "to_member"
    with pytest.raises(InsufficientPoints):
        transferring(ctx, ada, cid, 101)
    with pytest.raises(InvalidRequest):
        transferring(ctx, ada, cid, 0)

    assert table_counts(ctx) == before
    assert (available(ctx, ada), available(ctx, cid)) == (100, 0)
    assert verify_ledger(ctx).ok


def test_32_concurrent_transfers_in_a_ring_conserve_every_point(ctx):
    """Member i sends 15 to member i + 1 (mod N), all at once. Even members start with 20, so
    they always can; odd members start with 10, so they can only once their neighbour's 15 has
    arrived. Locks in one order: no deadlock, no overdraft, no point made or lost."""
    ring = RING
    a_program(ctx, transfers=TRANSFERS_ON)
    members = [a_member(ctx) for _ in range(ring)]
    start = [20 if i % 2 == 0 else 10 for i in range(ring)]
    for member, points in zip(members, start, strict=True):
        earn(ctx, member, points)
    total = sum(start)  # 16 x 20 + 16 x 10 = 480

    outcomes = run_together(ring, lambda i: desk.transfer(ctx, desk.Transfer(
        "shop", members[i].id, members[(i + 1) % ring].id, 15, f"RING-{i}"), AGENT))

    unexpected = [o for o in outcomes if isinstance(o, Exception)
                  and not isinstance(o, InsufficientPoints)]
    assert not unexpected, unexpected[:3]
    sent = [not isinstance(o, Exception) for o in outcomes]
    assert all(sent[i] for i in range(0, ring, 2))
    final = [available(ctx, member) for member in members]
    assert final == [start[i] - 15 * sent[i] + 15 * sent[i - 1] for i in range(ring)]
    assert min(final) >= 0
    assert sum(final) == total
    with ctx.uow(read_only=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(TransferRow)) == sum(sent)
    assert verify_ledger(ctx).ok


def test_concurrent_debits_and_transfers_of_one_member_never_overdraw(ctx):
    a_program(ctx, transfers=TRANSFERS_ON)
    ada, bob = a_member(ctx), a_member(ctx)
    earn(ctx, ada, 100)

    def act(i: int) -> object:
        if i % 2:
            return debit_points(ctx, DebitPoints("shop", ada.id, 15, f"D-{i}"))
        return transferring(ctx, ada, bob, 15, external_id=f"T-{i}")

    outcomes = run_together(16, act)
    assert all(isinstance(o, InsufficientPoints) for o in outcomes if isinstance(o, Exception))
    done = sum(not isinstance(o, Exception) for o in outcomes)
    assert done == 100 // 15  # 6 x 15 = 90 fit in 100; a 7th would overdraw
    assert available(ctx, ada) == 100 - 15 * done
    assert available(ctx, ada) + available(ctx, bob) + 15 * sum(
        not isinstance(o, Exception) for i, o in enumerate(outcomes) if i % 2) == 100
    assert verify_ledger(ctx).ok

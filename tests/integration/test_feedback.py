"""Survey answers against a real database (SQLite and PostgreSQL): recorded once per survey
tool id, checked against their scale, rewarded through a ``survey_answered`` rule within its
limits, listed page by page, moved by merges and blanked by erasure.

The program "shop" (EUR, Europe/Paris) earns 1 point per euro and, by its rule ``survey``,
50 points for a survey answer, once a month.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from loyalty.adapters.orm import DomainEventRow, EventRow, FeedbackRow
from loyalty.domain.errors import (
    Conflict,
    IdempotencyKeyReused,
    InvalidRequest,
    MemberNotActive,
    MemberNotFound,
)
from loyalty.domain.members import Member
from loyalty.services import desk
from loyalty.services.feedback import (
    FeedbackRecorded,
    RecordFeedback,
    list_feedback,
    record_feedback,
)
from loyalty.services.points import get_balance
from loyalty.services.programs import CreateProgram, create_program
from loyalty.services.verification import verify_ledger
from tests.api.support import table_counts
from tests.builders import a_member, earn

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
AGENT = desk.Actor("key:agent1")

RULES: list[dict[str, Any]] = [
    {
        "id": "base",
        "name": "1 point per euro",
        "effect": {"type": "per_currency_unit", "points": "1"},
    },
    {
        "id": "survey",
        "name": "50 points for an answer, once a month",
        "trigger": "survey_answered",
        "effect": {"type": "fixed", "points": 50},
        "limits": {"per_member": [{"period": "month", "points": 50}]},
    },
]

_ids = iter(range(1, 10**9))


@pytest.fixture
def clock():
    with freeze_time(NOW) as frozen:
        yield frozen


@pytest.fixture
def ada(ctx, clock) -> Member:
    create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", {}, RULES))
    return a_member(ctx, "email:ada@example.com")


def answer(
    ctx, member: Member | str, kind: str = "nps", score: int = 9, **fields: Any
) -> FeedbackRecorded:
    return answering(ctx, member, kind, score, **fields).result


def answering(ctx, member: Member | str, kind: str = "nps", score: int = 9, **fields: Any):
    fields.setdefault("external_id", f"SURVEY-{next(_ids)}")
    fields.setdefault("channel", "email")
    member_id = member.id if isinstance(member, Member) else member
    return record_feedback(ctx, RecordFeedback("shop", member_id, kind=kind, score=score, **fields))


def stored(ctx) -> list[FeedbackRow]:
    with ctx.uow(read_only=True) as uow:
        rows = list(uow.session.scalars(select(FeedbackRow).order_by(FeedbackRow.answered_at)))
        return [(row.member_id, row.external_id, row.kind, row.score, row.comment) for row in rows]


def survey_events(ctx) -> list[tuple[str, dict[str, Any], int]]:
    with ctx.uow(read_only=True) as uow:
        return [
            (row.member_id, row.properties, row.points_earned)
            for row in uow.session.scalars(
                select(EventRow)
                .where(EventRow.type == "survey_answered")
                .order_by(EventRow.occurred_at)
            )
        ]


def test_a_survey_answer_is_recorded_with_its_survey_answered_event(ctx, ada):
    purchase = earn(ctx, ada, 30).purchase_id
    recorded = answer(
        ctx,
        ada,
        "csat",
        4,
        channel="app",
        comment="Quick and friendly",
        purchase_id=purchase,
        external_id="TYPEFORM-1",
    )

    view = recorded.feedback
    assert (view.member_id, view.external_id, view.kind, view.score, view.channel) == (
        ada.id,
        "TYPEFORM-1",
        "csat",
        4,
        "app",
    )
    assert (view.comment, view.purchase_id, view.answered_at, view.recorded_at) == (
        "Quick and friendly",
        purchase,
        NOW,
        NOW,
    )
    assert recorded.points_earned == 50
    assert recorded.balance.available == 30 + 50
    assert survey_events(ctx) == [(ada.id, {"kind": "csat", "score": 4, "channel": "app"}, 50)]
    with ctx.uow(read_only=True) as uow:
        outbox = uow.session.scalars(
            select(DomainEventRow.type).where(DomainEventRow.member_id == ada.id)
        ).all()
    assert "feedback.recorded" in outbox
    assert verify_ledger(ctx).ok


def test_a_survey_answer_is_recorded_once_per_survey_tool_id(ctx, ada):
    first = answering(ctx, ada, "nps", 10, external_id="SURVEY-A")
    again = answering(ctx, ada, "nps", 10, external_id="SURVEY-A")

    assert (first.replayed, again.replayed) == (False, True)
    assert again.result == first.result
    assert len(stored(ctx)) == 1
    assert get_balance(ctx, "shop", ada.id).available == 50


def test_another_answer_under_the_same_survey_tool_id_is_refused(ctx, ada):
    answer(ctx, ada, "nps", 10, external_id="SURVEY-A")
    bob = a_member(ctx)
    before = table_counts(ctx)
    with pytest.raises(IdempotencyKeyReused):
        answer(ctx, ada, "nps", 3, external_id="SURVEY-A")
    with pytest.raises(IdempotencyKeyReused):
        answer(ctx, bob, "nps", 10, external_id="SURVEY-A")  # someone else's answer id
    assert table_counts(ctx) == before


@pytest.mark.parametrize(("kind", "low", "high"), [("nps", 0, 10), ("csat", 1, 5), ("ces", 1, 7)])
def test_each_kind_of_survey_takes_scores_on_its_own_scale(ctx, ada, kind, low, high):
    assert answer(ctx, ada, kind, low).feedback.score == low
    assert answer(ctx, ada, kind, high).feedback.score == high
    before = table_counts(ctx)
    for wrong in (low - 1, high + 1):
        with pytest.raises(InvalidRequest) as refused:
            answer(ctx, ada, kind, wrong)
        assert refused.value.field == "score"
        assert (refused.value.extensions["minimum"], refused.value.extensions["maximum"]) == (
            low,
            high,
        )
    assert table_counts(ctx) == before


def test_the_purchase_an_answer_is_about_must_be_the_members_own(ctx, ada):
    bob = a_member(ctx)
    bobs = earn(ctx, bob, 20).purchase_id
    before = table_counts(ctx)
    for purchase in (bobs, "pur_doesnotexist"):
        with pytest.raises(InvalidRequest) as refused:
            answer(ctx, ada, purchase_id=purchase)
        assert refused.value.field == "purchase_id"
    assert table_counts(ctx) == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "stars"}, "kind"),
        ({"channel": "E-mail!"}, "channel"),
        ({"comment": "x" * 2001}, "comment"),
        ({"answered_at": NOW + timedelta(hours=1)}, "answered_at"),
    ],
)
def test_malformed_answers_are_refused_naming_the_field(ctx, ada, fields, field):
    before = table_counts(ctx)
    with pytest.raises(InvalidRequest) as refused:
        answer(ctx, ada, **fields)
    assert refused.value.field == field
    assert table_counts(ctx) == before


def test_unknown_and_closed_members_cannot_answer(ctx, ada):
    with pytest.raises(MemberNotFound):
        answer(ctx, "mem_doesnotexist")
    desk.close(ctx, "shop", ada.id, "left", AGENT)
    with pytest.raises(MemberNotActive):
        answer(ctx, ada)


def test_the_survey_rule_rewards_one_answer_a_month_in_the_programs_zone(ctx, ada, clock):
    first = answer(ctx, ada)  # 10 March
    clock.tick(timedelta(days=5))
    second = answer(ctx, ada)  # 15 March: March's answer was rewarded
    clock.move_to("2026-03-31 22:30:00")  # 00:30 on 1 April in Paris: April's first answer
    april = answer(ctx, ada)
    clock.move_to("2026-04-20 12:00:00")
    april_again = answer(ctx, ada)
    late = answer(ctx, ada, answered_at=datetime(2026, 3, 20, tzinfo=UTC))  # sent in late

    assert [a.points_earned for a in (first, second, april, april_again, late)] == [50, 0, 50, 0, 0]
    assert get_balance(ctx, "shop", ada.id).available == 100
    assert len(stored(ctx)) == 5  # every answer is recorded, rewarded or not
    cut = next(line for line in second.explanation if line["rule"] == "survey")
    assert cut["cut"] == "capped at 50 per member per month (0 left)"


def test_answers_are_listed_newest_answered_first_page_by_page(ctx, ada):
    ids = [
        answer(ctx, ada, answered_at=NOW - timedelta(days=day)).feedback.feedback_id
        for day in (3, 1, 2, 0, 4)
    ]
    bob = a_member(ctx)
    answer(ctx, bob)

    pages, cursor = [], None
    while True:
        page = list_feedback(ctx, "shop", ada.id, limit=2, cursor=cursor)
        pages.append([view.feedback_id for view in page.answers])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == [[ids[3], ids[1]], [ids[2], ids[0]], [ids[4]]]
    with pytest.raises(InvalidRequest) as refused:
        list_feedback(ctx, "shop", ada.id, limit=2, cursor="not-a-cursor")
    assert refused.value.field == "cursor"


def test_merging_moves_the_duplicates_answers_to_the_survivor(ctx, ada):
    ada_again = a_member(ctx)
    answer(ctx, ada_again, external_id="S-1")
    desk.merge(ctx, "shop", ada.id, ada_again.id, AGENT)
    assert [view.external_id for view in list_feedback(ctx, "shop", ada.id, limit=10).answers] == [
        "S-1"
    ]
    assert list_feedback(ctx, "shop", ada_again.id, limit=10).answers == ()


def test_erasing_a_member_blanks_the_comments_and_the_stored_replies(ctx, ada):
    answer(ctx, ada, comment="Ada Lovelace: the parcel was late", external_id="S-1")
    desk.erase(ctx, "shop", ada.id, desk.Actor("key:super1"))

    assert stored(ctx) == [(ada.id, "S-1", "nps", 9, None)]
    with pytest.raises(Conflict) as refused:  # its reply quoted the comment: gone with it
        answer(ctx, ada, comment="Ada Lovelace: the parcel was late", external_id="S-1")
    assert "erased" in refused.value.detail

"""Recording survey answers (NPS, CSAT, CES), and reading them back.

An answer is idempotent by the survey tool's own id (``external_id``): the same answer sent
again is replayed, a different answer under the same id is refused. In the answer's own
transaction a ``survey_answered`` event (properties ``kind``, ``score``, ``channel``) goes
through the event rules, so a rule ``trigger: survey_answered`` with ``limits`` rewards it, e.g.
once a month. The comment is personal data: erasing the member blanks it, and merging moves the
answers to the surviving member.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from loyalty.domain import business_events
from loyalty.domain.errors import InvalidRequest, MemberNotActive, MemberNotFound
from loyalty.domain.feedback import COMMENT_MAX, check_answer
from loyalty.domain.members import MemberStatus, new_id
from loyalty.domain.time import utc
from loyalty.services.context import Context
from loyalty.services.events import earn_event
from loyalty.services.idempotency import (
    IdempotencyKey,
    Outcome,
    claim,
    fingerprint,
    remember,
    serialisable,
)
from loyalty.services.keyset import decode_cursor, encode_cursor
from loyalty.services.purchases import BalanceSnapshot

SURVEY_ANSWERED = "survey_answered"


@dataclass(frozen=True)
class RecordFeedback:
    program_id: str
    member_id: str
    external_id: str  # the survey tool's id of the answer
    kind: str  # nps, csat, ces
    score: int
    channel: str
    comment: str | None = None
    purchase_id: str | None = None  # the purchase the answer is about, if any
    answered_at: datetime | None = None  # default: now
    request_key: IdempotencyKey | None = None


@dataclass(frozen=True)
class FeedbackView:
    feedback_id: str
    member_id: str
    external_id: str
    kind: str
    score: int
    channel: str
    comment: str | None
    purchase_id: str | None
    answered_at: datetime
    recorded_at: datetime


@dataclass(frozen=True)
class FeedbackRecorded:
    feedback: FeedbackView
    event_id: str
    points_earned: int
    explanation: tuple[dict[str, object], ...]
    balance: BalanceSnapshot


def record_feedback(ctx: Context, command: RecordFeedback) -> Outcome[FeedbackRecorded]:
    """Record a survey answer and fire its ``survey_answered`` event, in one transaction."""
    survey = check_answer(command.kind, command.score, command.channel)
    if command.comment is not None and len(command.comment) > COMMENT_MAX:
        raise InvalidRequest(f"a comment has at most {COMMENT_MAX} characters", field="comment")
    now = ctx.clock.now()
    answered_at = utc(command.answered_at) if command.answered_at is not None else now
    if answered_at > now + ctx.future_tolerance:
        raise InvalidRequest("answered_at is in the future", field="answered_at")
    natural = (f"feedback:{command.external_id}", fingerprint(replace(command, request_key=None)))
    with ctx.uow() as uow:
        program = uow.programs.get(command.program_id)
        keys, replay = claim(uow, program.id, natural, command.request_key, FeedbackRecorded, now)
        if replay is not None:
            return replay
        status = uow.members.status_of(program.id, command.member_id)
        if status is None:
            raise MemberNotFound(f"there is no member {command.member_id!r} in this program")
        if status is MemberStatus.CLOSED:
            raise MemberNotActive(
                "a closed member's answers are no longer recorded", member_status=status.value
            )
        if command.purchase_id is not None and not uow.feedback.is_purchase_of(
            program.id, command.member_id, command.purchase_id
        ):
            raise InvalidRequest(
                f"this member has no purchase {command.purchase_id!r}", field="purchase_id"
            )
        view = FeedbackView(
            feedback_id=new_id("fbk"),
            member_id=command.member_id,
            external_id=command.external_id,
            kind=survey.value,
            score=command.score,
            channel=command.channel,
            comment=command.comment,
            purchase_id=command.purchase_id,
            answered_at=answered_at,
            recorded_at=now,
        )
        uow.feedback.add(
            id=view.feedback_id,
            program_id=program.id,
            member_id=view.member_id,
            external_id=view.external_id,
            kind=view.kind,
            score=view.score,
            channel=view.channel,
            comment=view.comment,
            purchase_id=view.purchase_id,
            answered_at=answered_at,
            recorded_at=now,
        )
        # The feedback's own id names the event: unique, and never one a client chose.
        event = earn_event(
            uow,
            program,
            view.member_id,
            SURVEY_ANSWERED,
            f"feedback:{view.feedback_id}",
            answered_at,
            {"kind": view.kind, "score": view.score, "channel": view.channel},
            now,
        )
        uow.outbox.emit(
            program_id=program.id,
            member_id=view.member_id,
            type=business_events.FEEDBACK_RECORDED,
            occurred_at=answered_at,
            recorded_at=now,
            payload={
                "feedback": view.feedback_id,
                "kind": view.kind,
                "score": view.score,
                "channel": view.channel,
                "purchase": view.purchase_id,
            },
        )
        result = FeedbackRecorded(
            view, event.event_id, event.points_earned, event.explanation, event.balance
        )
        remember(uow, program.id, keys, result)
        uow.commit()
    return Outcome(result)


@dataclass(frozen=True)
class FeedbackPage:
    answers: tuple[FeedbackView, ...]
    next_cursor: str | None


def list_feedback(
    ctx: Context, program_id: str, member_id: str, *, limit: int, cursor: str | None = None
) -> FeedbackPage:
    """The member's answers, newest answered first, ``limit`` a page."""
    before = decode_cursor(cursor) if cursor is not None else None
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        if uow.members.status_of(program_id, member_id) is None:
            raise MemberNotFound(f"there is no member {member_id!r} in this program")
        found = [
            FeedbackView(
                row.id,
                row.member_id,
                row.external_id,
                row.kind,
                row.score,
                row.channel,
                row.comment,
                row.purchase_id,
                row.answered_at,
                row.recorded_at,
            )
            for row in uow.feedback.page(member_id, before=before, limit=limit + 1)
        ]
    answers = tuple(found[:limit])
    more = len(found) > limit
    return FeedbackPage(
        answers, encode_cursor(answers[-1].answered_at, answers[-1].feedback_id) if more else None
    )


serialisable(RecordFeedback, FeedbackRecorded)

"""Engagement: a member's survey answers and referrals."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import requires
from api.engagement_schemas import (
    FeedbackPageSchema,
    FeedbackRecordedSchema,
    FeedbackSchema,
    MemberReferralsSchema,
    PageQuerySchema,
)
from api.views import IDEMPOTENCY_KEY_PARAMETER, context, created, request_key, settings
from loyalty.domain.access import Scope
from loyalty.domain.errors import InvalidRequest
from loyalty.services import feedback, referrals

blp = Blueprint(
    "engagement",
    __name__,
    url_prefix="/v1/programs/<program>/members/<member_id>",
    description="A member's survey answers (NPS, CSAT, CES) and referrals.",
)


def _limit(query: dict[str, Any]) -> int:
    limit = query.get("limit", settings().page_size_default)
    if limit > settings().page_size_max:
        raise InvalidRequest(f"limit is at most {settings().page_size_max}", field="limit")
    return int(limit)


@blp.route("/feedback")
class Feedback(MethodView):
    @requires(Scope.CHECKOUT, Scope.AGENT, Scope.MEMBER)
    @blp.arguments(FeedbackSchema)
    @blp.response(201, FeedbackRecordedSchema)
    @blp.alt_response(200, schema=FeedbackRecordedSchema, description="Replay of an earlier answer")
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, data: dict[str, Any], program: str, member_id: str) -> Any:
        """Record a survey answer

        An NPS (0-10), CSAT (1-5) or CES (1-7) score, the channel, an optional comment and the
        member's purchase it is about. ``external_id`` (the survey tool's id) makes it
        idempotent: sent again, it answers 200 with the first answer; another answer under
        the same id is a 422. The answer fires a ``survey_answered`` event (properties
        ``kind``, ``score``, ``channel``) that rules may reward.
        """
        command = feedback.RecordFeedback(
            program_id=program, member_id=member_id, request_key=request_key(), **data
        )
        return created(feedback.record_feedback(context(), command))

    @requires(Scope.AGENT, Scope.MEMBER)
    @blp.arguments(PageQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, FeedbackPageSchema)
    def get(self, query: dict[str, Any], program: str, member_id: str) -> Any:
        """List the member's survey answers

        Newest answered first. Pass ``next_cursor`` back as ``cursor`` for the next page.
        """
        return feedback.list_feedback(
            context(), program, member_id, limit=_limit(query), cursor=query.get("cursor")
        )


@blp.route("/referrals")
class Referrals(MethodView):
    @requires(Scope.CHECKOUT, Scope.AGENT, Scope.MEMBER)
    @blp.arguments(PageQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, MemberReferralsSchema)
    def get(self, query: dict[str, Any], program: str, member_id: str) -> Any:
        """Read the member's referral code and referrals

        The code to hand out to friends (they enrol with ``referral_code``), the member's own
        referral if someone referred them, and the referrals they made, newest first, each
        with its status (pending, qualified, completed, rejected) and the reason of a
        rejection or of a referrer left unrewarded.
        """
        return referrals.member_referrals(
            context(), program, member_id, limit=_limit(query), cursor=query.get("cursor")
        )

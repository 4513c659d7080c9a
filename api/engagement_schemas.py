"""Schemas of survey answers and referrals. Unknown fields are rejected (422), like every body."""

from __future__ import annotations

from marshmallow import fields, validate

from api.schemas import BalanceSnapshotSchema, ExplanationSchema, Instant, Schema, Text
from loyalty.domain.feedback import COMMENT_MAX, SCALES


class FeedbackSchema(Schema):
    external_id = Text(
        required=True,
        validate=validate.Length(1, 128),
        metadata={
            "description": "the survey tool's id of the answer: makes recording it idempotent"
        },
    )
    kind = Text(
        required=True,
        validate=validate.OneOf([kind.value for kind in SCALES]),
        metadata={"description": "nps (score 0-10), csat (1-5) or ces (1-7)"},
    )
    score = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(0, 10),
        metadata={"description": "within the kind's scale"},
    )
    channel = Text(
        required=True,
        validate=validate.Regexp(r"^[a-z0-9][a-z0-9_.-]{0,31}$"),
        metadata={"example": "email"},
    )
    comment = Text(free_text=True, validate=validate.Length(1, COMMENT_MAX))
    purchase_id = Text(
        validate=validate.Length(1, 40),
        metadata={"description": "the member's purchase the answer is about"},
    )
    answered_at = Instant(metadata={"description": "default: now"})


class FeedbackOutSchema(Schema):
    feedback_id = fields.String()
    member_id = fields.String()
    external_id = fields.String()
    kind = fields.String()
    score = fields.Integer()
    channel = fields.String()
    comment = fields.String(allow_none=True)
    purchase_id = fields.String(allow_none=True)
    answered_at = fields.AwareDateTime()
    recorded_at = fields.AwareDateTime()


class FeedbackRecordedSchema(Schema):
    feedback = fields.Nested(FeedbackOutSchema)
    event_id = fields.String(metadata={"description": "the survey_answered event"})
    points_earned = fields.Integer()
    explanation = fields.List(fields.Nested(ExplanationSchema))
    balance = fields.Nested(BalanceSnapshotSchema)


class PageQuerySchema(Schema):
    limit = fields.Integer(validate=validate.Range(min=1))
    cursor = Text(validate=validate.Length(1, 200))


class FeedbackPageSchema(Schema):
    answers = fields.List(fields.Nested(FeedbackOutSchema))
    next_cursor = fields.String(allow_none=True)


class ReferralSchema(Schema):
    referral_id = fields.String()
    referrer_id = fields.String()
    referee_id = fields.String()
    code = fields.String()
    status = fields.String(metadata={"description": "pending, qualified, completed, rejected"})
    reason = fields.String(
        allow_none=True,
        metadata={
            "description": "why it was rejected, why the referrer was not rewarded, or why it "
            "went back to pending"
        },
    )
    referred_at = fields.AwareDateTime()
    purchase_id = fields.String(
        allow_none=True, metadata={"description": "the referee's qualifying purchase"}
    )
    clears_at = fields.AwareDateTime(
        allow_none=True, metadata={"description": "when that purchase clears its return window"}
    )
    completed_at = fields.AwareDateTime(allow_none=True)


class MemberReferralsSchema(Schema):
    member_id = fields.String()
    code = fields.String(allow_none=True, metadata={"description": "the member's code to hand out"})
    referred_by = fields.Nested(ReferralSchema, allow_none=True)
    referrals = fields.List(fields.Nested(ReferralSchema))
    next_cursor = fields.String(allow_none=True)

"""Schemas of the notices routes."""

from __future__ import annotations

from marshmallow import fields, validate

from api.schemas import Instant, Schema, Text
from loyalty.domain.notices import NoticeKind

KINDS = [kind.value for kind in NoticeKind]


class MemberNoticesQuerySchema(Schema):
    limit = fields.Integer(validate=validate.Range(min=1))
    cursor = Text(validate=validate.Length(1, 100))


class ProgramNoticesQuerySchema(Schema):
    kind = Text(validate=validate.OneOf(KINDS))
    since = Instant(data_key="from", metadata={"description": "written at or after (inclusive)"})
    until = Instant(data_key="to", metadata={"description": "written before (exclusive)"})
    limit = fields.Integer(validate=validate.Range(min=1))
    cursor = Text(validate=validate.Length(1, 100))


class NoticeSchema(Schema):
    id = fields.Integer()
    member_id = fields.String()
    kind = fields.Function(
        lambda notice: notice.kind.value, metadata={"enum": KINDS, "type": "string"}
    )
    occasion = fields.String(
        metadata={
            "description": "which happening of the kind this is about: one notice per member, "
            "kind and occasion"
        }
    )
    created_at = fields.AwareDateTime()
    payload = fields.Dict(metadata={"description": "what the notice says, by kind"})


class NoticePageSchema(Schema):
    notices = fields.List(fields.Nested(NoticeSchema))
    next_cursor = fields.String(allow_none=True)

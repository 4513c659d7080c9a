"""Marshmallow schemas of the segment routes (``api.views.segments``)."""

from __future__ import annotations

from marshmallow import fields, validate

from api.schemas import Schema, Text


def _version() -> fields.Integer:
    return fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "a published version (default: the version in force now)"},
    )


class SegmentQuerySchema(Schema):
    version = _version()


class SegmentMembersQuerySchema(Schema):
    version = _version()
    limit = fields.Integer(validate=validate.Range(min=1))
    cursor = Text(validate=validate.Length(1, 100))


class SegmentSchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    filter = fields.Dict(
        metadata={
            "description": "a tree of all/any/not and comparisons over member.* facts, as in "
            "rule conditions"
        }
    )
    version = fields.Integer(metadata={"description": "the program version read"})
    members = fields.Integer(metadata={"description": "how many members belong to it now"})
    as_of = fields.AwareDateTime()


class SegmentListSchema(Schema):
    program_id = fields.String()
    version = fields.Integer()
    as_of = fields.AwareDateTime()
    segments = fields.List(fields.Nested(SegmentSchema))


class SegmentMemberSchema(Schema):
    member_id = fields.String()
    status = fields.String()
    tier = fields.String(allow_none=True)


class SegmentMembersPageSchema(Schema):
    segment_id = fields.String()
    version = fields.Integer()
    as_of = fields.AwareDateTime()
    members = fields.List(fields.Nested(SegmentMemberSchema))
    next_cursor = fields.String(allow_none=True)

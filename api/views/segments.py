"""Segments: the program's named sets of members, counted and listed from the database."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import requires
from api.segment_schemas import (
    SegmentListSchema,
    SegmentMembersPageSchema,
    SegmentMembersQuerySchema,
    SegmentQuerySchema,
    SegmentSchema,
)
from api.views import context, settings
from loyalty.domain.access import Scope
from loyalty.domain.errors import InvalidRequest
from loyalty.services import segments

blp = Blueprint(
    "segments",
    __name__,
    url_prefix="/v1/programs/<program>/segments",
    description="Segments of the program definition: counts and members.",
)


@blp.route("")
class Segments(MethodView):
    @requires(Scope.MARKETER)
    @blp.arguments(SegmentQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, SegmentListSchema)
    def get(self, query: dict[str, Any], program: str) -> Any:
        """List the segments

        The segments of the version in force now (or of ``version``), each with its filter
        and how many members belong to it now.
        """
        return segments.list_segments(context(), program, query.get("version"))


@blp.route("/<segment_id>")
class SegmentById(MethodView):
    @requires(Scope.MARKETER)
    @blp.arguments(SegmentQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, SegmentSchema)
    def get(self, query: dict[str, Any], program: str, segment_id: str) -> Any:
        """Read a segment

        Its definition in the version in force now (or ``version``) and its member count.
        """
        return segments.get_segment(context(), program, segment_id, query.get("version"))


@blp.route("/<segment_id>/members")
class SegmentMembers(MethodView):
    @requires(Scope.MARKETER)
    @blp.arguments(SegmentMembersQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, SegmentMembersPageSchema)
    def get(self, query: dict[str, Any], program: str, segment_id: str) -> Any:
        """List a segment's members

        The members who belong to the segment now, by member id: id, status and tier. Pass
        ``next_cursor`` back as ``cursor`` for the next page.
        """
        limit = query.get("limit", settings().page_size_default)
        if limit > settings().page_size_max:
            raise InvalidRequest(f"limit is at most {settings().page_size_max}", field="limit")
        return segments.segment_members(
            context(),
            program,
            segment_id,
            limit=limit,
            cursor=query.get("cursor"),
            version=query.get("version"),
        )

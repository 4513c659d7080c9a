"""Proactive notices: a member's, and the program's."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import requires
from api.notice_schemas import MemberNoticesQuerySchema, NoticePageSchema, ProgramNoticesQuerySchema
from api.views import context, settings
from loyalty.domain.access import Scope
from loyalty.domain.errors import InvalidRequest
from loyalty.domain.notices import NoticeKind
from loyalty.services import notices

blp = Blueprint(
    "notices",
    __name__,
    url_prefix="/v1/programs/<program>",
    description="Proactive notices: points about to expire, a tier within reach or about to "
    "drop, lapsed members, birthdays, rewards back in stock.",
)


def _limit(query: dict[str, Any]) -> int:
    limit = query.get("limit", settings().page_size_default)
    if limit > settings().page_size_max:
        raise InvalidRequest(f"limit is at most {settings().page_size_max}", field="limit")
    return limit


@blp.route("/members/<member_id>/notices")
class MemberNotices(MethodView):
    @requires(Scope.AGENT, Scope.MEMBER)
    @blp.arguments(MemberNoticesQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, NoticePageSchema)
    def get(self, query: dict[str, Any], program: str, member_id: str) -> Any:
        """Read a member's notices

        Newest first: each has a ``kind``, the ``occasion`` it is about (one notice per member,
        kind and occasion) and what it says (``payload``). Pass ``next_cursor`` back as
        ``cursor`` for the next page.
        """
        return notices.member_notices(
            context(), program, member_id, limit=_limit(query), cursor=query.get("cursor")
        )


@blp.route("/notices")
class ProgramNotices(MethodView):
    @requires(Scope.MARKETER)
    @blp.arguments(ProgramNoticesQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, NoticePageSchema)
    def get(self, query: dict[str, Any], program: str) -> Any:
        """Read the program's notices

        Newest first, of one ``kind`` if asked, written in [``from``, ``to``) if asked.
        """
        kind = query.get("kind")
        return notices.program_notices(
            context(),
            program,
            kind=NoticeKind(kind) if kind else None,
            since=query.get("since"),
            until=query.get("until"),
            limit=_limit(query),
            cursor=query.get("cursor"),
        )

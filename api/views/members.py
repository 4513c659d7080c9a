"""Members: enroll, read, look up by identity."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import requires
from api.schemas import EnrollSchema, IdentityQuerySchema, MemberSchema
from api.views import IDEMPOTENCY_KEY_PARAMETER, context, created, request_key
from loyalty.domain.access import Scope
from loyalty.domain.errors import InvalidIdentity, InvalidRequest
from loyalty.domain.members import Identity
from loyalty.services import members

blp = Blueprint(
    "members",
    __name__,
    url_prefix="/v1/programs/<program>/members",
    description="Members of a program and the identities that find them.",
)


@blp.route("")
class Members(MethodView):
    @requires(Scope.CHECKOUT, Scope.AGENT)
    @blp.arguments(EnrollSchema)
    @blp.response(201, MemberSchema)
    @blp.alt_response(200, schema=MemberSchema, description="Replay of an earlier enrolment")
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, data: dict[str, Any], program: str) -> Any:
        """Enroll a member

        Creates the member with its identities (each unique in the program) and an empty
        ledger. An identity that already belongs to a member is a 409.
        """
        outcome = members.enroll_member(
            context(),
            members.EnrollMember(program_id=program, request_key=request_key(), **data),
        )
        return created(outcome)

    @requires(Scope.CHECKOUT, Scope.AGENT)
    @blp.arguments(IdentityQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, MemberSchema)
    def get(self, query: dict[str, str], program: str) -> Any:
        """Look a member up by identity

        ``?identity=card:1234`` (or ``email:...``, ``phone:...``, ``customer_id:...``) answers
        the one member with that identity, or 404.
        """
        try:
            identity = Identity.parse(query["identity"])
        except InvalidIdentity as error:
            raise InvalidRequest(error.detail, field="identity") from None
        return members.find_member(context(), program, identity)


@blp.route("/<member_id>")
class MemberById(MethodView):
    @requires(Scope.CHECKOUT, Scope.AGENT, Scope.MEMBER)
    @blp.response(200, MemberSchema)
    def get(self, program: str, member_id: str) -> Any:
        """Read a member"""
        return members.get_member(context(), program, member_id)

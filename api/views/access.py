"""API keys, member tokens and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_principal, requires
from api.schemas import (
    AuditPageSchema,
    AuditQuerySchema,
    CreateKeySchema,
    KeyCreatedSchema,
    KeyListSchema,
    KeySchema,
    MemberTokenSchema,
)
from api.views import context, settings
from loyalty.domain.access import Scope
from loyalty.domain.errors import InvalidRequest
from loyalty.services import access

blp = Blueprint("access", __name__, url_prefix="/v1",
                description="API keys, member tokens and the audit log.")


def _actor() -> access.Actor:
    return access.Actor.of(current_principal())


@blp.route("/keys")
class Keys(MethodView):
    @requires(Scope.ADMIN)
    @blp.response(200, KeyListSchema)
    def get(self) -> Any:
        """List API keys

        A key of one program sees that program's keys only. Secrets are never shown again.
        """
        return {"keys": access.list_keys(context(), _actor())}

    @requires(Scope.ADMIN)
    @blp.arguments(CreateKeySchema)
    @blp.response(201, KeyCreatedSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create an API key

        The answer holds the key itself (``secret``), shown this once; only its hash is kept.
        A key belongs to one program, or, with ``all_programs``, to every program. Not
        idempotent by design (a replay would need the secret kept): a retried creation makes
        a second key, which can be revoked.
        """
        command = access.CreateKey(name=data["name"], scopes=tuple(data["scopes"]),
                                   program_id=data["program_id"],
                                   all_programs=data["all_programs"])
        return access.create_key(context(), command, _actor())


@blp.route("/keys/<key_id>/revoke")
class KeyRevocation(MethodView):
    @requires(Scope.ADMIN)
    @blp.response(200, KeySchema)
    def post(self, key_id: str) -> Any:
        """Revoke an API key

        Idempotent: revoking a revoked key changes nothing. Member tokens the key issued stop
        working too: at once in the worker that answers, and within
        ``LOYALTY_API_KEY_CACHE_SECONDS`` (5 by default) in the others, which cache the keys
        they verified for that long.
        """
        return access.revoke_key(context(), key_id, _actor())


@blp.route("/programs/<program>/members/<member_id>/tokens")
class MemberTokens(MethodView):
    @requires(Scope.CHECKOUT)
    @blp.response(201, MemberTokenSchema)
    def post(self, program: str, member_id: str) -> Any:
        """Issue a member token

        A short-lived signed token with which the merchant's app acts for this one member
        (scope ``member``): any other member answers 404.
        """
        ttl = timedelta(seconds=settings().member_token_ttl_seconds)
        return access.issue_member_token(context(), current_principal(), program, member_id,
                                         ttl)


@blp.route("/audit")
class Audit(MethodView):
    @requires(Scope.ADMIN)
    @blp.arguments(AuditQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, AuditPageSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """Read the audit log

        Administrative and configuration actions, newest first, filtered by program, member,
        actor (``key:<id>``, ``cli:<operator>``) and time (``since`` inclusive, ``until``
        exclusive).
        """
        limit = query.get("limit", settings().page_size_default)
        if limit > settings().page_size_max:
            raise InvalidRequest(f"limit is at most {settings().page_size_max}", field="limit")
        return access.audit_trail(
            context(), _actor(), program_id=query.get("program"), member_id=query.get("member"),
            by=query.get("actor"), since=query.get("since"), until=query.get("until"),
            cursor=query.get("cursor"), limit=limit,
        )

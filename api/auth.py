"""Deny by default: every route declares who may call it, and nothing else gets in.

A view method is decorated with ``@requires(Scope.CHECKOUT, ...)`` or ``@public``. Before each
request the declaration of the matched view is looked up; a route without one answers 403.
Then the caller's ``Authorization: Bearer`` credential (an API key or a member token) must carry
one of the accepted scopes (``admin`` is accepted wherever a key is), belong to the program in
the path, and, for a member token, name the member in the path: any other member answers 404,
exactly as a member that does not exist.

A worker reuses an API key it has read for ``LOYALTY_API_KEY_CACHE_SECONDS``: a key revoked
through this worker is refused at once, one revoked elsewhere within that time.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask, Request, current_app, g, request
from werkzeug.exceptions import TooManyRequests, UnsupportedMediaType

from loyalty.domain.access import Principal, Scope
from loyalty.domain.errors import (
    Forbidden,
    InvalidRequest,
    MemberNotFound,
    NotFound,
    ProgramNotFound,
    Unauthenticated,
)
from loyalty.services.access import authenticate

F = TypeVar("F", bound=Callable[..., Any])
ACCESS_ATTRIBUTE = "__loyalty_access__"

# Endpoints registered by libraries, not by our views: the API documentation. Public.
PUBLIC_ENDPOINTS = frozenset({
    "api-docs.openapi_json", "api-docs.openapi_swagger_ui", "api-docs.openapi_redoc",
})


@dataclass(frozen=True)
class Access:
    scopes: frozenset[Scope]
    public: bool = False

    @property
    def for_members(self) -> bool:
        return Scope.MEMBER in self.scopes


def requires(*scopes: Scope) -> Callable[[F], F]:
    """Accept callers holding one of ``scopes`` (and ``admin``, wherever a key is accepted)."""
    def declare(view: F) -> F:
        setattr(view, ACCESS_ATTRIBUTE, Access(frozenset(scopes)))
        return view
    return declare


def public(view: F) -> F:
    """Accept anyone: for health checks and documentation only."""
    setattr(view, ACCESS_ATTRIBUTE, Access(frozenset(), public=True))
    return view


def declared_access(app: Flask, endpoint: str, method: str) -> Access | None:
    """The access declared by the view serving ``method`` on ``endpoint``, if any."""
    if endpoint in PUBLIC_ENDPOINTS:
        return Access(frozenset(), public=True)
    view = app.view_functions.get(endpoint)
    if view is None:
        return None
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        handler = getattr(view_class, "get" if method == "HEAD" else method.lower(), None)
        return getattr(handler, ACCESS_ATTRIBUTE, None) if handler else None
    return getattr(view, ACCESS_ATTRIBUTE, None)


class RateLimiter:
    """A fixed one-minute window per key, in this worker process.

    Each gunicorn worker counts for itself, so a key may make up to ``limit`` requests a minute
    in each worker (the README says so). A shared store would make it exact across workers.
    """

    def __init__(self, limit_per_minute: int) -> None:
        self.limit = limit_per_minute
        self.windows: dict[str, tuple[int, int]] = {}
        self.lock = threading.Lock()

    def check(self, key: str, now: float | None = None) -> None:
        if self.limit <= 0:
            return
        now = time.time() if now is None else now
        window = int(now // 60)
        with self.lock:
            start, count = self.windows.get(key, (window, 0))
            if start != window:
                start, count = window, 0
            if count >= self.limit:
                raise TooManyRequests(
                    f"more than {self.limit} requests a minute with this key",
                    retry_after=int((window + 1) * 60 - now) + 1,
                )
            self.windows[key] = (start, count + 1)

    def uncount(self, key: str, now: float | None = None) -> None:
        """Take back the last ``check`` of ``key`` in this window: a request that counted and
        is then answered by another path (the posting lane hands it to Flask, which counts)."""
        if self.limit <= 0:
            return
        window = int((time.time() if now is None else now) // 60)
        with self.lock:
            start, count = self.windows.get(key, (window, 0))
            if start == window and count > 0:
                self.windows[key] = (start, count - 1)


def authorize() -> None:
    """Flask ``before_request``: authenticate and authorise, or raise a problem."""
    # Every request passes here: the request and the app are looked up once, not through
    # their proxies at each use.
    request_: Request = request._get_current_object()  # type: ignore[attr-defined]
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if request_.endpoint is None or request_.method == "OPTIONS":
        return  # 404 / 405 / automatic OPTIONS follow
    access = declared_access(app, request_.endpoint, request_.method)
    if access is None:
        raise Forbidden("this route declares no access rule, so it is denied to everyone")
    if access.public:
        return
    if request_.method in ("POST", "PUT", "PATCH") and request_.content_length \
            and not request_.is_json:
        raise UnsupportedMediaType("send the body as JSON (Content-Type: application/json)")
    principal = admit(app, access, request_.headers.get("Authorization", ""),
                      request_.headers.get("X-Acting-Person"), request_.view_args or {})
    app.extensions["loyalty_rate_limiter"].check(principal.actor)
    g.principal = principal


def admit(app: Flask, access: Access, authorization: str, acting_person: str | None,
          path: dict[str, Any]) -> Principal:
    """Who a request with these headers acts as, on a route that declares ``access`` (not
    public) with these path arguments: authenticated and allowed there, or a problem. The
    rate limit is the caller's to check (``authorize``, and the balance lane)."""
    if acting_person is not None and (not 1 <= len(acting_person) <= 200
                                      or not acting_person.isprintable()):
        raise InvalidRequest("X-Acting-Person is 1 to 200 printable characters",
                             field="X-Acting-Person")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("send an API key or a member token: Authorization: Bearer <key>")
    context = app.extensions["loyalty"]
    settings = app.extensions["loyalty_settings"]
    principal = authenticate(context, credential.strip(), acting_person=acting_person,
                             key_max_age=timedelta(seconds=settings.api_key_cache_seconds))
    _refuse_control_characters(path)
    program = path.get("program")
    if program is not None and not principal.may_use(program):
        raise ProgramNotFound(f"there is no program {program!r}", program=program)
    if principal.member_id is not None:
        if not access.for_members:
            raise Forbidden("a member token cannot call this route")
        member = path.get("member_id")
        if member != principal.member_id:
            raise MemberNotFound(f"there is no member {member!r} in this program")
    elif not principal.allowed(access.scopes):
        accepted = ", ".join(sorted(s.value for s in access.scopes - {Scope.MEMBER})) or "none"
        raise Forbidden(f"this route needs one of the scopes: {accepted}")
    return principal


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _refuse_control_characters(path: dict[str, Any]) -> None:
    """No id holds a control character: such a path names nothing (and a NUL cannot even be
    sent to PostgreSQL)."""
    for name, value in path.items():
        if isinstance(value, str) and _CONTROL.search(value):
            if name == "program":
                raise ProgramNotFound(f"there is no program {value!r}")
            if name == "member_id":
                raise MemberNotFound(f"there is no member {value!r} in this program")
            raise NotFound(f"there is no {name.replace('_', ' ')} {value!r}")


def current_principal() -> Principal:
    return g.principal

"""The balance read without Flask's request machinery: the most frequent call of the API (a
till asks before each redemption, a member's app on every screen).

``BalanceLane`` wraps the Flask app's WSGI callable (``app.wsgi_app``, so every server and the
test client go through it). A plain ``GET /v1/programs/<program>/members/<member_id>/balance``
(no query, no body, an ASCII path) whose caller gets in and whose member is found is answered
here, by the view's own parts: the same authorization (``admit`` and the rate limiter), the
same use case (``get_balance``), the same body (``dump_balance``, orjson) and headers.

Anything else goes to Flask untouched: another route, a refused caller, an unknown member, an
error of any kind. Flask then answers it from the start as it answers every request, problem
documents included, so the lane has no answer of its own to keep in step. Nothing here writes
(an API key's last use is recorded by ``authenticate`` once, whoever calls it), and the rate
limiter counts a request once: here only when the answer is ready, else in Flask.

Under gunicorn's sync workers this saves about half the worker's CPU for the request: Flask's
context, routing and response objects cost more than the read itself (README, "Speed").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from flask import Flask

from api.auth import Access, admit, declared_access
from api.schemas import dump_balance
from loyalty.services.points import get_balance

RULE = "/v1/programs/<program>/members/<member_id>/balance"
_PATH = re.compile(re.sub(r"<\w+>", "([^/]+)", RULE))  # a path segment for each argument
_HEADERS = "Content-Type", "application/json"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class BalanceLane:
    """``app.wsgi_app = BalanceLane(app)``, once the app's routes are registered."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.flask: WsgiApp = app.wsgi_app
        endpoint = next(r.endpoint for r in app.url_map.iter_rules() if r.rule == RULE)
        access = declared_access(app, endpoint, "GET")
        if access is None or access.public:
            raise RuntimeError(f"the balance route {endpoint} declares no access rule")
        self.access: Access = access
        self.context = app.extensions["loyalty"]
        self.limiter = app.extensions["loyalty_rate_limiter"]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        body = self.answer(environ) if environ.get("REQUEST_METHOD") == "GET" else None
        if body is None:
            return self.flask(environ, start_response)
        start_response("200 OK", [_HEADERS, ("Content-Length", str(len(body)))])
        return [body]

    def answer(self, environ: dict[str, Any]) -> bytes | None:
        """The answer's body, or None for Flask to answer."""
        path = environ.get("PATH_INFO", "")
        match = _PATH.fullmatch(path)
        if (match is None or environ.get("QUERY_STRING") or not path.isascii()
                or environ.get("CONTENT_LENGTH", "0") not in ("", "0")
                or "HTTP_TRANSFER_ENCODING" in environ):
            return None
        program, member_id = match.groups()
        try:
            principal = admit(self.app, self.access, environ.get("HTTP_AUTHORIZATION", ""),
                              environ.get("HTTP_X_ACTING_PERSON"),
                              {"program": program, "member_id": member_id})
            view = get_balance(self.context, program, member_id)
            self.limiter.check(principal.actor)
        except Exception:  # Flask answers it, from the start, as it answers any request
            return None
        return orjson.dumps(dump_balance(view)) + b"\n"

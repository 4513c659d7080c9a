"""Lanes: the API's two most frequent calls answered without Flask's request machinery.

A lane wraps the Flask app's WSGI callable (``app.wsgi_app``, so every server and the test
client go through it) and answers one route's plain, successful requests itself, by the view's
own parts: the same authorization (``admit`` and the rate limiter), the same use case, the same
body and headers. Anything else goes to Flask untouched (another route, a refused caller, an
error of any kind), and Flask answers it from the start as it answers every request, problem
documents included, so a lane has no answer of its own to keep in step. Tests hold each lane's
answers equal to Flask's.

Under gunicorn's sync workers, Flask's context, routing and response objects cost about as much
as a balance read itself (README, "Speed").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from api.auth import Access, declared_access

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# (status line, headers with Content-Type first, body) of an answer a lane gives.
Answer = tuple[str, list[tuple[str, str]], bytes]
JSON = "Content-Type", "application/json"


class Lane:
    """``app.wsgi_app = SomeLane(app)``, once the app's routes are registered: ``answer``
    answers a ``METHOD`` request on ``RULE``, or says None."""

    RULE: str
    METHOD: str

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.flask: WsgiApp = app.wsgi_app
        endpoint = next(r.endpoint for r in app.url_map.iter_rules() if r.rule == self.RULE
                        and self.METHOD in (r.methods or ()))
        access = declared_access(app, endpoint, self.METHOD)
        if access is None or access.public:
            raise RuntimeError(f"the route {endpoint} declares no access rule")
        self.access: Access = access
        self.path = re.compile(re.sub(r"<\w+>", "([^/]+)", self.RULE))  # a segment an argument
        self.context = app.extensions["loyalty"]
        self.limiter = app.extensions["loyalty_rate_limiter"]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        answer = self.answer(environ) if environ.get("REQUEST_METHOD") == self.METHOD else None
        if answer is None:
            return self.flask(environ, start_response)
        status, headers, body = answer
        # Content-Type, Content-Length, then the rest: in the order Flask writes them.
        start_response(status, [headers[0], ("Content-Length", str(len(body))), *headers[1:]])
        return [body]

    def takes(self, environ: dict[str, Any]) -> bool:
        """Whether the request is a ``METHOD`` on ``RULE`` (that the lane may answer)."""
        return environ.get("REQUEST_METHOD") == self.METHOD and \
            self.path.fullmatch(environ.get("PATH_INFO", "")) is not None

    def arguments(self, environ: dict[str, Any]) -> tuple[str, ...] | None:
        """The path's arguments, for a request on an ASCII path without a query string or a
        chunked body (a lane reads a body by its ``Content-Length``, or none)."""
        path = environ.get("PATH_INFO", "")
        match = self.path.fullmatch(path)
        if match is None or environ.get("QUERY_STRING") or not path.isascii() \
                or "HTTP_TRANSFER_ENCODING" in environ:
            return None
        return match.groups()

    def answer(self, environ: dict[str, Any]) -> Answer | None:
        raise NotImplementedError

"""The balance read without Flask's request machinery (``api.lanes``): the most frequent call
of the API (a till asks before each redemption, a member's app on every screen).

A plain ``GET /v1/programs/<program>/members/<member_id>/balance`` (no query, no body, an
ASCII path) whose caller gets in and whose member is found is answered here. Nothing here
writes (an API key's last use is recorded by ``authenticate`` once, whoever calls it), and the
rate limiter counts a request once: here only when the answer is ready, else in Flask.
"""

from __future__ import annotations

from typing import Any

import orjson

from api.auth import admit
from api.lanes import JSON, Answer, Lane
from api.schemas import dump_balance
from loyalty.services.points import get_balance


class BalanceLane(Lane):
    """``app.wsgi_app = BalanceLane(app)``, once the app's routes are registered."""

    RULE = "/v1/programs/<program>/members/<member_id>/balance"
    METHOD = "GET"

    def answer(self, environ: dict[str, Any]) -> Answer | None:
        arguments = self.arguments(environ)
        if arguments is None or environ.get("CONTENT_LENGTH", "0") not in ("", "0"):
            return None
        program, member_id = arguments
        try:
            principal = admit(self.app, self.access, environ.get("HTTP_AUTHORIZATION", ""),
                              environ.get("HTTP_X_ACTING_PERSON"),
                              {"program": program, "member_id": member_id})
            view = get_balance(self.context, program, member_id)
            self.limiter.check(principal.actor)
        except Exception:  # Flask answers it, from the start, as it answers any request
            return None
        return "200 OK", [JSON], orjson.dumps(dump_balance(view)) + b"\n"

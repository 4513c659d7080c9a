"""Purchase posting without Flask's request machinery (``api.lanes``): what checkouts send all
day, one purchase a request.

A ``POST /v1/programs/<program>/purchases`` without a query string (no ``dry_run``), with a
JSON body within the size limit that the importer's reader takes whole (as the view reads it,
``purchase_command``), from a caller who gets in, is posted here by the view's own use case
(``record_purchases``, which posts a purchase alone by ``record_purchase``, either lane) and
answered with the view's body: 201, or 200 and ``Idempotent-Replayed: true`` for a replay.
The rate limiter counts the request before it writes.

Everything else goes to Flask, body and all: a body the reader refuses, a lone surrogate, a
malformed ``Idempotency-Key``, a refused caller or key, and any error of the use case. The use
case wrote nothing then (its transaction rolled back), so Flask posts the request from the
start and answers it, problem document included; the lane takes its count back from the rate
limiter first, so the request counts once.

``post_together`` posts several requests' purchases in one transaction (``record_purchases``,
group commit): the API's worker (``api.server``) hands it the postings that wait at the same
moment, then answers each request through the app as usual; the lane gives the answer it made.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import orjson
from flask import Flask

from api.auth import admit
from api.importing import purchase_errors_or_command
from api.lanes import JSON, Answer, Lane
from api.schemas import dump_purchase_recorded
from api.views import REPLAYED_HEADER, SURROGATE_ESCAPE, idempotency_key
from loyalty.services.idempotency import Outcome
from loyalty.services.purchases import PurchaseRecorded, RecordPurchase, record_purchases

_CREATED = "201 CREATED"
_REPLAYED = "200 OK"
POSTED = "loyalty.posted"  # environ: the answer ``post_together`` made (None: Flask answers)


class PostingLane(Lane):
    """``app.wsgi_app = PostingLane(app)``, once the app's routes are registered."""

    RULE = "/v1/programs/<program>/purchases"
    METHOD = "POST"

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self.max_body = app.config["MAX_CONTENT_LENGTH"]

    def answer(self, environ: dict[str, Any]) -> Answer | None:
        if POSTED not in environ:  # a posting alone
            self.post_together([environ])
        return environ.pop(POSTED)  # type: ignore[no-any-return]

    def post_together(self, environs: list[dict[str, Any]]) -> None:
        """Post the purchases of these requests in one transaction where they can be, and
        keep each request's answer in its ``environ`` for ``answer``: the lane's answer, or
        None for Flask to answer it (the requests the lane does not take, and any error)."""
        taken = []
        for environ in environs:
            environ[POSTED] = None
            read = self.read(environ) if environ.get("REQUEST_METHOD") == self.METHOD else None
            if read is None:
                continue
            try:
                self.limiter.check(read[0].actor)
            except Exception:  # over the limit: Flask answers the 429
                continue
            taken.append((environ, read))
        outcomes = record_purchases(self.context, [command for _, (_, command) in taken])
        for (environ, (principal, _)), outcome in zip(taken, outcomes, strict=True):
            if isinstance(outcome, Exception):  # nothing of it was written
                self.limiter.uncount(principal.actor)
            else:
                environ[POSTED] = self.answered(outcome)

    @staticmethod
    def answered(outcome: Outcome[PurchaseRecorded]) -> Answer:
        body = orjson.dumps(dump_purchase_recorded(outcome.result)) + b"\n"
        if outcome.replayed:
            return _REPLAYED, [JSON, (REPLAYED_HEADER, "true")], body
        return _CREATED, [JSON], body

    def read(self, environ: dict[str, Any]) -> tuple[Any, RecordPurchase] | None:
        """Who posts and the command of the request, or None for Flask to answer it. The body
        is read here and handed back to ``environ`` for Flask."""
        arguments = self.arguments(environ)
        if arguments is None or \
                environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() \
                != "application/json":
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "0")
        except ValueError:
            return None
        if not 0 < length <= self.max_body:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        if len(body) != length or SURROGATE_ESCAPE.search(body) is not None:
            return None
        (program,) = arguments
        try:
            principal = admit(self.app, self.access, environ.get("HTTP_AUTHORIZATION", ""),
                              environ.get("HTTP_X_ACTING_PERSON"), {"program": program})
            payload = orjson.loads(body)
            if not isinstance(payload, dict):
                return None
            command = purchase_errors_or_command(payload, program)
            if not isinstance(command, RecordPurchase):
                return None
            header = environ.get("HTTP_IDEMPOTENCY_KEY")
            if header is not None:
                key = idempotency_key(header, "POST", environ["PATH_INFO"], payload)
                command = replace(command, request_key=key)
        except Exception:  # Flask answers it, from the start, as it answers any request
            return None
        return principal, command

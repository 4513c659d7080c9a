"""Thin views: parse, call one use case, serialise."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from loyalty.domain.errors import InvalidRequest
from loyalty.services.context import Context
from loyalty.services.idempotency import IdempotencyKey, Outcome, fingerprint_json

REPLAYED_HEADER = "Idempotent-Replayed"

IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": (
        "A unique key per logical request (IETF draft semantics). Retrying with the same key "
        "and body replays the first answer; the same key with another body is a 422."
    ),
}


def context() -> Context:
    return current_app.extensions["loyalty"]


def settings() -> Any:
    return current_app.extensions["loyalty_settings"]


def request_key() -> IdempotencyKey | None:
    """The ``Idempotency-Key`` header, fingerprinted with the request it came with."""
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]  # the draft's structured-field string form
    if not 1 <= len(value) <= 255 or not value.isprintable():
        raise InvalidRequest(
            "Idempotency-Key is 1 to 255 printable characters", field="Idempotency-Key"
        )
    body = request.get_json(silent=True)
    return IdempotencyKey(
        value, fingerprint_json({"method": request.method, "path": request.path, "body": body})
    )


def created(outcome: Outcome[Any]) -> tuple[Any, int, dict[str, str]] | Any:
    """201 for a first answer; 200 and ``Idempotent-Replayed: true`` for a replay."""
    if outcome.replayed:
        return outcome.result, 200, {REPLAYED_HEADER: "true"}
    return outcome.result

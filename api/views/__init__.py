"""Thin views: parse, call one use case, serialise."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from flask import Response, current_app, request

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


# A JSON string may escape a UTF-16 surrogate (``"\\ud800"``) without its pair: valid JSON
# syntax, but not Unicode text, which no database stores. Raw UTF-8 cannot carry one (it does
# not decode), so a body that holds one has the escape in its text.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def refuse_lone_surrogates() -> None:
    """Flask ``before_request``: a JSON body with a lone surrogate in a string or a key is
    refused (422) naming that field, before any view reads it. A body without the escape
    (nearly all of them) costs one search of its bytes."""
    if not request.content_length or not request.is_json:
        return
    raw = request.get_data(cache=True)
    if SURROGATE_ESCAPE.search(raw) is None:
        return
    try:
        document = json.loads(raw)
    except ValueError:
        return  # not JSON: the view's parser answers that
    field = _lone_surrogate(document, "")
    if field is not None:
        raise InvalidRequest("is not Unicode text: it holds a lone UTF-16 surrogate",
                             field=field)


def _lone_surrogate(value: Any, path: str) -> str | None:
    """The dotted path (``lines.2.sku``) of the first string holding a surrogate once decoded (a
    pair decodes to one character, so what is left is alone); None if there is none."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if _SURROGATE.search(key):
                return here  # the problem's JSON escapes it
            found = _lone_surrogate(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def json_response(document: Any, status: int = 200) -> Response:
    """A JSON answer of plain data (dicts, lists, strings, integers, None), as ``jsonify``
    writes it but encoded by orjson (UTF-8 text rather than ASCII escapes): the answers of
    the hot routes (a posted purchase, a balance)."""
    return Response(orjson.dumps(document) + b"\n", status=status, mimetype="application/json")


def context() -> Context:
    return current_app.extensions["loyalty"]


def settings() -> Any:
    return current_app.extensions["loyalty_settings"]


def request_key() -> IdempotencyKey | None:
    """The ``Idempotency-Key`` header, fingerprinted with the request it came with."""
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    return idempotency_key(value, request.method, request.path, request.get_json(silent=True))


def idempotency_key(header: str, method: str, path: str, body: Any) -> IdempotencyKey:
    """An ``Idempotency-Key`` header's key, fingerprinted with the request's method, path and
    JSON body (None when it has none); a malformed key is a 422 naming the header."""
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]  # the draft's structured-field string form
    if not 1 <= len(value) <= 255 or not value.isprintable():
        raise InvalidRequest(
            "Idempotency-Key is 1 to 255 printable characters", field="Idempotency-Key"
        )
    return IdempotencyKey(
        value, fingerprint_json({"method": method, "path": path, "body": body})
    )


def created(outcome: Outcome[Any]) -> tuple[Any, int, dict[str, str]] | Any:
    """201 for a first answer; 200 and ``Idempotent-Replayed: true`` for a replay."""
    if outcome.replayed:
        return outcome.result, 200, {REPLAYED_HEADER: "true"}
    return outcome.result

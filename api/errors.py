"""Every error answer is ``application/problem+json`` (RFC 9457).

One table maps domain errors to HTTP statuses. Each problem has a stable ``type``
(``/problems/<code>``, documented at that URL), the status, a title and a detail, and
machine-readable extension members: ``errors`` (one per offending field, with a JSON pointer)
for validation errors, and e.g. ``available`` and ``required`` for insufficient points.
"""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask import Flask, Response, json, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError

from loyalty.domain import errors as domain

PROBLEM_JSON = "application/problem+json"

# Domain error class -> HTTP status; the most specific class in an error's MRO wins.
STATUS_OF: dict[type[domain.LoyaltyError], int] = {
    domain.Unauthenticated: 401,
    domain.Forbidden: 403,
    domain.NotFound: 404,
    domain.Conflict: 409,
    domain.InsufficientPoints: 409,
    domain.MemberNotActive: 409,
    domain.IdempotencyKeyReused: 422,
    domain.InvalidRequest: 422,
    domain.InvalidDefinition: 422,
    domain.ReturnRefused: 409,
}

# Problems raised by the HTTP layer itself, by status.
HTTP_PROBLEMS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Validation error"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal-error", "Internal server error"),
}

def _all_errors(cls: type[domain.LoyaltyError]) -> list[type[domain.LoyaltyError]]:
    return [cls, *(sub for child in cls.__subclasses__() for sub in _all_errors(child))]


# Every problem type this API answers with, for /problems/<code>.
PROBLEM_DESCRIPTIONS = {code: title for code, title in HTTP_PROBLEMS.values()} | {
    cls.code: cls.title for cls in _all_errors(domain.LoyaltyError)
}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {"type": f"/problems/{code}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    # Extension members never replace the standard ones (RFC 9457 section 3.2).
    body.update({k: v for k, v in (extensions or {}).items() if k not in body})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def field_error(field: str, detail: str) -> dict[str, str]:
    """One offending field: its name (dotted, or a document path such as
    ``rules[3].conditions.value``) and a JSON pointer (RFC 6901) to it in the body."""
    parts = [part.replace("~", "~0").replace("/", "~1")
             for part in _dotted(field).split(".")] if field else []
    return {"field": field, "pointer": "#" + "".join(f"/{part}" for part in parts),
            "detail": detail}


def _dotted(path: str) -> str:
    """``rules[3].conditions.all[1]`` as the dotted field name ``rules.3.conditions.all.1``."""
    return re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")


def flatten(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """Marshmallow's nested messages as a flat list of field errors with JSON pointers."""
    if isinstance(messages, dict):
        found: list[dict[str, str]] = []
        for key, value in messages.items():
            name = "" if key == "_schema" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (name or prefix)
            found.extend(flatten(value, path))
        return found
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [field_error(prefix, message) for message in messages]
    if isinstance(messages, list):
        return [error for item in messages for error in flatten(item, prefix)]
    return [field_error(prefix, str(messages))]


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every error answer of this API. Problem types may add
    extension members (e.g. ``available`` and ``required`` on ``insufficient-points``)."""

    class Meta:
        unknown = ma.INCLUDE  # documented as additionalProperties: extension members

    type = ma.fields.String(metadata={"description": "Stable problem type, /problems/<code>"})
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    instance = ma.fields.String()
    errors = ma.fields.List(
        ma.fields.Dict(),
        metadata={"description": "Offending fields: {field, pointer, detail}"},
    )
    available = ma.fields.Integer(metadata={"description": "insufficient-points: points held"})
    required = ma.fields.Integer(metadata={"description": "insufficient-points: points asked"})


class LoyaltyApi(Api):
    """flask-smorest's Api, answering every HTTP error as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        """Document every error response as ``application/problem+json``, as it is sent."""
        import http

        from flask_smorest.utils import prepare_response

        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
                content_type = PROBLEM_JSON
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Any error: problem details (RFC 9457)",
                    "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        status = error.code or 500
        code, title = HTTP_PROBLEMS.get(status, ("http-error", error.name))
        data = getattr(error, "data", None) or {}
        extensions: dict[str, Any] = {}
        detail = data.get("message") or (error.description if status != 500 else None)
        messages = data.get("errors") or data.get("messages")
        if messages:
            # webargs nests messages under the request location ("json", "query", ...).
            if isinstance(messages, dict) and set(messages) <= {
                "json",
                "query",
                "headers",
                "path",
                "form",
                "files",
            }:
                errors = [e for location in messages.values() for e in flatten(location)]
            else:
                errors = flatten(messages)
            extensions["errors"] = errors
            detail = "; ".join(f"{e['field'] or 'body'}: {e['detail']}" for e in errors)
        headers = dict(data.get("headers") or {})
        for name, value in error.get_headers():
            if name in ("Retry-After", "WWW-Authenticate", "Allow"):
                headers[name] = value
        return problem(status, code, title, detail, headers=headers, extensions=extensions)


def problem_of(error: domain.LoyaltyError) -> tuple[int, dict[str, Any]]:
    """The status and problem body of a domain error (for answers that carry several)."""
    status = next((STATUS_OF[cls] for cls in type(error).__mro__ if cls in STATUS_OF), 400)
    body: dict[str, Any] = {"type": f"/problems/{error.code}", "title": error.title,
                            "status": status, "detail": error.detail}
    body.update({k: v for k, v in error.extensions.items() if k not in body})
    if error.field:
        body["errors"] = [field_error(error.field, error.detail)]
    return status, body


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(domain.LoyaltyError)
    def _domain_error(error: domain.LoyaltyError) -> Response:
        status = next((STATUS_OF[cls] for cls in type(error).__mro__ if cls in STATUS_OF), 400)
        extensions = dict(error.extensions)
        if error.field:
            extensions["errors"] = [field_error(error.field, error.detail)]
        if "problems" in extensions:  # an invalid definition: every mistake, with its path
            extensions["errors"] = [field_error(p["field"], p["detail"])
                                    for p in extensions.pop("problems")]
        headers = {"WWW-Authenticate": 'Bearer realm="loyalty"'} if status == 401 else None
        return problem(status, error.code, error.title, error.detail, headers=headers,
                       extensions=extensions)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return app.extensions["loyalty_api"].handle_http_exception(error)
        app.logger.exception("unhandled error", exc_info=error)
        return app.extensions["loyalty_api"].handle_http_exception(InternalServerError())

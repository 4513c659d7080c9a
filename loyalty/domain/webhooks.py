"""Webhooks, the Standard Webhooks way (https://www.standardwebhooks.com).

An endpoint has a secret ``whsec_<base64 of 32 random bytes>``. Each message is a JSON body
``{"type", "timestamp", "data"}`` sent with three headers:

- ``webhook-id``: ``msg_<outbox event id>``, the same on every retry and for every endpoint
  (receivers use it to drop duplicates: delivery is at least once);
- ``webhook-timestamp``: the attempt's time, in Unix seconds (receivers refuse old ones, which
  stops replays of a captured message);
- ``webhook-signature``: ``v1,<base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``, the
  key being the base64-decoded part of the secret after ``whsec_``.

A failed attempt is retried after ``base * 2 ** (failures - 1)`` seconds, capped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from loyalty.domain.errors import InvalidRequest

SECRET_PREFIX = "whsec_"
MESSAGE_PREFIX = "msg_"
MAX_URL_LENGTH = 2048
# How far a receiver's clock may be from ours before it refuses a message (the Standard's
# suggestion); our own ``verify`` uses it too.
TIMESTAMP_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SendResult:
    """How one attempt went: the answer's status (``None`` without an answer: a timeout, a
    refused connection) and what went wrong, if anything."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def new_secret() -> str:
    """A fresh endpoint secret: 32 random bytes (the Standard asks for 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def message_id(event_id: int) -> str:
    return f"{MESSAGE_PREFIX}{event_id}"


def event_id_of(message: str) -> int | None:
    """The outbox event id of ``msg_<id>``, or ``None`` if it is not one of ours."""
    number = message.removeprefix(MESSAGE_PREFIX)
    if message == number or not number.isascii() or not number.isdigit() or len(number) > 18:
        return None
    return int(number)


def body(type: str, occurred_at: datetime, data: Mapping[str, Any]) -> bytes:
    """The message body: compact JSON, the same bytes on every attempt."""
    return json.dumps(
        {"type": type, "timestamp": occurred_at.isoformat(), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def signature(secret: str, message: str, timestamp: int, payload: bytes) -> str:
    """The ``webhook-signature`` header of one attempt."""
    signed = f"{message}.{timestamp}.".encode() + payload
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message: str, timestamp: int, payload: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message, timestamp, payload),
    }


def verify(secret: str, received: Mapping[str, str], payload: bytes, now: datetime) -> bool:
    """What a receiver checks: a recent timestamp, and one ``v1`` signature that matches
    (compared in constant time). ``received`` has the header names in lower case."""
    message, stamp = received.get("webhook-id", ""), received.get("webhook-timestamp", "")
    if not stamp.isascii() or not stamp.isdigit():
        return False
    if abs(now.timestamp() - int(stamp)) > TIMESTAMP_TOLERANCE.total_seconds():
        return False
    expected = signature(secret, message, int(stamp), payload)
    return any(
        hmac.compare_digest(expected, given)
        for given in received.get("webhook-signature", "").split()
    )


def backoff(failures: int, base_seconds: int, max_seconds: int) -> timedelta:
    """The wait before the next attempt after ``failures`` failed ones (1 or more)."""
    exponent = min(max(failures - 1, 0), 40)  # 2**40 seconds is beyond any cap
    return timedelta(seconds=min(base_seconds * 2**exponent, max_seconds))


def check_url(url: str) -> str:
    """An http(s) URL with a host, no credentials and no fragment; else ``InvalidRequest``."""
    problem = _url_problem(url)
    if problem is not None:
        raise InvalidRequest(f"the url {problem}", field="url")
    return url


def _url_problem(url: str) -> str | None:
    if not 1 <= len(url) <= MAX_URL_LENGTH:
        return f"has 1 to {MAX_URL_LENGTH} characters"
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        return "is ASCII without spaces (percent-encode the rest)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "starts with http:// or https://"
    if not parts.hostname:
        return "names a host"
    if parts.username is not None or parts.password is not None:
        return "carries no credentials (the signature authenticates the sender)"
    if parts.fragment or url.endswith("#"):
        return "has no fragment"
    if port == 0:
        return "has a port between 1 and 65535"
    return None


def check_event_types(types: Iterable[str], known: Iterable[str]) -> tuple[str, ...]:
    """The subscribed types, each known, sorted, without duplicates (none: every type)."""
    known = set(known)
    given = list(types)
    for index, name in enumerate(given):
        if name not in known:
            raise InvalidRequest(
                f"unknown event type {name!r}; the types are: " + ", ".join(sorted(known)),
                field=f"event_types.{index}",
            )
    return tuple(sorted(set(given)))

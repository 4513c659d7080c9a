"""Idempotent writes: every write from outside carries a key, and a retry replays the answer.

A key is claimed in the same transaction as the write it protects and stores that write's result,
so a key is either unclaimed (nothing happened) or answered (everything happened): there is no
window in which a crash leaves one without the other. Each key has a fingerprint of its request;
the same key with another request is refused (``IdempotencyKeyReused``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

import orjson
from pydantic import TypeAdapter

from loyalty.adapters.db import JsonText

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client-chosen key (the ``Idempotency-Key`` header) and the fingerprint of its request."""

    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """A use case's result, and whether it is the replay of an earlier answer."""

    result: T
    replayed: bool = False


@cache
def adapter(kind: type[Any]) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def serialisable(*kinds: type[Any]) -> None:
    """Build the (de)serialisers of commands and results once, when their module is imported
    (so they resolve ``datetime`` to the real class even if a test later freezes time)."""
    for kind in kinds:
        adapter(kind)


def fingerprint(payload: Any) -> str:
    """SHA-256 of a canonical JSON form of ``payload`` (dataclasses, datetimes and all)."""
    return fingerprint_json(adapter(type(payload)).dump_python(payload, mode="json"))


def fingerprint_json(data: Any) -> str:
    """SHA-256 of ``json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)``:
    the canonical form every stored fingerprint was made with. orjson writes the same bytes
    several times faster whenever its output is plain printable ASCII (``json`` escapes the rest,
    orjson does not), so it is used then, and ``json`` otherwise (a test holds the two equal)."""
    try:
        canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # what orjson does not encode (ints past 64 bits, other types)
        canonical = None
    if canonical is None or not canonical.isascii() or b"\x7f" in canonical:
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"),
                               default=str).encode()
    return hashlib.sha256(canonical).hexdigest()


def claims(
    natural: tuple[str, str] | None, request_key: IdempotencyKey | None
) -> list[tuple[str, str]]:
    """The (key, fingerprint) pairs a write claims: its natural key and the client's header key."""
    found = [natural] if natural is not None else []
    if request_key is not None:
        found.append((f"request:{request_key.key}", request_key.fingerprint))
    return found


def dump(result: Any) -> dict[str, Any]:
    return adapter(type(result)).dump_python(result, mode="json")


def dump_text(result: Any) -> JsonText:
    """``dump(result)`` as the JSON text a JSON column stores (encoded once, by pydantic)."""
    return JsonText(adapter(type(result)).dump_json(result).decode())


def load(kind: type[T], data: dict[str, Any]) -> T:
    return adapter(kind).validate_python(data)


def claim(uow: Any, program_id: str, natural: tuple[str, str] | None,
          request_key: IdempotencyKey | None, kind: type[T], now: Any
          ) -> tuple[list[str], Outcome[T] | None]:
    """Claim a write's keys in its transaction: the keys to ``remember`` the answer under,
    and the earlier answer when this is a replay."""
    keys = claims(natural, request_key)
    stored = uow.idempotency.claim(program_id, keys, now)
    replay = None if stored is None else Outcome(load(kind, stored), replayed=True)
    return [key for key, _ in keys], replay


def remember(uow: Any, program_id: str, keys: list[str], result: Any) -> None:
    """Store the answer of a claimed write, in the write's own transaction."""
    uow.idempotency.store(program_id, keys, dump(result))

"""Members and the identities by which every channel finds them.

An identity is a kind (customer id, card, e-mail, phone) and a value, unique within a program, so a
card swiped in store and an e-mail typed online find the same member. Values are normalised before
they are stored or looked up, so ``Ada@Example.com `` and ``ada@example.com`` are one identity.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from loyalty.domain.errors import InvalidIdentity


class MemberStatus(StrEnum):
    ACTIVE = "active"  # earns and spends
    FROZEN = "frozen"  # earns, but cannot redeem, burn or transfer (suspected fraud)
    CLOSED = "closed"  # neither earns nor spends


class IdentityKind(StrEnum):
    CUSTOMER_ID = "customer_id"
    CARD = "card"
    EMAIL = "email"
    PHONE = "phone"


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")
_CARD = re.compile(r"^[0-9A-Z]{4,32}$")


@dataclass(frozen=True, slots=True)
class Identity:
    kind: IdentityKind
    value: str

    @classmethod
    def of(cls, kind: str, value: str) -> Identity:
        """A normalised identity; ``InvalidIdentity`` when the value cannot be one of that kind."""
        try:
            identity_kind = IdentityKind(kind)
        except ValueError:
            kinds = ", ".join(k.value for k in IdentityKind)
            raise InvalidIdentity(
                f"{kind!r} is not an identity kind ({kinds})", field="kind"
            ) from None
        return cls(identity_kind, normalise(identity_kind, value))

    @classmethod
    def parse(cls, text: str) -> Identity:
        """Parse ``"card:1234"`` or ``"email:ada@example.com"``."""
        kind, sep, value = text.partition(":")
        if not sep:
            raise InvalidIdentity(
                f"{text!r} is not an identity; write it as kind:value, e.g. card:1234",
                field="identity",
            )
        return cls.of(kind, value)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.value}"


def normalise(kind: IdentityKind, value: str) -> str:
    text = value.strip()
    if kind is IdentityKind.EMAIL:
        text = text.lower()
        if not _EMAIL.match(text):
            raise InvalidIdentity(f"{value!r} is not an e-mail address", field="value")
    elif kind is IdentityKind.PHONE:
        text = re.sub(r"[\s\-().]", "", text)
        if not _PHONE.match(text):
            raise InvalidIdentity(
                f"{value!r} is not a phone number (digits, optionally with a leading +)",
                field="value",
            )
    elif kind is IdentityKind.CARD:
        text = re.sub(r"[\s\-]", "", text).upper()
        if not _CARD.match(text):
            raise InvalidIdentity(f"{value!r} is not a card number", field="value")
    elif not text or len(text) > 128:
        raise InvalidIdentity("a customer id has 1 to 128 characters", field="value")
    return text


# Crockford's base32 alphabet: no I, L, O or U, so ids read aloud or retyped stay unambiguous.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str) -> str:
    """A random, non-sequential public id with 130 random bits, e.g. ``mem_3kq...``."""
    number = secrets.randbits(130)
    chars = []
    for _ in range(26):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_{''.join(chars)}"


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    program_id: str
    status: MemberStatus
    enrolled_at: datetime
    attributes: dict[str, Any] = field(default_factory=dict)
    identities: tuple[Identity, ...] = ()
    status_reason: str | None = None

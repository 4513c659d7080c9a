"""Who may do what: API keys, scopes, member tokens.

Every caller is hostile until a key says otherwise. A key belongs to one program (or explicitly to
all programs) and carries scopes; routes declare the scopes they accept, and nothing else gets in.

Keys look like ``lk_<key id>_<secret>``: the ``lk_`` prefix makes a leaked key recognisable in
logs and code (and by secret scanners); the key id is public and names the key in the audit log;
only a SHA-256 hash of the whole key is stored. Keys have 160 random bits, so a fast hash is
enough: there is nothing to brute-force that a slow hash would protect.

A member token (``lmt_...``) is a short-lived, HMAC-signed statement "this bearer may act for
member M of program P until T", asked for by a checkout or admin key on the member's behalf.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

KEY_PREFIX = "lk_"
TOKEN_PREFIX = "lmt_"
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


class Scope(StrEnum):
    CHECKOUT = "checkout"  # purchases, returns, events; identity lookups; vouchers; burning
    MEMBER = "member"  # only through a member token: one member's own data and actions
    AGENT = "agent"  # adjustments within limits, member lifecycle
    SUPERVISOR = "supervisor"  # approves what agents may not do alone
    MARKETER = "marketer"  # program definition, simulation, back-tests, analytics
    ADMIN = "admin"  # keys, the audit log, and everything else


KEY_SCOPES = frozenset(Scope) - {Scope.MEMBER}  # ``member`` is only ever a token's scope


def _random(chars: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(chars))


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made key: ``secret`` is shown once; only ``secret_hash`` is stored."""

    key_id: str
    secret: str

    @classmethod
    def generate(cls) -> NewKey:
        key_id = _random(16)
        return cls(key_id, f"{KEY_PREFIX}{key_id}_{_random(32)}")

    @property
    def secret_hash(self) -> str:
        return hash_secret(self.secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id_of(secret: str) -> str | None:
    """The public key id inside a presented key, or ``None`` if it is not shaped like a key."""
    if not secret.startswith(KEY_PREFIX):
        return None
    key_id, sep, rest = secret[len(KEY_PREFIX):].partition("_")
    if not sep or len(key_id) != 16 or len(rest) != 32:
        return None
    return key_id


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    key_id: str
    name: str
    program_id: str | None  # None: every program
    scopes: frozenset[Scope]
    member_id: str | None = None  # set for member tokens only
    acting_person: str | None = None

    def may_use(self, program_id: str) -> bool:
        return self.program_id is None or self.program_id == program_id

    def allowed(self, accepted: frozenset[Scope]) -> bool:
        """Whether one of the caller's scopes is accepted; ``admin`` is accepted everywhere a
        key is (never where only a member token is meant)."""
        if Scope.ADMIN in self.scopes and accepted - {Scope.MEMBER}:
            return True
        return bool(self.scopes & accepted)

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}" if self.member_id is None else f"member:{self.member_id}"


@dataclass(frozen=True, slots=True)
class MemberToken:
    program_id: str
    member_id: str
    expires_at: datetime
    issued_by: str  # key id
    nonce: str = field(default_factory=lambda: _random(8))

    def sign(self, secret: bytes) -> str:
        payload = json.dumps(
            {"p": self.program_id, "m": self.member_id, "exp": int(self.expires_at.timestamp()),
             "by": self.issued_by, "n": self.nonce},
            separators=(",", ":"), sort_keys=True,
        ).encode()
        body = _b64(payload)
        signature = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
        return f"{TOKEN_PREFIX}{body}.{signature}"

    @classmethod
    def verify(cls, token: str, secret: bytes, now: datetime) -> MemberToken | None:
        """The token's claims if its signature is ours and it has not expired, else ``None``."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        body, sep, signature = token[len(TOKEN_PREFIX):].partition(".")
        if not sep:
            return None
        expected = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature):
            return None
        try:
            claims = json.loads(_unb64(body))
            expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
            parsed = cls(str(claims["p"]), str(claims["m"]), expires_at, str(claims["by"]),
                         str(claims["n"]))
        except (ValueError, KeyError, TypeError):
            return None
        return parsed if parsed.expires_at > now else None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

"""API keys, member tokens and the audit trail, as use cases.

Administrative actions record who did them in the audit log, in the same transaction.

Authenticating a request must be cheap, so each process keeps the keys it has recently read
(``KeyCache``): the presented key is still hashed and compared with the stored hash on every
request, but the row need not be read again while it is younger than the caller's
``key_max_age`` (``LOYALTY_API_KEY_CACHE_SECONDS`` in the API). Revoking a key here forgets it
at once; a revocation by another process (another worker, the CLI) takes effect within that age.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from loyalty.domain.access import (
    KEY_SCOPES,
    TOKEN_PREFIX,
    MemberToken,
    NewKey,
    Principal,
    Scope,
    key_id_of,
    secret_matches,
)
from loyalty.domain.audit import AuditRecord, NewAuditRecord
from loyalty.domain.errors import (
    Forbidden,
    InvalidRequest,
    KeyNotFound,
    MemberNotFound,
    Unauthenticated,
)
from loyalty.services.context import Context

LAST_USE_PRECISION = timedelta(minutes=1)
_TOKEN_SECRET = "member_token_key"
_KEY_CACHE = "api_keys"


@dataclass(frozen=True)
class Actor:
    """Who acts: ``key:<id>``, ``member:<id>`` or ``cli:<operator>``, and the person, if given."""

    name: str
    acting_person: str | None = None
    program_id: str | None = None  # the programs this actor may touch; None for all

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.actor, principal.acting_person, principal.program_id)


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    name: str
    program_id: str | None
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class KeyCreated:
    key: KeyInfo
    secret: str  # shown once, never stored


@dataclass(frozen=True)
class CreateKey:
    name: str
    scopes: tuple[str, ...]
    program_id: str | None = None
    all_programs: bool = False


def create_key(ctx: Context, command: CreateKey, actor: Actor) -> KeyCreated:
    if (command.program_id is None) != command.all_programs:
        raise InvalidRequest("a key belongs to one program, or explicitly to all programs",
                             field="program_id")
    unknown = [s for s in command.scopes if s not in {scope.value for scope in KEY_SCOPES}]
    if unknown or not command.scopes:
        allowed = ", ".join(sorted(s.value for s in KEY_SCOPES))
        raise InvalidRequest(f"scopes are one or more of {allowed} ('member' is only for "
                             "member tokens)", field="scopes")
    if actor.program_id is not None and command.program_id != actor.program_id:
        raise Forbidden("a key of one program can only create keys of that program")
    if not 1 <= len(command.name) <= 200:
        raise InvalidRequest("a key's name has 1 to 200 characters", field="name")
    new = NewKey.generate()
    scopes = sorted(set(command.scopes))
    with ctx.uow() as uow:
        if command.program_id is not None:
            uow.programs.get(command.program_id)
        now = ctx.clock.now()
        uow.keys.add(key_id=new.key_id, name=command.name, program_id=command.program_id,
                     scopes=scopes, secret_hash=new.secret_hash, at=now)
        info = KeyInfo(new.key_id, command.name, command.program_id, tuple(scopes), now, None,
                       None)
        uow.audit.append(NewAuditRecord(
            actor=actor.name, acting_person=actor.acting_person, action="key.created",
            target_type="api_key", target_id=new.key_id, program_id=command.program_id,
            after={"name": command.name, "scopes": scopes, "program_id": command.program_id},
        ), now)
        uow.commit()
    return KeyCreated(info, new.secret)


def revoke_key(ctx: Context, key_id: str, actor: Actor) -> KeyInfo:
    with ctx.uow() as uow:
        row = uow.keys.get(key_id)
        if row is None or (actor.program_id is not None and row.program_id != actor.program_id):
            raise KeyNotFound(f"there is no API key {key_id!r}")
        now = ctx.clock.now()
        if row.revoked_at is None:
            uow.keys.revoke(key_id, now)
            uow.audit.append(NewAuditRecord(
                actor=actor.name, acting_person=actor.acting_person, action="key.revoked",
                target_type="api_key", target_id=key_id, program_id=row.program_id,
                before={"revoked_at": None}, after={"revoked_at": now.isoformat()},
            ), now)
        uow.commit()
        # After the commit: a request of this process that reads the key from now on sees it
        # revoked, and one that read it before cannot put it back (see ``KeyCache.put``).
        key_cache(ctx).forget(key_id)
        row = uow.keys.get(key_id)
        assert row is not None
        return _info(row)


def list_keys(ctx: Context, actor: Actor) -> list[KeyInfo]:
    with ctx.uow(read_only=True) as uow:
        return [_info(row) for row in uow.keys.list(actor.program_id)]


def _info(row: object) -> KeyInfo:
    return KeyInfo(row.key_id, row.name, row.program_id, tuple(row.scopes),  # type: ignore[attr-defined]
                   row.created_at, row.revoked_at, row.last_used_at)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class StoredKey:
    """What authenticating with an API key needs, as stored: the hash of the key, never the
    key itself."""

    key_id: str
    name: str
    program_id: str | None
    scopes: frozenset[Scope]
    secret_hash: str
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCache:
    """The API keys this process has read recently, by key id, each with when it was read.

    Only keys that exist are kept, once proven by their secret or by a member token this engine
    signed, and at most ``size`` of them (the oldest read goes first): unknown or guessed key
    ids are never kept, so they cannot fill memory. Safe to share between threads.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: dict[str, tuple[datetime, StoredKey]] = {}
        self._lock = threading.Lock()
        self._forgotten = 0  # how many times a key was forgotten: see ``put``

    @property
    def generation(self) -> int:
        """Read before reading a key from the database, and give it back to ``put``."""
        return self._forgotten

    def get(self, key_id: str, now: datetime, max_age: timedelta) -> StoredKey | None:
        """The key if it was read less than ``max_age`` before ``now``."""
        entry = self._entries.get(key_id)  # one dict read: atomic, no lock needed
        if entry is None:
            return None
        read_at, key = entry
        # A clock set back must not make an old entry young again.
        return key if read_at <= now < read_at + max_age else None

    def put(self, key: StoredKey, read_at: datetime, generation: int) -> None:
        """Keep ``key``, read at ``read_at`` -- unless a key was forgotten since ``generation``:
        a row read before a revocation committed must not outlive the revocation here."""
        with self._lock:
            if generation != self._forgotten:
                return
            self._entries.pop(key.key_id, None)
            while len(self._entries) >= self.size:
                del self._entries[next(iter(self._entries))]
            self._entries[key.key_id] = (read_at, key)

    def touched(self, key_id: str, at: datetime) -> None:
        """Note that the key's last use was recorded ``at``, so it is not written again soon."""
        with self._lock:
            entry = self._entries.get(key_id)
            if entry is not None:
                self._entries[key_id] = (entry[0], replace(entry[1], last_used_at=at))

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._forgotten += 1
            self._entries.pop(key_id, None)

    def __len__(self) -> int:
        return len(self._entries)


def key_cache(ctx: Context) -> KeyCache:
    """This process's ``KeyCache``, kept in the context."""
    cache = ctx.cache.get(_KEY_CACHE)
    if cache is None:
        cache = ctx.cache.setdefault(_KEY_CACHE, KeyCache())  # one winner between threads
    return cache


def authenticate(ctx: Context, presented: str, *, acting_person: str | None = None,
                 key_max_age: timedelta = timedelta(0)) -> Principal:
    """The principal behind an API key or a member token; ``Unauthenticated`` otherwise.

    A key read from the database less than ``key_max_age`` ago is not read again (the default,
    zero, reads it every time); the presented key is checked against its hash either way.
    """
    now = ctx.clock.now()
    if presented.startswith(TOKEN_PREFIX):
        token = MemberToken.verify(presented, token_secret(ctx), now)
        if token is None:
            raise Unauthenticated("the member token is invalid or has expired")
        # The signature proves the token is ours, so its issuer may be read and kept.
        issuer = _stored_key(ctx, token.issued_by, now, key_max_age)
        if issuer is None or issuer.revoked_at is not None:
            raise Unauthenticated("the key that issued this member token was revoked")
        return Principal(token.issued_by, f"member token of {token.member_id}",
                         token.program_id, frozenset({Scope.MEMBER}), token.member_id,
                         acting_person)
    key_id = key_id_of(presented)
    if key_id is None:
        raise Unauthenticated("this is not an API key of this engine (they start with lk_)")
    key = _stored_key(ctx, key_id, now, key_max_age, presented=presented)
    if key is None:
        raise Unauthenticated("unknown API key")
    if key.revoked_at is not None:
        raise Unauthenticated("this API key was revoked")
    if key.last_used_at is None or key.last_used_at < now - LAST_USE_PRECISION:
        with ctx.uow() as uow:
            uow.keys.touch(key_id, now, LAST_USE_PRECISION)
            uow.commit()
        key_cache(ctx).touched(key_id, now)
    return Principal(key.key_id, key.name, key.program_id, key.scopes, None, acting_person)


def _stored_key(ctx: Context, key_id: str, now: datetime, max_age: timedelta, *,
                presented: str | None = None) -> StoredKey | None:
    """The key ``key_id``, from the cache if it is young enough, else from the database.

    With ``presented``, ``None`` unless it matches the stored hash (compared in constant time,
    cached or not), and the key is kept only if it does.
    """
    cache = key_cache(ctx)
    key = cache.get(key_id, now, max_age) if max_age else None
    read, generation = key is None, cache.generation
    if key is None:
        with ctx.uow(read_only=True) as uow:
            row = uow.keys.credentials(key_id)
        if row is None:
            return None  # unknown ids are not kept: they would let anyone fill memory
        key = StoredKey(row.key_id, row.name, row.program_id,
                        frozenset(Scope(s) for s in row.scopes), row.secret_hash,
                        row.revoked_at, row.last_used_at)
    if presented is not None and not secret_matches(presented, key.secret_hash):
        return None
    if read and max_age:
        cache.put(key, now, generation)
    return key


def token_secret(ctx: Context) -> bytes:
    """The member-token signing key: ``LOYALTY_SECRET_KEY``, or one this installation made."""
    if ctx.secret_key:
        return ctx.secret_key
    cached = ctx.cache.get(_TOKEN_SECRET)
    if cached is None:
        with ctx.uow() as uow:
            cached = uow.secrets.get_or_create(_TOKEN_SECRET, ctx.clock.now()).encode()
            uow.commit()
        ctx.cache[_TOKEN_SECRET] = cached
    return cached


@dataclass(frozen=True)
class IssuedToken:
    token: str
    member_id: str
    expires_at: datetime


def issue_member_token(ctx: Context, principal: Principal, program_id: str, member_id: str,
                       ttl: timedelta) -> IssuedToken:
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        if uow.members.status_of(program_id, member_id) is None:
            raise MemberNotFound(f"there is no member {member_id!r} in this program")
    expires_at = (ctx.clock.now() + ttl).replace(microsecond=0)
    token = MemberToken(program_id, member_id, expires_at, principal.key_id)
    return IssuedToken(token.sign(token_secret(ctx)), member_id, expires_at)


@dataclass(frozen=True)
class AuditPage:
    records: tuple[AuditRecord, ...]
    next_cursor: str | None


def audit_trail(ctx: Context, actor: Actor, *, program_id: str | None = None,
                member_id: str | None = None, by: str | None = None,
                since: datetime | None = None, until: datetime | None = None,
                cursor: str | None = None, limit: int = 50) -> AuditPage:
    """Audit records, newest first; a program's key sees only that program's records."""
    from loyalty.services.points import decode_cursor, encode_cursor

    if actor.program_id is not None:
        if program_id not in (None, actor.program_id):
            raise Forbidden("this key reads the audit log of its own program only")
        program_id = actor.program_id
    before_id = decode_cursor(cursor) if cursor else None
    if cursor and before_id is None:
        raise InvalidRequest("this cursor was not given by this API", field="cursor")
    with ctx.uow(read_only=True) as uow:
        records = uow.audit.find(program_id=program_id, member_id=member_id, actor=by,
                                 since=since, until=until, before_id=before_id,
                                 limit=limit + 1)
    more = len(records) > limit
    records = records[:limit]
    return AuditPage(tuple(records), encode_cursor(records[-1].id) if more else None)

"""Repositories: the use cases' only way to the tables.

The ledger's write path is Core SQL with ``RETURNING`` so that posting a purchase costs a handful
of round trips (see ``../shared/PERF-NOTES.md``); administrative reads may use the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from loyalty.adapters.orm import (
    EventRow,
    IdempotencyRecordRow,
    LedgerEntryRow,
    LotMovementRow,
    LotRow,
    MemberBalanceRow,
    MemberIdentityRow,
    MemberRow,
    ProgramDraftRow,
    ProgramRow,
    ProgramVersionRow,
    PurchaseRow,
    RuleAwardRow,
    RuleBudgetRow,
    UTCDateTime,
)
from loyalty.domain.errors import (
    IdentityAlreadyUsed,
    ProgramNotFound,
    VersionNotFound,
    check_replay,
)
from loyalty.domain.ledger import (
    Allocation,
    Balance,
    BalanceChange,
    Entry,
    EntryKind,
    Lot,
    LotStatus,
    NewEntry,
)
from loyalty.domain.members import Identity, IdentityKind, Member, MemberStatus
from loyalty.rules.definition import load_definition
from loyalty.rules.engine import CompiledProgram
from loyalty.rules.program import Program

_BALANCE_COLUMNS = (
    MemberBalanceRow.available,
    MemberBalanceRow.pending,
    MemberBalanceRow.lifetime_earned,
    MemberBalanceRow.lifetime_redeemed,
    MemberBalanceRow.lifetime_expired,
    MemberBalanceRow.lifetime_reversed,
    MemberBalanceRow.lifetime_adjusted,
    MemberBalanceRow.debt,
)


# Compiled programs by (program, version, publication instant): versions are immutable, so a
# compiled version never goes stale; the instant tells apart a re-created program of the same id.
_COMPILED: dict[tuple[str, int, datetime], CompiledProgram] = {}
_COMPILED_LIMIT = 256


def compiled_in_cache(program_id: str, version: int, published_at: datetime
                      ) -> CompiledProgram | None:
    return _COMPILED.get((program_id, version, published_at))


def forget_compiled_programs() -> None:
    """Empty the cache (tests that re-create a program under the same id and instant)."""
    _COMPILED.clear()


@dataclass(frozen=True)
class VersionInfo:
    version: int
    published_at: datetime
    effective_from: datetime | None
    published_by: str


# The posting path's statements, built once: building a statement costs more than running it.
_ENTRIES = LedgerEntryRow.__table__
_LOTS = LotRow.__table__
_BALANCES = MemberBalanceRow.__table__
_INSERT_ENTRY = insert(_ENTRIES).returning(_ENTRIES.c.id)
_INSERT_LOT = insert(_LOTS).returning(_LOTS.c.id)
_INSERT_PURCHASE = insert(PurchaseRow.__table__)
_LOCK_MEMBER = (select(*_BALANCE_COLUMNS).where(MemberBalanceRow.member_id == bindparam("m"))
                .with_for_update())
_AVAILABLE_LOTS = (
    select(LotRow.id, LotRow.remaining, LotRow.earned_at, LotRow.expires_at)
    .where(LotRow.member_id == bindparam("m"), LotRow.status == LotStatus.AVAILABLE.value,
           LotRow.remaining > 0)
    .with_for_update())
_PROGRAM_OF = select(MemberRow.program_id).where(MemberRow.id == bindparam("m"))
_TAKE_FROM_LOT = (update(_LOTS).where(_LOTS.c.id == bindparam("lot"))
                  .values(remaining=_LOTS.c.remaining - bindparam("n")))
_INSERT_MOVEMENT = insert(LotMovementRow.__table__)
_APPLY: dict[tuple[tuple[str, ...], bool], Any] = {}
_PROGRAMS = ProgramRow.__table__
_SELECT_PROGRAM = select(_PROGRAMS.c.id, _PROGRAMS.c.name, _PROGRAMS.c.currency,
                         _PROGRAMS.c.time_zone).where(_PROGRAMS.c.id == bindparam("p"))
_VERSIONS = ProgramVersionRow.__table__
_SUMMARY = (
    select(MemberRow.status, *_BALANCE_COLUMNS, MemberBalanceRow.last_activity_at)
    .join(MemberBalanceRow, MemberBalanceRow.member_id == MemberRow.id)
    .where(MemberRow.id == bindparam("m"), MemberRow.program_id == bindparam("p")))
_VERSION_IN_FORCE = (
    select(_VERSIONS.c.version, _VERSIONS.c.published_at)
    .where(_VERSIONS.c.program_id == bindparam("p"),
           or_(_VERSIONS.c.effective_from.is_(None),
               _VERSIONS.c.effective_from <= bindparam("at", type_=UTCDateTime())))
    .order_by(_VERSIONS.c.version.desc()).limit(1))
_MEMBERS = MemberRow.__table__
_MEMBER_FACTS = select(_MEMBERS.c.status, _MEMBERS.c.attributes, _MEMBERS.c.enrolled_at).where(
    _MEMBERS.c.id == bindparam("m"), _MEMBERS.c.program_id == bindparam("p"))
_IDEMPOTENCY = IdempotencyRecordRow.__table__
_STORE_RESULT = (update(_IDEMPOTENCY)
                 .where(_IDEMPOTENCY.c.program_id == bindparam("p"),
                        _IDEMPOTENCY.c.key.in_(bindparam("keys", expanding=True)))
                 .values(result=bindparam("result", type_=_IDEMPOTENCY.c.result.type)))
_CLAIM = {
    postgres: (postgresql.insert if postgres else sqlite.insert)(_IDEMPOTENCY)
    .on_conflict_do_nothing().returning(_IDEMPOTENCY.c.key)
    for postgres in (False, True)
}


def _apply_statement(names: tuple[str, ...], activity: bool) -> Any:
    """``UPDATE member_balances SET available = available + :d_available, ... RETURNING``,
    one statement per set of changed columns."""
    statement = _APPLY.get((names, activity))
    if statement is None:
        values: dict[str, Any] = {name: _BALANCES.c[name] + bindparam(f"d_{name}")
                                  for name in names}
        values["updated_at"] = bindparam("at", type_=UTCDateTime())
        if activity:
            last = _BALANCES.c.last_activity_at
            moment = bindparam("activity_at", type_=UTCDateTime())
            values["last_activity_at"] = case((or_(last.is_(None), last < moment), moment),
                                              else_=last)
        statement = (update(_BALANCES).where(_BALANCES.c.member_id == bindparam("m"))
                     .values(values).returning(*[_BALANCES.c[c.key] for c in _BALANCE_COLUMNS]))
        _APPLY[(names, activity)] = statement
    return statement


class ProgramRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, program_id: str) -> Program:
        row = self.session.connection().execute(_SELECT_PROGRAM, {"p": program_id}).first()
        if row is None:
            raise ProgramNotFound(f"there is no program {program_id!r}", program=program_id)
        return Program(*row)

    def exists(self, program_id: str) -> bool:
        return self.session.get(ProgramRow, program_id) is not None

    def add(self, program: Program, created_at: datetime) -> None:
        self.session.execute(insert(ProgramRow).values(
            id=program.id, name=program.name, currency=program.currency,
            time_zone=program.time_zone, created_at=created_at,
        ))

    def list_ids(self) -> list[str]:
        return list(self.session.scalars(select(ProgramRow.id).order_by(ProgramRow.id)))

    # -- versions ---------------------------------------------------------------------------

    def add_version(self, program_id: str, document: dict[str, Any], *, at: datetime,
                    effective_from: datetime | None, actor: str) -> int:
        """Publish ``document`` as the next version; the program's row is locked meanwhile so
        two publications cannot take the same number."""
        self.session.execute(select(ProgramRow.id).where(ProgramRow.id == program_id)
                             .with_for_update())
        latest = self.session.scalar(select(func.max(ProgramVersionRow.version))
                                     .where(ProgramVersionRow.program_id == program_id)) or 0
        self.session.execute(insert(ProgramVersionRow).values(
            program_id=program_id, version=latest + 1, document=document, published_at=at,
            effective_from=effective_from, published_by=actor,
        ))
        return latest + 1

    def version_in_force(self, program_id: str, at: datetime) -> tuple[int, datetime] | None:
        row = self.session.connection().execute(
            _VERSION_IN_FORCE, {"p": program_id, "at": at}).first()
        return None if row is None else (row[0], row[1])

    def versions(self, program_id: str) -> list[VersionInfo]:
        rows = self.session.execute(
            select(ProgramVersionRow.version, ProgramVersionRow.published_at,
                   ProgramVersionRow.effective_from, ProgramVersionRow.published_by)
            .where(ProgramVersionRow.program_id == program_id)
            .order_by(ProgramVersionRow.version)
        ).all()
        return [VersionInfo(*row) for row in rows]

    def document(self, program_id: str, version: int) -> dict[str, Any] | None:
        return self.session.scalar(
            select(ProgramVersionRow.document).where(
                ProgramVersionRow.program_id == program_id,
                ProgramVersionRow.version == version)
        )

    def compiled(self, program: Program, version: int, published_at: datetime | None = None
                 ) -> CompiledProgram:
        """Version ``version`` of the program, compiled (from the cache when possible)."""
        if published_at is None:
            published_at = self.session.scalar(
                select(ProgramVersionRow.published_at).where(
                    ProgramVersionRow.program_id == program.id,
                    ProgramVersionRow.version == version))
            if published_at is None:
                raise VersionNotFound(f"program {program.id!r} has no version {version}")
        key = (program.id, version, published_at)
        compiled = _COMPILED.get(key)
        if compiled is None:
            document = self.document(program.id, version)
            compiled = CompiledProgram(load_definition(document), currency=program.currency,
                                       time_zone=program.time_zone, version=version)
            if len(_COMPILED) >= _COMPILED_LIMIT:
                _COMPILED.clear()
            _COMPILED[key] = compiled
        return compiled

    def compiled_at(self, program: Program, at: datetime) -> CompiledProgram:
        """The version in force at ``at``, compiled."""
        found = self.version_in_force(program.id, at)
        if found is None:
            raise VersionNotFound(f"program {program.id!r} has no published version")
        return self.compiled(program, *found)

    # -- the draft --------------------------------------------------------------------------

    def draft(self, program_id: str) -> ProgramDraftRow | None:
        return self.session.get(ProgramDraftRow, program_id)

    def save_draft(self, program_id: str, document: dict[str, Any], *, at: datetime,
                   actor: str) -> None:
        row = self.session.get(ProgramDraftRow, program_id)
        if row is None:
            self.session.add(ProgramDraftRow(program_id=program_id, document=document,
                                             updated_at=at, updated_by=actor))
        else:
            row.document, row.updated_at, row.updated_by = document, at, actor
        self.session.flush()

    def delete_draft(self, program_id: str) -> None:
        self.session.execute(delete(ProgramDraftRow).where(
            ProgramDraftRow.program_id == program_id))


class MemberRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, member: Member, at: datetime) -> None:
        for identity in member.identities:
            owner = self.find_id_by_identity(member.program_id, identity)
            if owner is not None:
                raise IdentityAlreadyUsed(
                    f"{identity} already belongs to another member of this program",
                    field="identities",
                    identity=str(identity),
                )
        self.session.execute(
            insert(MemberRow).values(
                id=member.id,
                program_id=member.program_id,
                status=member.status.value,
                status_reason=member.status_reason,
                attributes=member.attributes,
                enrolled_at=member.enrolled_at,
            )
        )
        if member.identities:
            self.session.execute(
                insert(MemberIdentityRow),
                [
                    {
                        "program_id": member.program_id,
                        "member_id": member.id,
                        "kind": identity.kind.value,
                        "value": identity.value,
                    }
                    for identity in member.identities
                ],
            )
        self.session.execute(
            insert(MemberBalanceRow).values(
                member_id=member.id, program_id=member.program_id, updated_at=at
            )
        )

    def find_id_by_identity(self, program_id: str, identity: Identity) -> str | None:
        return self.session.scalar(
            select(MemberIdentityRow.member_id).where(
                MemberIdentityRow.program_id == program_id,
                MemberIdentityRow.kind == identity.kind.value,
                MemberIdentityRow.value == identity.value,
            )
        )

    def get(self, program_id: str, member_id: str) -> Member | None:
        row = self.session.execute(
            select(MemberRow).where(MemberRow.id == member_id, MemberRow.program_id == program_id)
        ).scalar_one_or_none()
        if row is None:
            return None
        identities = self.session.execute(
            select(MemberIdentityRow.kind, MemberIdentityRow.value)
            .where(MemberIdentityRow.member_id == member_id)
            .order_by(MemberIdentityRow.id)
        ).all()
        return Member(
            id=row.id,
            program_id=row.program_id,
            status=MemberStatus(row.status),
            enrolled_at=row.enrolled_at,
            attributes=dict(row.attributes or {}),
            identities=tuple(Identity(IdentityKind(k), v) for k, v in identities),
            status_reason=row.status_reason,
        )

    def facts_row(self, program_id: str, member_id: str
                  ) -> tuple[MemberStatus, dict[str, Any], datetime] | None:
        """Status, attributes and enrolment of a member: what rules may ask of its profile."""
        row = self.session.connection().execute(
            _MEMBER_FACTS, {"m": member_id, "p": program_id}).first()
        return None if row is None else (MemberStatus(row[0]), dict(row[1] or {}), row[2])

    def status_of(self, program_id: str, member_id: str) -> MemberStatus | None:
        """The member's status alone: the posting path's one cheap read of the member."""
        status = self.session.scalar(
            select(MemberRow.status).where(
                MemberRow.id == member_id, MemberRow.program_id == program_id
            )
        )
        return None if status is None else MemberStatus(status)


class PurchaseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, **values: Any) -> None:
        self.session.connection().execute(_INSERT_PURCHASE, values)


class LedgerRepository:
    """Entries, lots and the summary row of members' ledgers."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    # -- the summary row ------------------------------------------------------------------

    def lock_member(self, member_id: str) -> Balance:
        """Lock the member's summary row until commit; every read-then-write of a ledger does this.

        On PostgreSQL this is ``SELECT ... FOR UPDATE``; on SQLite the transaction already holds
        the database's write lock (``BEGIN IMMEDIATE``), so a plain read is enough.
        """
        row = self.session.connection().execute(_LOCK_MEMBER, {"m": member_id}).one()
        return Balance(*row)

    def balance(self, member_id: str) -> Balance:
        row = self.session.execute(
            select(*_BALANCE_COLUMNS).where(MemberBalanceRow.member_id == member_id)
        ).one()
        return Balance(*row)

    def apply(self, member_id: str, change: BalanceChange, at: datetime,
              activity_at: datetime | None = None) -> Balance:
        """Add ``change`` to the summary row in one statement and return the new row; an earn
        or a spend also moves the member's last activity forward (never back)."""
        deltas = {name: delta for name, delta in asdict(change).items() if delta}
        statement = _apply_statement(tuple(sorted(deltas)), activity_at is not None)
        row = self.session.connection().execute(statement, {
            **{f"d_{name}": delta for name, delta in deltas.items()},
            "m": member_id, "at": at, "activity_at": activity_at,
        }).one()
        return Balance(*row)

    # -- entries and lots -----------------------------------------------------------------

    def append(
        self, program_id: str, member_id: str, entry: NewEntry, recorded_at: datetime
    ) -> int:
        return self.session.connection().execute(_INSERT_ENTRY, {
            "program_id": program_id, "member_id": member_id, "kind": entry.kind.value,
            "points": entry.points, "available_delta": entry.available_delta,
            "pending_delta": entry.pending_delta, "occurred_at": entry.occurred_at,
            "recorded_at": recorded_at, "reason": entry.reason,
            "purchase_id": entry.purchase_id, "lot_id": entry.lot_id,
            "external_ref": entry.external_ref, "rule_id": entry.rule_id,
            "rule_version": entry.rule_version,
            "rules": list(entry.rules) if entry.rules is not None else None,
            "event_id": entry.event_id, "actor": entry.actor, "approved_by": entry.approved_by,
            "explanation": list(entry.explanation) if entry.explanation is not None else None,
        }).scalar_one()

    def add_lot(
        self,
        *,
        program_id: str,
        member_id: str,
        purchase_id: str | None,
        points: int,
        status: LotStatus,
        earned_at: datetime,
        available_at: datetime | None,
        expires_at: datetime | None,
    ) -> int:
        return self.session.connection().execute(_INSERT_LOT, {
            "program_id": program_id, "member_id": member_id, "purchase_id": purchase_id,
            "status": status.value, "points": points, "remaining": points,
            "earned_at": earned_at, "available_at": available_at, "expires_at": expires_at,
        }).scalar_one()

    def available_lots(self, member_id: str) -> list[Lot]:
        """Available lots with points left, locked (PostgreSQL) for the rest of the transaction."""
        rows = self.session.connection().execute(_AVAILABLE_LOTS, {"m": member_id}).all()
        return [Lot(*row) for row in rows]

    def take_from_lots(self, entry_id: int, allocations: Sequence[Allocation]) -> None:
        """Take the allocated points out of their lots and record the movements."""
        if not allocations:
            return
        connection = self.session.connection()
        connection.execute(_TAKE_FROM_LOT, [{"lot": a.lot_id, "n": a.points} for a in allocations])
        connection.execute(
            _INSERT_MOVEMENT,
            [{"entry_id": entry_id, "lot_id": a.lot_id, "points": a.points} for a in allocations],
        )

    def release_lot(self, lot_id: int) -> int | None:
        """Make a pending lot available; its remaining points, or ``None`` if it was not pending."""
        return self.session.execute(
            update(LotRow)
            .where(LotRow.id == lot_id, LotRow.status == LotStatus.PENDING.value)
            .values(status=LotStatus.AVAILABLE.value)
            .returning(LotRow.remaining)
        ).scalar_one_or_none()

    def open_lots(self, member_id: str) -> list[tuple[str, int, datetime | None, datetime | None]]:
        """(status, remaining, available_at, expires_at) of the member's lots with points left."""
        rows = self.session.execute(
            select(LotRow.status, LotRow.remaining, LotRow.available_at, LotRow.expires_at)
            .where(LotRow.member_id == member_id, LotRow.remaining > 0)
            .order_by(LotRow.expires_at, LotRow.id)
        ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def debt_of(self, member_id: str) -> int:
        return int(self.session.scalar(select(MemberBalanceRow.debt)
                                       .where(MemberBalanceRow.member_id == member_id)) or 0)

    def purchase_lot(self, purchase_id: str) -> tuple[int, str, int] | None:
        """(lot id, status, remaining) of the lot a purchase earned, locked (PostgreSQL)."""
        row = self.session.execute(
            select(LotRow.id, LotRow.status, LotRow.remaining)
            .where(LotRow.purchase_id == purchase_id).order_by(LotRow.id).limit(1)
            .with_for_update()
        ).first()
        return None if row is None else (row[0], row[1], row[2])

    def pending_lots(self, member_id: str) -> list[tuple[int, int]]:
        """(lot id, remaining) of the member's pending lots with points left, locked."""
        return [(lot, remaining) for lot, remaining in self.session.execute(
            select(LotRow.id, LotRow.remaining)
            .where(LotRow.member_id == member_id, LotRow.status == LotStatus.PENDING.value,
                   LotRow.remaining > 0).with_for_update()).all()]

    def closed_members_with_points(self, program_id: str, closed_before: datetime) -> list[str]:
        return list(self.session.scalars(
            select(MemberRow.id).join(MemberBalanceRow,
                                      MemberBalanceRow.member_id == MemberRow.id)
            .where(MemberRow.program_id == program_id, MemberRow.status == "closed",
                   MemberRow.closed_at <= closed_before,
                   (MemberBalanceRow.available > 0) | (MemberBalanceRow.pending > 0))))

    def earn_of(self, purchase_id: str) -> int | None:
        """The entry that earned a purchase's points (available or pending), if any."""
        return self.session.scalar(
            select(LedgerEntryRow.id).where(
                LedgerEntryRow.purchase_id == purchase_id,
                LedgerEntryRow.kind.in_((EntryKind.EARN.value, EntryKind.PENDING_EARN.value)))
            .order_by(LedgerEntryRow.id).limit(1))

    def burn_of(self, purchase_id: str) -> int | None:
        """The entry that burned points to pay part of a purchase, if any."""
        return self.session.scalar(
            select(LedgerEntryRow.id).where(LedgerEntryRow.purchase_id == purchase_id,
                                            LedgerEntryRow.kind == EntryKind.REDEEM.value,
                                            LedgerEntryRow.points < 0)
            .order_by(LedgerEntryRow.id).limit(1))

    def taken_by(self, entry_id: int) -> list[tuple[int, int]]:
        """(lot id, points) an entry took from lots, in the order it took them."""
        return [(lot, points) for lot, points in self.session.execute(
            select(LotMovementRow.lot_id, LotMovementRow.points)
            .where(LotMovementRow.entry_id == entry_id, LotMovementRow.points > 0)
            .order_by(LotMovementRow.lot_id)).all()]

    def restored_for_purchase(self, purchase_id: str) -> dict[int, int]:
        """Points already put back into lots by the give-backs of a purchase's burn."""
        rows = self.session.execute(
            select(LotMovementRow.lot_id, func.sum(-LotMovementRow.points))
            .join(LedgerEntryRow, LedgerEntryRow.id == LotMovementRow.entry_id)
            .where(LedgerEntryRow.purchase_id == purchase_id,
                   LedgerEntryRow.kind == EntryKind.REDEEM.value, LotMovementRow.points < 0)
            .group_by(LotMovementRow.lot_id)).all()
        return {lot: int(points) for lot, points in rows}

    def put_back(self, entry_id: int, restorations: Sequence[tuple[int, int]]) -> None:
        """Put points back into lots (negative movements): cancelled or given-back burns."""
        for lot_id, points in restorations:
            self.session.execute(update(LotRow).where(LotRow.id == lot_id)
                                 .values(remaining=LotRow.remaining + points))
        if restorations:
            self.session.execute(insert(LotMovementRow), [
                {"entry_id": entry_id, "lot_id": lot, "points": -points}
                for lot, points in restorations])

    def summary(self, program_id: str, member_id: str
                ) -> tuple[MemberStatus, Balance, datetime | None] | None:
        """The member's status, summary row and last activity in one read (the balance
        endpoint's), or ``None`` for no such member in the program."""
        row = self.session.connection().execute(_SUMMARY, {"m": member_id, "p": program_id}).first()
        if row is None:
            return None
        return MemberStatus(row[0]), Balance(*row[1:-1]), row[-1]

    def last_activity(self, member_id: str) -> datetime | None:
        return self.session.scalar(select(MemberBalanceRow.last_activity_at)
                                   .where(MemberBalanceRow.member_id == member_id))

    def inactive_members(self, program_id: str, before: datetime, *, after: str | None,
                         limit: int) -> list[tuple[str, datetime]]:
        """Members of the program with points, last active before ``before`` (a page)."""
        query = (select(MemberBalanceRow.member_id, MemberBalanceRow.last_activity_at)
                 .where(MemberBalanceRow.program_id == program_id,
                        MemberBalanceRow.available > 0,
                        MemberBalanceRow.last_activity_at < before)
                 .order_by(MemberBalanceRow.member_id).limit(limit))
        if after is not None:
            query = query.where(MemberBalanceRow.member_id > after)
        return [(m, t) for m, t in self.session.execute(query).all()]

    def members_with_lots_due_to_expire(self, now: datetime, limit: int) -> list[str]:
        return list(
            self.session.scalars(
                select(LotRow.member_id)
                .where(
                    LotRow.status == LotStatus.AVAILABLE.value,
                    LotRow.expires_at <= now,
                    LotRow.remaining > 0,
                )
                .group_by(LotRow.member_id)
                .order_by(LotRow.member_id)
                .limit(limit)
            )
        )

    def pending_lots_due(
        self, now: datetime, limit: int
    ) -> list[tuple[int, str, str, str | None, datetime]]:
        """(lot, program, member, purchase, available_at) of pending lots whose time came."""
        rows = self.session.execute(
            select(
                LotRow.id,
                LotRow.program_id,
                LotRow.member_id,
                LotRow.purchase_id,
                LotRow.available_at,
            )
            .where(LotRow.status == LotStatus.PENDING.value, LotRow.available_at <= now)
            .order_by(LotRow.member_id, LotRow.id)
            .limit(limit)
        ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def program_of_member(self, member_id: str) -> str:
        return self.session.connection().execute(_PROGRAM_OF, {"m": member_id}).scalar() or ""

    def entries(self, member_id: str, *, before_id: int | None, limit: int) -> list[Entry]:
        query = select(LedgerEntryRow).where(LedgerEntryRow.member_id == member_id)
        if before_id is not None:
            query = query.where(LedgerEntryRow.id < before_id)
        rows = self.session.scalars(query.order_by(LedgerEntryRow.id.desc()).limit(limit))
        return [
            Entry(
                id=row.id,
                kind=EntryKind(row.kind),
                points=row.points,
                available_delta=row.available_delta,
                pending_delta=row.pending_delta,
                occurred_at=row.occurred_at,
                recorded_at=row.recorded_at,
                reason=row.reason,
                purchase_id=row.purchase_id,
                external_ref=row.external_ref,
                rule_id=row.rule_id,
                rule_version=row.rule_version,
                rules=tuple(row.rules) if row.rules is not None else None,
                event_id=row.event_id,
                actor=row.actor,
                explanation=tuple(row.explanation) if row.explanation is not None else None,
            )
            for row in rows
        ]

    # -- the invariants -------------------------------------------------------------------

    def breaches(self) -> list[tuple[str, str]]:
        """(member id, what is wrong) for every member whose ledger does not add up."""
        found: list[tuple[str, str]] = []
        e = LedgerEntryRow
        sums = (
            select(
                e.member_id,
                func.sum(e.available_delta).label("available"),
                func.sum(e.pending_delta).label("pending"),
                func.sum(_when(e.kind.in_(["earn", "pending_earn"]), e.points)).label("earned"),
                func.sum(_when(e.kind == "redeem", -e.points)).label("redeemed"),
                func.sum(_when(e.kind == "expire", -e.points)).label("expired"),
                func.sum(_when(e.kind == "reverse", -e.points)).label("reversed"),
                func.sum(_when(e.kind == "adjust", e.points)).label("adjusted"),
            )
            .group_by(e.member_id)
            .subquery()
        )
        b = MemberBalanceRow
        checks = [
            ("available", b.available, sums.c.available),
            ("pending", b.pending, sums.c.pending),
            ("lifetime_earned", b.lifetime_earned, sums.c.earned),
            ("lifetime_redeemed", b.lifetime_redeemed, sums.c.redeemed),
            ("lifetime_expired", b.lifetime_expired, sums.c.expired),
            ("lifetime_reversed", b.lifetime_reversed, sums.c.reversed),
            ("lifetime_adjusted", b.lifetime_adjusted, sums.c.adjusted),
        ]
        rows = self.session.execute(
            select(
                b.member_id,
                *[col for _, col, _ in checks],
                *[func.coalesce(s, 0) for _, _, s in checks],
            )
            .outerjoin(sums, sums.c.member_id == b.member_id)
            .where(or_(*[col != func.coalesce(s, 0) for _, col, s in checks]))
        ).all()
        for row in rows:
            for index, (name, _, _) in enumerate(checks):
                summary, summed = row[1 + index], row[1 + len(checks) + index]
                if summary != summed:
                    found.append(
                        (row[0], f"summary {name} is {summary} but the entries sum to {summed}")
                    )

        lots = (
            select(
                LotRow.member_id,
                func.sum(_when(LotRow.status == "available", LotRow.remaining)).label("available"),
                func.sum(_when(LotRow.status == "pending", LotRow.remaining)).label("pending"),
            )
            .group_by(LotRow.member_id)
            .subquery()
        )
        for member_id, name, summary, in_lots in self.session.execute(
            # what the lots hold is what is available plus any debt (negative balances)
            select(b.member_id, literal("available + debt"), b.available + b.debt,
                   func.coalesce(lots.c.available, 0))
            .outerjoin(lots, lots.c.member_id == b.member_id)
            .where(b.available + b.debt != func.coalesce(lots.c.available, 0))
            .union_all(
                select(b.member_id, literal("pending"), b.pending, func.coalesce(lots.c.pending, 0))
                .outerjoin(lots, lots.c.member_id == b.member_id)
                .where(b.pending != func.coalesce(lots.c.pending, 0))
            )
        ).all():
            found.append((member_id, f"summary {name} is {summary} but its lots hold {in_lots}"))

        moved = (
            select(LotMovementRow.lot_id, func.sum(LotMovementRow.points).label("taken"))
            .group_by(LotMovementRow.lot_id)
            .subquery()
        )
        for member_id, lot_id, points, remaining, taken in self.session.execute(
            select(
                LotRow.member_id,
                LotRow.id,
                LotRow.points,
                LotRow.remaining,
                func.coalesce(moved.c.taken, 0),
            )
            .outerjoin(moved, moved.c.lot_id == LotRow.id)
            .where(
                or_(
                    LotRow.remaining < 0,
                    LotRow.remaining != LotRow.points - func.coalesce(moved.c.taken, 0),
                )
            )
        ).all():
            found.append(
                (
                    member_id,
                    f"lot {lot_id} of {points} points has {remaining} left "
                    f"but its movements took {taken}",
                )
            )

        for member_id, entry_id in self.session.execute(
            select(e.member_id, e.id).where(or_(e.reason.is_(None), func.trim(e.reason) == ""))
        ).all():
            found.append((member_id, f"entry {entry_id} gives no reason"))
        return found

    def member_count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(MemberBalanceRow)) or 0


def _when(condition: Any, value: Any) -> Any:
    return case((condition, value), else_=0)


class IdempotencyRepository:
    """Claims idempotency keys; the first claim of a key wins, later ones replay its result."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def claim(
        self, program_id: str, keys: Iterable[tuple[str, str]], at: datetime
    ) -> dict[str, Any] | None:
        """Claim each (key, fingerprint); return the stored result if one was already answered.

        ``INSERT ... ON CONFLICT DO NOTHING`` waits on PostgreSQL for a concurrent transaction
        holding the same key, so the second of two simultaneous retries sees the first's answer.
        Raises ``IdempotencyKeyReused`` when a key comes back with another request.
        """
        statement = _CLAIM[self.dialect == "postgresql"]
        for key, fingerprint in keys:
            claimed = self.session.connection().execute(statement, {
                "program_id": program_id, "key": key, "fingerprint": fingerprint, "result": {},
                "created_at": at}).first()
            if claimed is not None:
                continue
            fingerprint_then, result = self.session.execute(
                select(IdempotencyRecordRow.fingerprint, IdempotencyRecordRow.result).where(
                    IdempotencyRecordRow.program_id == program_id,
                    IdempotencyRecordRow.key == key,
                )
            ).one()
            check_replay(key, fingerprint, fingerprint_then, result)
            return dict(result)
        return None

    def store(self, program_id: str, keys: Iterable[str], result: dict[str, Any]) -> None:
        self.session.connection().execute(_STORE_RESULT, {"p": program_id, "keys": list(keys),
                                             "result": result})


class RuleUsageRepository:
    """What earn rules need to know of the past: purchases, spend, limited rules' awards."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def purchases_before(self, member_id: str, at: datetime) -> int:
        return self.session.scalar(
            select(func.count()).select_from(PurchaseRow)
            .where(PurchaseRow.member_id == member_id, PurchaseRow.occurred_at < at)
        ) or 0

    def spend_between(self, member_id: str, start: datetime, end: datetime) -> int:
        return int(self.session.scalar(
            select(func.coalesce(func.sum(PurchaseRow.total), 0))
            .where(PurchaseRow.member_id == member_id, PurchaseRow.occurred_at >= start,
                   PurchaseRow.occurred_at < end)
        ) or 0)

    def awarded_between(self, member_id: str, rule_id: str, start: datetime,
                        end: datetime, *, before_entry: int | None = None) -> int:
        """What the rule gave the member for purchases made in [start, end) (recorded before
        the entry ``before_entry``, if given)."""
        query = (select(func.coalesce(func.sum(RuleAwardRow.points), 0))
                 .where(RuleAwardRow.member_id == member_id, RuleAwardRow.rule_id == rule_id,
                        RuleAwardRow.occurred_at >= start, RuleAwardRow.occurred_at < end))
        if before_entry is not None:
            query = query.where(RuleAwardRow.entry_id < before_entry)
        return int(self.session.scalar(query) or 0)

    def rules_ever_awarded(self, member_id: str, rule_ids: Sequence[str], *,
                           before_entry: int | None = None) -> set[str]:
        """Which of ``rule_ids`` gave the member points (recorded before the entry
        ``before_entry``, if given)."""
        if not rule_ids:
            return set()
        query = (select(RuleAwardRow.rule_id).distinct()
                 .where(RuleAwardRow.member_id == member_id, RuleAwardRow.rule_id.in_(rule_ids)))
        if before_entry is not None:
            query = query.where(RuleAwardRow.entry_id < before_entry)
        return set(self.session.scalars(query))

    def lock_budget(self, program_id: str, rule_id: str) -> int:
        """Points the rule has given so far, its row locked until commit (PostgreSQL; SQLite
        already holds the write lock)."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        self.session.execute(
            dialect_insert(RuleBudgetRow).values(program_id=program_id, rule_id=rule_id,
                                                 spent=0).on_conflict_do_nothing()
        )
        return int(self.session.execute(
            select(RuleBudgetRow.spent).where(RuleBudgetRow.program_id == program_id,
                                              RuleBudgetRow.rule_id == rule_id)
            .with_for_update()
        ).scalar_one())

    def budget_spent(self, program_id: str, rule_id: str) -> int:
        return int(self.session.scalar(
            select(RuleBudgetRow.spent).where(RuleBudgetRow.program_id == program_id,
                                              RuleBudgetRow.rule_id == rule_id)
        ) or 0)

    def spend_budget(self, program_id: str, rule_id: str, points: int) -> None:
        self.session.execute(
            update(RuleBudgetRow)
            .where(RuleBudgetRow.program_id == program_id, RuleBudgetRow.rule_id == rule_id)
            .values(spent=RuleBudgetRow.spent + points)
        )

    def record_awards(self, program_id: str, member_id: str, entry_id: int,
                      occurred_at: datetime, awards: Sequence[tuple[str, int]]) -> None:
        if awards:
            self.session.execute(insert(RuleAwardRow), [
                {"program_id": program_id, "member_id": member_id, "rule_id": rule_id,
                 "points": points, "occurred_at": occurred_at, "entry_id": entry_id}
                for rule_id, points in awards
            ])


class EventRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, **values: Any) -> None:
        self.session.execute(insert(EventRow).values(**values))

    def birthdays(self, program_id: str, month: int, day: int, *, after: str | None,
                  limit: int) -> tuple[list[str], str | None]:
        """Active members born on ``month``/``day`` among one page of ``limit`` members after
        ``after`` (by id), and the id to continue after (``None``: the last page)."""
        query = (select(MemberRow.id, MemberRow.attributes)
                 .where(MemberRow.program_id == program_id, MemberRow.status == "active")
                 .order_by(MemberRow.id).limit(limit))
        if after is not None:
            query = query.where(MemberRow.id > after)
        page = self.session.execute(query).all()
        born = f"-{month:02d}-{day:02d}"
        found = [member_id for member_id, attributes in page
                 if str((attributes or {}).get("birth_date") or "")[4:10] == born]
        return found, (page[-1][0] if len(page) == limit else None)


class PurchaseHistoryRepository:
    """Recorded purchases, read back as baskets: for back-testing a draft program."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def between(self, program_id: str, since: datetime, until: datetime) -> Iterable[Any]:
        return self.session.execute(
            select(PurchaseRow.id, PurchaseRow.member_id, PurchaseRow.occurred_at,
                   PurchaseRow.currency, PurchaseRow.lines, PurchaseRow.shipping,
                   PurchaseRow.channel, PurchaseRow.store, PurchaseRow.promo_codes,
                   PurchaseRow.paid_with_points, PurchaseRow.paid_with_gift_cards,
                   PurchaseRow.points_earned)
            .where(PurchaseRow.program_id == program_id, PurchaseRow.occurred_at >= since,
                   PurchaseRow.occurred_at < until)
            .order_by(PurchaseRow.occurred_at, PurchaseRow.id)
            .execution_options(yield_per=1000)
        )

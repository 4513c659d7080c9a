"""Bulk ingest: end-of-day files from tills (purchases and returns), in batched transactions.

Rows arrive already parsed (a command, or the reason the row could not be read) with their
line numbers, as a stream: memory does not grow with the file. Each batch is one transaction
and commits whole, so a crash loses at most the batch in flight, never part of one. Every row
is idempotent (its natural key): importing a file again imports nothing and reports the
duplicates, and re-running a file after a crash finishes it exactly.

The set-based lane: the purchases of a batch whose rules need no per-member history (no tier
ladder, no capped or once-only purchase rule, no purchase-count or spend facts), that burn no
points and whose member owes no debt, are checked in Python and written in a handful of
multi-row statements. Every other row (returns, burns, members in debt, programs with tiers
or capped rules) runs the posting use case itself, in a savepoint of the batch's transaction,
after the batch's set-based rows; so do all the rows of the batch of a member such a row
concerns (the member of a burn, of a returned purchase, of a reused key), in file order, so that
the ledger ends exactly as if every row had been posted one by one. A bad row is reported with
its line and reason and does not block the good ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from sqlalchemy.exc import IntegrityError

from loyalty.domain.basket import Basket
from loyalty.domain.errors import (
    CurrencyMismatch,
    LoyaltyError,
    MemberNotActive,
    MemberNotFound,
    PurchaseNotFound,
    check_replay,
)
from loyalty.domain.members import MemberStatus
from loyalty.rules.engine import CompiledProgram
from loyalty.services.context import Context
from loyalty.services.idempotency import Outcome, load
from loyalty.services.purchases import (
    PlainPosting,
    PurchaseRecorded,
    RecordPurchase,
    in_utc,
    not_in_future,
    plain_rows,
    record_purchase_in,
    settled,
)
from loyalty.services.read_ahead import ReadAhead
from loyalty.services.returns import RecordReturn, ReturnRecorded, record_return_in


@dataclass(frozen=True)
class ImportReturn:
    """A return row of a file: the purchase is named as the till knows it."""

    program_id: str
    purchase_source: str
    purchase_external_id: str
    external_id: str
    occurred_at: datetime | None = None
    lines: dict[str, int] | None = None
    amount: int | None = None
    currency: str | None = None


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    returns: int = 0  # of the imported rows
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    stopped_at: int | None = None  # the line of the error that stopped the import

    @property
    def rows(self) -> int:
        return self.imported + self.duplicates + self.rejected


Command = RecordPurchase | ImportReturn
Row = tuple[int, Command | str]
# A purchase's checks that do not read the clock (``settled``), or the error they raised.
Settled = tuple[RecordPurchase, Basket, tuple[str, str]] | LoyaltyError
Prepared = tuple[int, Command | str, Settled | None]
Answer = Outcome[PurchaseRecorded] | Outcome[ReturnRecorded]
RowResult = Callable[[int, Answer | None, LoyaltyError | str | None], None]


def import_purchases(ctx: Context, rows: Iterable[Row], *, batch_size: int = 1000,
                     stop_on_error: bool = False,
                     on_batch: Callable[[ImportReport], None] | None = None,
                     on_row: RowResult | None = None) -> ImportReport:
    """Record every purchase and return of ``rows`` (line number, command or the reason it is
    unreadable); ``on_row`` hears each row's outcome, or its error."""
    report = ImportReport()
    with ReadAhead(_prepared(rows) if not stop_on_error else _as_read(rows),
                   batch_size) as ahead:
        while batch := ahead.batch():
            batch_ = _Batch(report, on_row, stop_on_error)
            with ctx.uow() as uow:
                batch_.run(uow, batch, ctx.clock.now(), ctx.future_tolerance)
                with ahead.meanwhile():  # the next batch is parsed while this one commits
                    uow.commit()
            if on_batch is not None:
                on_batch(report)
            if report.stopped_at is not None:
                break
    return report


def _prepared(rows: Iterable[Row]) -> Iterator[Prepared]:
    """Each row, with the checks that do not read the clock made for the purchases the
    set-based lane may take (in the read-ahead thread, while the previous batch commits)."""
    for line, row in rows:
        if _set_based(row):
            command = in_utc(row)
            try:
                yield line, command, settled(command)
            except LoyaltyError as error:
                yield line, command, error
        else:
            yield line, row, None


def _as_read(rows: Iterable[Row]) -> Iterator[Prepared]:
    return ((line, row, None) for line, row in rows)


def _set_based(row: Command | str) -> TypeGuard[RecordPurchase]:
    """Whether the set-based lane may take ``row`` (if its member and program let it)."""
    return isinstance(row, RecordPurchase) and not row.points_to_burn \
        and row.request_key is None


class _Stop(Exception):
    pass


@dataclass
class _Batch:
    report: ImportReport
    on_row: RowResult | None
    stop_on_error: bool

    # -- outcomes ---------------------------------------------------------------------------

    def rejected(self, line: int, error: LoyaltyError | str) -> None:
        if isinstance(error, str):
            problem = error
        else:
            problem = f"{error.field}: {error.detail}" if error.field else error.detail
        self.report.rejected += 1
        self.report.problems.append((line, problem))
        if self.on_row is not None:
            self.on_row(line, None, error)
        if self.stop_on_error:
            self.report.stopped_at = line
            raise _Stop

    def answered(self, line: int, outcome: Answer) -> None:
        if outcome.replayed:
            self.report.duplicates += 1
        else:
            self.report.imported += 1
            if isinstance(outcome.result, ReturnRecorded):
                self.report.returns += 1
        if self.on_row is not None:
            self.on_row(line, outcome, None)

    # -- the batch --------------------------------------------------------------------------

    def run(self, uow: Any, rows: list[Prepared], now: datetime, tolerance: timedelta
            ) -> None:
        try:
            if self.stop_on_error:  # strictly in file order, row by row
                self.one_by_one(uow, [(line, row) for line, row, _ in rows], now, tolerance)
            else:
                slow = self.set_based(uow, rows, now, tolerance)
                self.one_by_one(uow, slow, now, tolerance)
        except _Stop:
            pass

    def one_by_one(self, uow: Any, rows: Iterable[Row], now: datetime,
                   tolerance: timedelta) -> None:
        for line, row in rows:
            if isinstance(row, str):
                self.rejected(line, row)
                continue
            savepoint = uow.session.begin_nested()
            try:
                if isinstance(row, ImportReturn):
                    outcome: Answer = record_return_in(uow, _return_command(uow, row), now,
                                                       tolerance)
                else:
                    outcome = record_purchase_in(uow, row, now, tolerance)
            except LoyaltyError as error:
                savepoint.rollback()
                self.rejected(line, error)
            else:
                savepoint.commit()
                self.answered(line, outcome)

    def set_based(self, uow: Any, rows: list[Prepared], now: datetime, tolerance: timedelta
                  ) -> list[Row]:
        """Write the batch's plain purchases in a few statements; return the other rows."""
        slow: list[Row] = []
        candidates: list[_Candidate] = []
        for line, row, settled_ in rows:
            if isinstance(row, str):
                self.rejected(line, row)
            elif settled_ is not None:
                try:
                    candidates.append(_Candidate.of(line, row, settled_, now, tolerance))
                except LoyaltyError as error:
                    self.rejected(line, error)
            else:
                slow.append((line, row))
        if not candidates:
            return slow
        try:
            program = uow.programs.get(candidates[0].command.program_id)
        except LoyaltyError:  # no such program: each row is refused as the use case refuses it
            return sorted(slow + [(c.line, c.command) for c in candidates],
                          key=lambda row: row[0])
        candidates, repeated, again = self.new_ones(uow, program.id, candidates)
        slow += repeated
        candidates = [c for c in candidates if self.right_currency(c, program.currency)]
        members = self.resolve_members(uow, program.id, candidates)
        # A member a row-by-row row writes to has all its rows of the batch posted row by row,
        # in file order: a burn, a return or a debt sees the earlier purchases, not the later.
        crossed = self.members_of(uow, program.id, slow, candidates, members)
        slow += again
        states = uow.bulk.lock_members(program.id, sorted(set(members.values())))
        versions = uow.bulk.versions(program.id)
        planned: list[_Candidate] = []
        later: set[str] = set()
        for candidate in candidates:
            member_id = members.get(candidate.line)
            if member_id is None:
                continue
            state = states.get(member_id)
            if state is None:
                self.rejected(candidate.line, MemberNotFound(
                    f"there is no member {member_id!r} in this program", field="member"))
                continue
            if state.status == MemberStatus.CLOSED.value:
                self.rejected(candidate.line, MemberNotActive(
                    "a closed member no longer earns points", member_status=state.status))
                continue
            compiled = _compiled_at(uow, program, versions, candidate.command.occurred_at)
            if compiled is None or state.debt or compiled.purchases_read_history \
                    or member_id in crossed:
                later.add(member_id)
            candidate.member_id, candidate.compiled = member_id, compiled
            planned.append(candidate)
        fast = [c for c in planned if c.member_id not in later]
        slow_planned = [(c.line, c.command) for c in planned if c.member_id in later]
        if fast:
            savepoint = uow.session.begin_nested()
            try:
                outcomes = _write(uow, program, fast, states, now)
            except IntegrityError:  # a concurrent import of the same rows: row by row decides
                savepoint.rollback()
                slow_planned += [(c.line, c.command) for c in fast]
            else:
                savepoint.commit()
                for candidate, outcome in zip(fast, outcomes, strict=True):
                    self.answered(candidate.line, outcome)
        return sorted(slow_planned + slow, key=lambda row: row[0])

    def new_ones(self, uow: Any, program_id: str, candidates: list[_Candidate]
                 ) -> tuple[list[_Candidate], list[Row], list[Row]]:
        """Answer the rows whose key was already used (a duplicate, or a conflict); a key
        repeated within the batch goes to the row-by-row path, after the first: with other
        content (it may be written, if the first is not), or the same (it never is)."""
        known = uow.bulk.known_keys(program_id, sorted({c.key for c in candidates}))
        seen: dict[str, str] = {}  # key -> fingerprint of its first row
        fresh: list[_Candidate] = []
        repeated: list[Row] = []
        again: list[Row] = []
        for candidate in candidates:
            if candidate.key in known:
                fingerprint_then, result = known[candidate.key]
                try:
                    check_replay(candidate.key, candidate.fingerprint, fingerprint_then, result)
                except LoyaltyError as error:
                    self.rejected(candidate.line, error)
                else:
                    self.answered(candidate.line, Outcome(load(PurchaseRecorded, result),
                                                          replayed=True))
            elif candidate.key in seen:
                same = seen[candidate.key] == candidate.fingerprint
                (again if same else repeated).append((candidate.line, candidate.command))
            else:
                seen[candidate.key] = candidate.fingerprint
                fresh.append(candidate)
        return fresh, repeated, again

    def right_currency(self, candidate: _Candidate, currency: str) -> bool:
        if candidate.command.currency == currency:
            return True
        self.rejected(candidate.line, CurrencyMismatch(
            f"this program runs in {currency}, not {candidate.command.currency}",
            field="currency"))
        return False

    def members_of(self, uow: Any, program_id: str, slow: list[Row],
                   candidates: list[_Candidate], members: dict[int, str]) -> set[str]:
        """The members the row-by-row rows may write to, as far as can be told before they
        run: the member a purchase names, the member of the purchase a return names (recorded
        earlier, or a purchase of this batch)."""
        commands = [row for _, row in slow if not isinstance(row, str)]
        refs = [row.member for row in commands if isinstance(row, RecordPurchase)]
        found = {ref.member_id for ref in refs if ref.member_id is not None}
        identities = {(ref.identity.kind.value, ref.identity.value) for ref in refs
                      if ref.identity is not None}
        if identities:
            found.update(uow.bulk.members_by_identity(program_id, identities).values())
        returned = {(row.purchase_source, row.purchase_external_id) for row in commands
                    if isinstance(row, ImportReturn)}
        if returned:
            found.update(uow.bulk.purchase_members(program_id, returned).values())
            found.update(members[c.line] for c in candidates if c.line in members
                         and (c.command.source, c.command.external_id) in returned)
        return found

    def resolve_members(self, uow: Any, program_id: str, candidates: list[_Candidate]
                        ) -> dict[int, str]:
        """line -> member id, for the rows whose member is found."""
        identities = {(c.command.member.identity.kind.value, c.command.member.identity.value)
                      for c in candidates if c.command.member.identity is not None}
        found = uow.bulk.members_by_identity(program_id, identities)
        members: dict[int, str] = {}
        for candidate in candidates:
            ref = candidate.command.member
            if ref.identity is None:
                assert ref.member_id is not None
                members[candidate.line] = ref.member_id
                continue
            member_id = found.get((ref.identity.kind.value, ref.identity.value))
            if member_id is None:
                self.rejected(candidate.line, MemberNotFound(
                    f"no member of this program has the identity {ref.identity}",
                    field="member"))
            else:
                members[candidate.line] = member_id
        return members


@dataclass
class _Candidate:
    line: int
    command: RecordPurchase
    basket: Basket
    key: str
    fingerprint: str
    member_id: str = ""
    compiled: CompiledProgram | None = None

    @classmethod
    def of(cls, line: int, command: Command, settled_: Settled, now: datetime,
           tolerance: timedelta) -> _Candidate:
        """The checks the posting use case makes before it touches the database (``checked``),
        in its order: the clock's, then the others', made already (``_prepared``)."""
        assert isinstance(command, RecordPurchase)  # a purchase in UTC, from ``_prepared``
        not_in_future(command.occurred_at, now, tolerance)
        if isinstance(settled_, LoyaltyError):
            raise settled_
        command, basket, (key, print_) = settled_
        return cls(line, command, basket, key, print_)


def _compiled_at(uow: Any, program: Any, versions: list[tuple[int, datetime, datetime | None]],
                 at: datetime) -> CompiledProgram | None:
    """The version in force at ``at`` (the newest whose effective date has come)."""
    for version, published_at, effective_from in versions:
        if effective_from is None or effective_from <= at:
            return uow.programs.compiled(program, version, published_at)  # type: ignore[no-any-return]
    return None


def _write(uow: Any, program: Any, fast: list[_Candidate], states: dict[str, Any],
           now: datetime) -> list[Outcome[PurchaseRecorded]]:
    """Evaluate and write the set-based rows: what ``record_purchase_in`` writes, row for row."""
    balances = {m: [s.available, s.pending, s.last_activity_at] for m, s in states.items()}
    touched: dict[str, list[Any]] = {}
    posts: list[PlainPosting] = []
    for candidate in fast:
        assert candidate.compiled is not None
        state = states[candidate.member_id]
        posted = plain_rows(program, candidate.compiled, candidate.command, candidate.basket,
                            candidate.member_id, state.status, state.attributes,
                            state.enrolled_at, [(candidate.key, candidate.fingerprint)],
                            balances[candidate.member_id], now)
        posts.append(posted)
        if posted.points:
            change = touched.setdefault(candidate.member_id, [0, 0, 0])
            change[1 if posted.pending else 0] += posted.points
            change[2] += posted.points
    earning = [posted for posted in posts if posted.points]
    for posted, lot_id, entry_id in zip(earning, uow.bulk.lot_ids(len(earning)),
                                        uow.bulk.entry_ids(len(earning)), strict=True):
        posted.number(lot_id, entry_id)
    uow.bulk.write(
        purchases=[posted.purchase for posted in posts],
        lots=[lot for posted in earning for lot in posted.lots],
        entries=[entry for posted in earning for entry in posted.entries],
        keys=[key for posted in posts for key in posted.keys],
        events=[event for posted in earning for event in posted.events],
        balances=[{"m": m, "d_available": a, "d_pending": p, "d_earned": e, "at": now,
                   "activity_at": balances[m][2]} for m, (a, p, e) in touched.items()],
    )
    return [Outcome(posted.result) for posted in posts]


def _return_command(uow: Any, row: ImportReturn) -> RecordReturn:
    purchase_id = uow.bulk.purchase_id(row.program_id, row.purchase_source,
                                       row.purchase_external_id)
    if purchase_id is None:
        raise PurchaseNotFound(f"there is no purchase {row.purchase_external_id!r} from "
                               f"{row.purchase_source!r}", field="purchase")
    return RecordReturn(program_id=row.program_id, purchase_id=purchase_id,
                        external_id=row.external_id, occurred_at=row.occurred_at,
                        lines=row.lines, amount=row.amount, currency=row.currency)

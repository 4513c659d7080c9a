"""Recording a purchase: the checkout's hot path.

One transaction: claim the purchase's idempotency keys, read the member's status, evaluate the
earn seam, insert the purchase, append the earn entry and its lot, update the summary row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from loyalty.domain.basket import Basket, PurchaseLine
from loyalty.domain.business_events import points_earned, points_redeemed
from loyalty.domain.errors import CurrencyMismatch, InvalidRequest, MemberNotActive, MemberNotFound
from loyalty.domain.ledger import (
    Balance,
    BalanceChange,
    EntryKind,
    LotStatus,
    NewEntry,
    allocate_fefo,
)
from loyalty.domain.members import MemberStatus, new_id
from loyalty.domain.money import currency_exponent, format_minor
from loyalty.domain.rewards import Burn, burn_value
from loyalty.domain.time import utc
from loyalty.rules.engine import CompiledProgram, MemberFacts
from loyalty.rules.program import Program
from loyalty.services.context import Context
from loyalty.services.earning import member_facts, write_earn
from loyalty.services.idempotency import (
    IdempotencyKey,
    Outcome,
    claim,
    claims,
    dump_text,
    fingerprint,
    remember,
    serialisable,
)
from loyalty.services.ledger_writes import spendable_lots
from loyalty.services.members import MemberRef, resolve_member_id
from loyalty.services.tiers import after_purchase, qualify_purchase


@dataclass(frozen=True)
class DeclaredTotals:
    """Totals as the checkout computed them; when given, they must match the lines."""

    total: int | None = None
    tax: int | None = None
    discount: int | None = None


@dataclass(frozen=True)
class RecordPurchase:
    program_id: str
    member: MemberRef
    external_id: str
    occurred_at: datetime
    currency: str
    lines: tuple[PurchaseLine, ...]
    source: str = "default"
    channel: str = "pos"
    store: str | None = None
    shipping: int = 0
    totals: DeclaredTotals = DeclaredTotals()
    promo_codes: tuple[str, ...] = ()
    paid_with_gift_cards: int = 0
    points_to_burn: int = 0  # points the member pays with, at the till
    request_key: IdempotencyKey | None = None


@dataclass(frozen=True)
class BalanceSnapshot:
    available: int
    pending: int


@dataclass(frozen=True)
class PurchaseRecorded:
    purchase_id: str
    member_id: str
    external_id: str
    source: str
    occurred_at: datetime
    currency: str
    total: str
    earn_base: str
    points_earned: int
    points_available: int
    points_pending: int
    available_at: datetime | None
    expires_at: datetime | None
    program_version: int | None
    explanation: tuple[dict[str, object], ...]
    balance: BalanceSnapshot
    tier: str | None = None  # the member's tier after this purchase (programs with tiers)
    upgraded_from: str | None = None  # set when this purchase crossed a threshold
    points_burned: int = 0
    burn_value: str | None = None  # what the burned points took off the basket


def record_purchase(ctx: Context, command: RecordPurchase) -> Outcome[PurchaseRecorded]:
    """Record a purchase and earn its points, in one transaction: a plain purchase in the
    plain lane (``post_plain``), any other in the general one."""
    now = ctx.clock.now()
    command, basket, natural = checked(command, now, ctx.future_tolerance)
    with ctx.uow() as uow:
        try:
            outcome = post_plain(uow, command, basket, natural, now)
            if outcome is not None:
                uow.commit()
                return outcome
        except IntegrityError:
            # PostgreSQL: a concurrent posting of the same purchase (or Idempotency-Key)
            # committed between the plain lane's read and its writes. The general use case,
            # in a new transaction, replays its answer.
            pass
        uow.rollback()  # the plain lane wrote nothing; its read goes with it
        outcome = _record_checked(uow, command, basket, natural, now)
        if not outcome.replayed:
            uow.commit()
    return outcome


def record_purchases(ctx: Context, commands: Sequence[RecordPurchase]
                     ) -> list[Outcome[PurchaseRecorded] | Exception]:
    """Record several purchases, each answered as ``record_purchase`` answers it alone (its
    outcome, or the error it raises): the plain ones in one transaction (group commit), the
    others one by one after it, in the order given. The rows and answers are those of posting
    them one by one in that order (the group's, then the others'); the purchases of a group
    reach the worker at the same moment, so no order among them was promised.

    The API's worker posts the purchases that reach it at the same moment together: one
    transaction costs the database one commit and one round trip for all of them. A purchase
    goes one by one, after the group's commit, when it is not plain (``post_plain``), when its
    member or one of its keys is another purchase's of the group, or when the group fails as a
    whole (a unique key a concurrent transaction took first, a deadlock): the group's
    transaction then writes nothing, and each is posted alone."""
    if len(commands) < 2:  # a group of one is a posting alone
        return [_recorded(ctx, command) for command in commands]
    now = ctx.clock.now()
    answers: list[Outcome[PurchaseRecorded] | Exception | None] = [None] * len(commands)
    group: list[tuple[int, RecordPurchase, Basket, list[tuple[str, str]]]] = []
    members: set[Any] = set()
    taken: set[str] = set()
    for n, command in enumerate(commands):
        try:
            command, basket, natural = checked(command, now, ctx.future_tolerance)
        except Exception as error:  # the purchase's own answer
            answers[n] = error
            continue
        keys = claims(natural, command.request_key)
        member = (command.program_id, command.member)
        if command.points_to_burn or member in members or taken.intersection(
                key for key, _ in keys):
            continue
        members.add(member)
        taken.update(key for key, _ in keys)
        group.append((n, command, basket, keys))
    if len(group) > 1:
        group.sort(key=lambda posting: _member_order(posting[1].member))
        try:
            for n, outcome in _post_group(ctx, group, now):
                answers[n] = outcome
        except Exception:  # it wrote nothing: each is posted alone below
            pass
    return [_recorded(ctx, command) if answer is None else answer
            for command, answer in zip(commands, answers, strict=True)]


def _recorded(ctx: Context, command: RecordPurchase) -> Outcome[PurchaseRecorded] | Exception:
    """``record_purchase``'s outcome, or the error it raised."""
    try:
        return record_purchase(ctx, command)
    except Exception as error:  # the purchase's own answer
        return error


def _member_order(member: MemberRef) -> tuple[bool, str]:
    """Members by id first, in id order (two groups lock their members in the same order)."""
    if member.member_id is not None:
        return False, member.member_id
    assert member.identity is not None
    return True, f"{member.identity.kind.value}:{member.identity.value}"


def _post_group(ctx: Context, group: list[tuple[int, RecordPurchase, Basket,
                                                list[tuple[str, str]]]], now: datetime
                ) -> list[tuple[int, Outcome[PurchaseRecorded]]]:
    """Post the group's plain purchases in one transaction, as ``post_plain`` posts each: the
    index and outcome of each it posted. The others' claims are given back."""
    with ctx.uow() as uow:
        repo = uow.plain
        states = repo.plain_states([(command.program_id, command.member, keys,
                                     command.occurred_at) for _, command, _, keys in group], now)
        members: set[str] = set()
        postings: list[tuple[int, PlainPosting, list[dict[str, Any]]]] = []
        for (n, command, basket, keys), (state, claimed) in zip(group, states, strict=True):
            posting = None if state is None or state.member_id in members else \
                _plain_posting(repo, command, basket, keys, state, now)
            if posting is None:
                repo.release(command.program_id, claimed)  # posted alone, after the group
                continue
            members.add(posting[0].result.member_id)
            postings.append((n, *posting))
        if postings:
            repo.write(**_table_rows([posting[1:] for posting in postings]))
        uow.commit()
    return [(n, Outcome(posting.result)) for n, posting, _ in postings]


def record_purchase_in(uow: Any, command: RecordPurchase, now: datetime,
                       future_tolerance: timedelta) -> Outcome[PurchaseRecorded]:
    """Record a purchase within the caller's unit of work, without committing: the bulk
    importer runs many in one transaction, each in its own savepoint."""
    return _record_checked(uow, *checked(command, now, future_tolerance), now)


def _record_checked(uow: Any, command: RecordPurchase, basket: Basket,
                    natural: tuple[str, str], now: datetime) -> Outcome[PurchaseRecorded]:
    """The general use case, for a command that passed ``checked``."""
    program = uow.programs.get(command.program_id)
    keys, replay = claim(uow, program.id, natural, command.request_key, PurchaseRecorded,
                         now)
    if replay is not None:
        return replay
    if command.currency != program.currency:
        raise CurrencyMismatch(
            f"this program runs in {program.currency}, not {command.currency}",
            field="currency",
        )
    member_id = resolve_member_id(uow, program.id, command.member)
    profile = uow.members.facts_row(program.id, member_id)
    if profile is None:
        raise MemberNotFound(
            f"there is no member {member_id!r} in this program", field="member"
        )
    status, attributes, enrolled_at = profile
    if status is MemberStatus.CLOSED:
        raise MemberNotActive("a closed member no longer earns points",
                              member_status=status.value)
    compiled = uow.programs.compiled_at(program, command.occurred_at)
    purchase_id = new_id("pur")
    burn = allocations = None
    if command.points_to_burn:
        burn, allocations = _burn(uow, program, member_id, status, basket, command, now)
        basket = replace(basket, paid_with_points=burn.value)
    facts = member_facts(uow, program, compiled, member_id, command.occurred_at,
                         status=status.value, attributes=attributes, enrolled_at=enrolled_at)
    qualified = None
    if compiled.ladder is not None:
        qualified = qualify_purchase(uow, program, compiled, member_id, enrolled_at, basket,
                                     facts, now)
        evaluation = qualified.evaluation
    else:
        evaluation = compiled.evaluate_purchase(basket, facts)
    uow.purchases.add(
        id=purchase_id,
        program_id=program.id,
        member_id=member_id,
        source=command.source,
        external_id=command.external_id,
        occurred_at=command.occurred_at,
        recorded_at=now,
        channel=command.channel,
        store=command.store,
        currency=command.currency,
        total=basket.total,
        tax=basket.tax,
        discount=basket.discount,
        shipping=basket.shipping,
        earn_base=evaluation.earn_base,
        points_earned=evaluation.points,
        lines=[line_json(line) for line in basket.lines],
        promo_codes=list(basket.promo_codes),
        paid_with_gift_cards=basket.paid_with_gift_cards,
        paid_with_points=basket.paid_with_points,
        points_burned=burn.points if burn else 0,
    )
    if burn is not None:
        _write_burn(uow, program, member_id, burn, allocations, command, purchase_id, now)
    earned = write_earn(uow, program, compiled, member_id, evaluation,
                        occurred_at=command.occurred_at, now=now,
                        reason=f"earned {evaluation.points} on order {command.external_id}",
                        purchase_id=purchase_id)
    pending = earned.pending
    if qualified is not None:
        after_purchase(uow, program, compiled, member_id, qualified,
                       occurred_at=command.occurred_at, now=now, purchase_id=purchase_id)
    result = PurchaseRecorded(
        purchase_id=purchase_id,
        member_id=member_id,
        external_id=command.external_id,
        source=command.source,
        occurred_at=command.occurred_at,
        currency=command.currency,
        total=format_minor(basket.total, basket.currency),
        earn_base=format_minor(evaluation.earn_base, basket.currency),
        points_earned=evaluation.points,
        points_available=0 if pending else evaluation.points,
        points_pending=evaluation.points if pending else 0,
        available_at=earned.available_at,
        expires_at=earned.expires_at,
        program_version=compiled.version,
        explanation=evaluation.explanation(),
        balance=BalanceSnapshot(*_balance_now(uow, member_id, earned.balance, qualified)),
        tier=qualified.after.id if qualified else None,
        upgraded_from=(qualified.before.id if qualified and
                       qualified.after.rank > qualified.before.rank else None),
        points_burned=burn.points if burn else 0,
        burn_value=format_minor(burn.value, basket.currency) if burn else None,
    )
    remember(uow, program.id, keys, result)
    return Outcome(result)


def checked(command: RecordPurchase, now: datetime, future_tolerance: timedelta
            ) -> tuple[RecordPurchase, Basket, tuple[str, str]]:
    """The checks made before the database is touched: the command (its instant in UTC), its
    basket, and its natural idempotency key with the command's fingerprint."""
    command = in_utc(command)
    not_in_future(command.occurred_at, now, future_tolerance)
    return settled(command)


def in_utc(command: RecordPurchase) -> RecordPurchase:
    if command.occurred_at.tzinfo is UTC:
        return command
    return replace(command, occurred_at=utc(command.occurred_at))


def not_in_future(occurred_at: datetime, now: datetime, future_tolerance: timedelta) -> None:
    if occurred_at > now + future_tolerance:
        raise InvalidRequest("occurred_at is in the future", field="occurred_at")


def settled(command: RecordPurchase) -> tuple[RecordPurchase, Basket, tuple[str, str]]:
    """The checks of ``checked`` that do not read the clock, for a command in UTC (``in_utc``):
    the bulk importer makes them while the previous batch commits."""
    basket = Basket(
        currency=command.currency,
        occurred_at=command.occurred_at,
        lines=command.lines,
        shipping=command.shipping,
        channel=command.channel,
        store=command.store,
        promo_codes=command.promo_codes,
        paid_with_gift_cards=command.paid_with_gift_cards,
    )
    check_totals(basket, command.totals)
    natural = (f"purchase:{command.source}:{command.external_id}", fingerprint(
        command if command.request_key is None else replace(command, request_key=None)))
    return command, basket, natural


# -- the plain lane ---------------------------------------------------------------------------


def post_plain(uow: Any, command: RecordPurchase, basket: Basket, natural: tuple[str, str],
               now: datetime) -> Outcome[PurchaseRecorded] | None:
    """Record a plain purchase in one read and one round of writes, or answer None when it
    is not plain and the general use case must post it.

    Plain: it burns no points, its keys were never used, its member is not closed and owes
    no debt, and the rules of the version in force read nothing of the member's past
    (``CompiledProgram.purchases_read_history``). The command has passed ``checked``. The one
    read locks the member's summary row (PostgreSQL) and reserves the lot's and the entry's
    ids; the writes are the rows ``record_purchase_in`` writes, row for row (a test compares
    the two lanes' tables)."""
    if command.points_to_burn:
        return None
    keys = claims(natural, command.request_key)
    state = uow.plain.plain_state(command.program_id, command.member, keys,
                                  command.occurred_at, now)
    posting = _plain_posting(uow.plain, command, basket, keys, state, now)
    if posting is None:
        return None
    uow.plain.write(**_table_rows([posting]))
    return Outcome(posting[0].result)


def _plain_posting(repo: Any, command: RecordPurchase, basket: Basket,
                   keys: list[tuple[str, str]], state: Any, now: datetime
                   ) -> tuple[PlainPosting, list[dict[str, Any]]] | None:
    """The rows of a plain purchase posted from ``state`` (``PlainRepository.plain_state``)
    and the member's summary change (none when it earns nothing), or None when the purchase
    is not plain."""
    if state is None or state.claimed or state.debt or state.version is None \
            or state.status == MemberStatus.CLOSED.value or state.currency != command.currency:
        return None
    compiled = repo.compiled(command.program_id, state.version, state.published_at)
    if compiled is None or compiled.purchases_read_history:
        return None
    program = Program(command.program_id, state.name, state.currency, state.time_zone)
    balance = [state.available, state.pending, state.last_activity_at]
    posting = plain_rows(program, compiled, command, basket, state.member_id, state.status,
                         state.attributes, state.enrolled_at, keys, balance, now)
    posting.number(state.lot_id, state.entry_id)
    return posting, [posting.balance_change(balance[2], now)] if posting.points else []


def _table_rows(postings: list[tuple[PlainPosting, list[dict[str, Any]]]]
                ) -> dict[str, list[dict[str, Any]]]:
    """The rows of plain postings, table by table, for ``PlainRepository.write``."""
    rows: dict[str, list[dict[str, Any]]] = {
        "purchases": [], "lots": [], "entries": [], "keys": [], "events": [], "balances": []}
    for posting, balances in postings:
        rows["purchases"].append(posting.purchase)
        rows["lots"] += posting.lots
        rows["entries"] += posting.entries
        rows["keys"] += posting.keys
        rows["events"] += posting.events
        rows["balances"] += balances
    return rows


@dataclass
class PlainPosting:
    """The rows a plain purchase writes, and its answer (the lot and entry ids are set by
    ``number``, once known)."""

    purchase: dict[str, Any]
    lots: list[dict[str, Any]]
    entries: list[dict[str, Any]]
    events: list[dict[str, Any]]
    keys: list[dict[str, Any]]
    result: PurchaseRecorded
    points: int
    pending: bool

    def number(self, lot_id: int, entry_id: int) -> None:
        for lot, entry, event in zip(self.lots, self.entries, self.events, strict=True):
            lot["id"] = entry["lot_id"] = lot_id
            entry["id"] = event["payload"]["entry_id"] = entry_id

    def balance_change(self, activity_at: datetime | None, now: datetime) -> dict[str, Any]:
        return {"m": self.result.member_id, "d_available": 0 if self.pending else self.points,
                "d_pending": self.points if self.pending else 0, "d_earned": self.points,
                "at": now, "activity_at": activity_at}


def plain_rows(program: Program, compiled: CompiledProgram, command: RecordPurchase,
               basket: Basket, member_id: str, status: str, attributes: dict[str, Any],
               enrolled_at: datetime, keys: list[tuple[str, str]], balance: list[Any],
               now: datetime) -> PlainPosting:
    """Evaluate a plain purchase and build its rows: the purchase, the earn's lot, entry and
    outbox event (when it earns), and its idempotency records with the answer. ``balance``
    ([available, pending, last activity]) is the member's before, and is moved on."""
    facts = MemberFacts(tier=None, status=status, attributes=attributes,
                        enrolled_at=enrolled_at)
    evaluation = compiled.evaluate_purchase(basket, facts)
    settings = compiled.definition.settings
    occurred_at = command.occurred_at
    available_at = settings.pending.available_at(occurred_at)
    if available_at is not None and available_at <= now:
        available_at = None  # posted after its return window closed
    expires_at = settings.expiry.expires_at(occurred_at, program.tz)
    points = evaluation.points
    pending = available_at is not None
    purchase_id = new_id("pur")
    explanation = evaluation.explanation()
    purchase = {
        "id": purchase_id, "program_id": program.id, "member_id": member_id,
        "source": command.source, "external_id": command.external_id,
        "occurred_at": occurred_at, "recorded_at": now, "channel": command.channel,
        "store": command.store, "currency": command.currency, "total": basket.total,
        "tax": basket.tax, "discount": basket.discount, "shipping": basket.shipping,
        "earn_base": evaluation.earn_base, "points_earned": points,
        "lines": [line_json(line) for line in basket.lines],
        "promo_codes": list(basket.promo_codes),
        "paid_with_gift_cards": basket.paid_with_gift_cards, "paid_with_points": 0,
        "points_burned": 0,
    }
    lots, entries, events = [], [], []
    if points > 0:
        applied = evaluation.applied
        rules = [result.rule_id for result in applied]
        reason = f"earned {points} on order {command.external_id}"
        lots.append({
            "program_id": program.id, "member_id": member_id, "purchase_id": purchase_id,
            "points": points, "remaining": points,
            "status": (LotStatus.PENDING if pending else LotStatus.AVAILABLE).value,
            "earned_at": occurred_at, "available_at": available_at, "expires_at": expires_at,
        })
        entries.append({
            "program_id": program.id, "member_id": member_id,
            "kind": (EntryKind.PENDING_EARN if pending else EntryKind.EARN).value,
            "points": points, "available_delta": 0 if pending else points,
            "pending_delta": points if pending else 0, "occurred_at": occurred_at,
            "recorded_at": now, "reason": reason, "purchase_id": purchase_id, "lot_id": None,
            "external_ref": None, "rule_id": rules[0] if len(rules) == 1 else None,
            "rule_version": evaluation.version, "rules": rules, "event_id": None,
            "actor": None, "approved_by": None, "explanation": list(explanation),
        })
        balance[1 if pending else 0] += points
        if balance[2] is None or occurred_at > balance[2]:
            balance[2] = occurred_at
        # The outbox row ``write_earn`` emits; its entry id is set by ``number``.
        events.append(points_earned(
            program_id=program.id, member_id=member_id, occurred_at=occurred_at,
            recorded_at=now, points=points, pending=pending, entry_id=0,
            balance=Balance(balance[0], balance[1]), reason=reason, purchase_id=purchase_id,
            available_at=available_at, expires_at=expires_at,
            program_version=evaluation.version, rules=rules))
    result = PurchaseRecorded(
        purchase_id=purchase_id, member_id=member_id, external_id=command.external_id,
        source=command.source, occurred_at=occurred_at, currency=command.currency,
        total=format_minor(basket.total, basket.currency),
        earn_base=format_minor(evaluation.earn_base, basket.currency),
        points_earned=points, points_available=0 if pending else points,
        points_pending=points if pending else 0,
        available_at=available_at if points > 0 else None,
        expires_at=expires_at if points > 0 else None,
        program_version=compiled.version, explanation=explanation,
        balance=BalanceSnapshot(balance[0], balance[1]),
    )
    answer = dump_text(result)
    return PlainPosting(
        purchase, lots, entries, events,
        [{"program_id": program.id, "key": key, "fingerprint": print_, "result": answer,
          "created_at": now} for key, print_ in keys],
        result, points, pending)


def _balance_now(uow: Any, member_id: str, balance: Any, qualified: Any) -> tuple[int, int]:
    """The balance after the purchase (its burn, its earn and any tier bonus it brought)."""
    if qualified is not None and qualified.after.rank > qualified.before.rank:
        balance = uow.ledger.balance(member_id)  # a tier bonus came after the earn
    return balance.available, balance.pending


def _burn(uow: Any, program: Any, member_id: str, status: MemberStatus, basket: Basket,
          command: RecordPurchase, now: datetime) -> tuple[Burn, Any]:
    """Pay part of the basket with points, in the purchase's transaction: the member is
    locked, expired points written off, the program's redemption settings checked, and the
    points taken from the soonest-expiring lots."""
    if status is not MemberStatus.ACTIVE:
        raise MemberNotActive(f"a {status.value} member cannot pay with points",
                              member_status=status.value)
    redemption = uow.programs.compiled_at(program, now).definition.settings.redemption
    lots = spendable_lots(uow, program, member_id, now)
    available = sum(lot.remaining for lot in lots if lot.is_spendable(now))
    available -= uow.ledger.debt_of(member_id)
    burn = burn_value(command.points_to_burn, point_value=redemption.point_value,
                      exponent=currency_exponent(basket.currency), minimum=redemption.minimum,
                      step=redemption.step, max_share=redemption.max_basket_share,
                      basket_total=basket.total, available=available)
    return burn, allocate_fefo(lots, burn.points, now)


def _write_burn(uow: Any, program: Any, member_id: str, burn: Burn, allocations: Any,
                command: RecordPurchase, purchase_id: str, now: datetime) -> None:
    reason = (f"paid {format_minor(burn.value, command.currency)} {command.currency} with "
              f"{burn.points} points on order {command.external_id}")
    entry_id = uow.ledger.append(program.id, member_id, NewEntry(
        kind=EntryKind.REDEEM, points=-burn.points, available_delta=-burn.points,
        pending_delta=0, occurred_at=now, purchase_id=purchase_id,
        external_ref=command.external_id, reason=reason), now)
    uow.ledger.take_from_lots(entry_id, allocations)
    balance = uow.ledger.apply(member_id, BalanceChange(available=-burn.points,
                                                        lifetime_redeemed=burn.points), now,
                               activity_at=now)
    uow.outbox.emit(**points_redeemed(
        program_id=program.id, member_id=member_id, occurred_at=now, recorded_at=now,
        points=burn.points, entry_id=entry_id, reason=reason, balance=balance,
        purchase_id=purchase_id))


def check_totals(basket: Basket, declared: DeclaredTotals) -> None:
    for name, computed in (
        ("total", basket.total),
        ("tax", basket.tax),
        ("discount", basket.discount),
    ):
        given = getattr(declared, name)
        if given is not None and given != computed:
            raise InvalidRequest(
                f"totals.{name} is {format_minor(given, basket.currency)} but the lines "
                f"add up to {format_minor(computed, basket.currency)}",
                field=f"totals.{name}",
            )
    for index, line in enumerate(basket.lines):
        if line.amount < 0:
            raise InvalidRequest(
                "a line's discount exceeds its price", field=f"lines.{index}.discount"
            )
        if line.tax > line.amount:
            raise InvalidRequest("a line's tax exceeds its amount", field=f"lines.{index}.tax")
    if basket.paid_with_gift_cards > basket.total:
        raise InvalidRequest("more was paid with gift cards than the basket costs",
                             field="payments.gift_cards")


def line_json(line: PurchaseLine) -> dict[str, object]:
    return {
        "sku": line.sku,
        "category": line.category,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "discount": line.discount,
        "tax": line.tax,
        "tags": list(line.tags),
    }


serialisable(RecordPurchase, PurchaseRecorded)

"""The bulk importer's set-based lane ends exactly where posting every row one by one would.

Each scenario opens two twin programs with the same definition and the same members and history:
``bulk`` takes the rows in one batch through ``import_purchases`` (plain purchases in the
set-based lane, the rest row by row), ``single`` takes them one by one through the use cases
(``record_purchase``, ``record_return``). Every row must get the same answer, and the two
programs' tables must then hold the same rows, once ids are named by what they stand for
(``purchase:till-1:A-1``, ``entry:card:10000001:2``): balances, lots, ledger entries and the
lots they took from, purchases, returns, idempotency answers, outbox events, tier and rule
bookkeeping.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from freezegun import freeze_time
from sqlalchemy import select

from api.cli import main
from api.importing import read_rows
from api.schemas import PurchaseRecordedSchema
from loyalty.adapters.orm import (
    Base,
    IdempotencyRecordRow,
    LedgerEntryRow,
    LotRow,
    MemberIdentityRow,
    PurchaseReturnRow,
    PurchaseRow,
)
from loyalty.domain.basket import PurchaseLine
from loyalty.domain.errors import LoyaltyError, PurchaseNotFound
from loyalty.domain.members import Identity, Member
from loyalty.domain.time import utc
from loyalty.services import imports, purchases
from loyalty.services.context import Context
from loyalty.services.desk import Actor, close
from loyalty.services.idempotency import dump, fingerprint
from loyalty.services.imports import ImportReturn, import_purchases
from loyalty.services.members import EnrollMember, MemberRef, enroll_member
from loyalty.services.points import DebitPoints, debit_points, get_balance
from loyalty.services.programs import CreateProgram, create_program
from loyalty.services.purchases import DeclaredTotals, RecordPurchase, record_purchase
from loyalty.services.returns import RecordReturn, record_return
from loyalty.services.verification import verify_ledger

NOW = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)  # a Saturday, in the fashion retailer's denim week
OPENED = NOW - timedelta(days=90)  # the programs are created, the members enrolled
EARLIER = NOW - timedelta(days=60)  # the members' earlier purchases
SETTLED = NOW - timedelta(days=10)  # when those were posted (past any return window)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TIERS = {
    "measure": "spend",
    "window": {"type": "calendar_year"},
    "levels": [
        {"id": "member", "name": "Member", "threshold": "0"},
        {
            "id": "silver",
            "name": "Silver",
            "threshold": "100.00",
            "multiplier": "1.5",
            "bonus_points": 10,
        },
    ],
}
CAPPED = [
    {
        "id": "double",
        "name": "2 points per euro, 60 a day",
        "effect": {"type": "per_currency_unit", "points": "2"},
        "limits": {"per_member": [{"period": "day", "points": 60}]},
    }
]

REGULARS = [  # reads the member's recent purchases
    {
        "id": "base",
        "name": "1 point per euro",
        "effect": {"type": "per_currency_unit", "points": "1"},
    },
    {
        "id": "regulars",
        "name": "A second point per euro for regulars",
        "conditions": {"fact": "member.purchases_last_days", "days": 30, "op": "gte", "value": 2},
        "effect": {"type": "per_currency_unit", "points": "1"},
    },
]


def fashion() -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / "fashion-retailer.yaml").read_text(encoding="utf-8"))


# Each definition, and whether its plain purchases take the set-based lane.
DEFINITIONS: dict[str, tuple[dict[str, Any], bool]] = {
    "plain": ({"settings": {"expiry": {"mode": "after", "period": 12, "unit": "months"}}}, True),
    "fashion-retailer": (fashion(), True),
    "tier-ladder": ({"settings": {}, "tiers": TIERS}, False),
    "capped-rule": ({"settings": {}, "rules": CAPPED}, False),
    "regulars-rule": ({"settings": {}, "rules": REGULARS}, False),
}

PEOPLE = {  # name -> card
    "ada": "card:10000001",  # plain purchases only
    "bob": "card:10000002",  # owes points: a return took back points already spent
    "cy": "card:10000003",  # pays part of a basket with points, between plain purchases
    "dan": "card:10000004",  # closed
    "eve": "card:10000005",  # buys, returns some of it and buys again, in the batch
    "fay": "card:10000006",  # bought before; her purchase is sent again and returned
    "gus": "card:10000007",  # names a key the batch already used, with his own basket
}


# -- the twin programs -------------------------------------------------------------------------


def open_program(ctx: Context, program_id: str, definition: dict[str, Any]) -> dict[str, Member]:
    """The program, its members and their history (as of ``SETTLED``)."""
    with freeze_time(OPENED):
        create_program(
            ctx,
            CreateProgram(
                program_id,
                program_id.title(),
                "EUR",
                "Europe/Paris",
                settings=definition.get("settings") or {},
                rules=definition.get("rules"),
                tiers=definition.get("tiers"),
            ),
        )
        people = {
            name: enroll_member(ctx, EnrollMember(program_id, (Identity.parse(card),))).result
            for name, card in PEOPLE.items()
        }
    with freeze_time(SETTLED):
        for name, amount in (("bob", "100.00"), ("cy", "300.00"), ("fay", "50.00")):
            record_purchase(
                ctx, purchase(program_id, people[name], f"{name}-0", amount, at=EARLIER)
            )
        bought = record_purchase(
            ctx,
            purchase(program_id, people["bob"], "bob-1", "80.00", at=EARLIER + timedelta(days=1)),
        ).result
        debit_points(
            ctx,
            DebitPoints(
                program_id, people["bob"].id, points_of(ctx, program_id, people["bob"]) - 5, "D-bob"
            ),
        )
        record_return(
            ctx, RecordReturn(program_id, bought.purchase_id, "R-bob-1", lines={"SKU-1": 1})
        )
        close(ctx, program_id, people["dan"].id, "moved away", Actor("cli:tests"))
    with freeze_time(NOW - timedelta(days=5)):  # ada shops often: a regular
        for external_id in ("ada-0", "ada-1"):
            record_purchase(
                ctx,
                purchase(
                    program_id,
                    people["ada"],
                    external_id,
                    "8.00",
                    at=NOW - timedelta(days=5, hours=1),
                ),
            )
    return people


def points_of(ctx: Context, program_id: str, member: Member) -> int:
    return get_balance(ctx, program_id, member.id).available


def purchase(
    program_id: str,
    member: Member | str,
    external_id: str,
    amount: str = "10.00",
    *,
    at: datetime | None = None,
    by_id: bool = False,
    **fields: Any,
) -> RecordPurchase:
    """A purchase from till 1, with a pair of shoes (new collection) and a scarf."""
    if isinstance(member, str):
        ref = (
            MemberRef(member_id=member)
            if member.startswith("mem_")
            else MemberRef(identity=Identity.parse(member))
        )
    elif by_id:
        ref = MemberRef(member_id=member.id)
    else:
        ref = MemberRef(identity=Identity.parse(PEOPLE[name_of(member)]))
    units, cents = amount.split(".")
    price = int(units) * 100 + int(cents)
    fields.setdefault(
        "lines",
        (
            PurchaseLine(
                "SKU-1",
                1,
                price - price // 4,
                tax=price // 10,
                category="shoes",
                tags=("new-collection",),
            ),
            PurchaseLine("SCARF", 1, price // 4, category="accessories"),
        ),
    )
    fields = {"currency": "EUR", "source": "till-1", "channel": "pos", "store": "paris-1", **fields}
    return RecordPurchase(
        program_id=program_id,
        member=ref,
        external_id=external_id,
        occurred_at=at or NOW - timedelta(hours=2),
        **fields,
    )


def name_of(member: Member) -> str:
    card = next(str(i) for i in member.identities)
    return next(name for name, c in PEOPLE.items() if c == card)


def the_rows(program_id: str, people: dict[str, Member]) -> list[tuple[int, Any]]:
    """The batch: (line, command or the reason the row could not be read)."""
    ada, bob, cy, dan, eve, fay, gus = (people[name] for name in PEOPLE)
    p = program_id
    rows: list[Any] = [
        purchase(p, ada, "A-1", "25.00"),
        purchase(p, ada, "A-2", "40.00", by_id=True),
        purchase(p, bob, "B-1", "30.00"),  # pays his debt first
        purchase(p, cy, "C-1", "20.00"),
        purchase(p, cy, "C-2", "50.00", points_to_burn=50),
        purchase(p, cy, "C-3", "10.00", by_id=True),  # after the burn
        purchase(p, dan, "D-1"),  # closed
        purchase(p, "card:99999999", "X-1"),  # nobody has this card
        purchase(p, "mem_nobody", "X-2"),  # nor this id
        purchase(p, ada, "A-6", currency="USD"),
        purchase(p, ada, "A-1", "25.00"),  # the same purchase again, in the batch
        purchase(p, gus, "A-2", "15.00"),  # the key of ada's A-2, for another basket
        purchase(p, fay, "fay-0", "50.00", at=EARLIER),  # recorded before: a duplicate
        purchase(p, fay, "fay-0", "55.00", at=EARLIER),  # its key, for another basket
        purchase(p, eve, "E-1", "50.00"),
        ImportReturn(p, "till-1", "E-1", "R-E-1", lines={"SKU-1": 1}),
        purchase(p, eve, "E-2", "20.00", at=NOW - timedelta(hours=1)),
        ImportReturn(p, "till-1", "fay-0", "R-fay-0", amount=1000, currency="EUR"),
        ImportReturn(p, "till-1", "nothing", "R-X"),  # no such purchase (nor lines)
        "not JSON: unexpected character",
        purchase(p, ada, "A-3", at=NOW + timedelta(days=1)),  # in the future
        purchase(p, ada, "A-4", totals=DeclaredTotals(total=1)),  # they do not add up
        purchase(p, ada, "A-5", "12.34", at=NOW - timedelta(hours=3)),
        purchase(p, eve, "E-3", "0.50"),  # too small to earn
    ]
    return list(enumerate(rows, start=1))


# -- posting: in one batch, or one by one --------------------------------------------------------


def answer(outcome: Any, error: Any) -> tuple[Any, ...]:
    if error is None:
        return ("replayed" if outcome.replayed else "recorded", dump(outcome.result))
    if isinstance(error, str):
        return ("unreadable", error)
    return (type(error).__name__, error.field, error.detail)


def in_one_batch(ctx: Context, rows: list[tuple[int, Any]]) -> dict[int, tuple[Any, ...]]:
    answers: dict[int, tuple[Any, ...]] = {}
    import_purchases(
        ctx,
        rows,
        batch_size=len(rows),
        on_row=lambda line, outcome, error: answers.__setitem__(line, answer(outcome, error)),
    )
    return answers


def one_by_one(ctx: Context, rows: list[tuple[int, Any]]) -> dict[int, tuple[Any, ...]]:
    answers: dict[int, tuple[Any, ...]] = {}
    for line, row in rows:
        try:
            if isinstance(row, str):
                answers[line] = answer(None, row)
                continue
            if isinstance(row, ImportReturn):
                outcome: Any = record_return(ctx, as_return(ctx, row))
            else:
                outcome = record_purchase(ctx, row)
        except LoyaltyError as error:
            answers[line] = answer(None, error)
        else:
            answers[line] = answer(outcome, None)
    return answers


def as_return(ctx: Context, row: ImportReturn) -> RecordReturn:
    """The return as the till would post it: ``POST .../purchases/{id}/returns``."""
    with ctx.uow(read_only=True) as uow:
        purchase_id = uow.session.scalar(
            select(PurchaseRow.id).where(
                PurchaseRow.program_id == row.program_id,
                PurchaseRow.source == row.purchase_source,
                PurchaseRow.external_id == row.purchase_external_id,
            )
        )
    if purchase_id is None:  # the till's lookup finds nothing
        raise PurchaseNotFound(
            f"there is no purchase {row.purchase_external_id!r} from {row.purchase_source!r}",
            field="purchase",
        )
    return RecordReturn(
        program_id=row.program_id,
        purchase_id=purchase_id,
        external_id=row.external_id,
        occurred_at=row.occurred_at,
        lines=row.lines,
        amount=row.amount,
        currency=row.currency,
    )


# -- what the database holds, with ids named by what they stand for ------------------------------

TABLES = (
    "members",
    "member_balances",
    "purchases",
    "lots",
    "ledger_entries",
    "lot_movements",
    "idempotency_records",
    "domain_events",
    "purchase_returns",
    "events",
    "rule_awards",
    "rule_budgets",
    "qualifying_activity",
    "member_tiers",
    "tier_changes",
    "redemptions",
)
DROPPED = {"program_id", "fingerprint"}  # fingerprints name the program: checked apart


def names(ctx: Context, program_id: str) -> tuple[dict[str, str], dict[str, dict[int, str]]]:
    """Labels of the program's text ids, and of its serial ids by table."""
    with ctx.uow(read_only=True) as uow:
        s = uow.session
        text: dict[str, str] = {}
        for member_id, kind, value in s.execute(
            select(
                MemberIdentityRow.member_id, MemberIdentityRow.kind, MemberIdentityRow.value
            ).where(MemberIdentityRow.program_id == program_id)
        ):
            text[member_id] = f"member:{kind}:{value}"
        for purchase_id, source, external_id in s.execute(
            select(PurchaseRow.id, PurchaseRow.source, PurchaseRow.external_id).where(
                PurchaseRow.program_id == program_id
            )
        ):
            text[purchase_id] = f"purchase:{source}:{external_id}"
        for return_id, external_id in s.execute(
            select(PurchaseReturnRow.id, PurchaseReturnRow.external_id).where(
                PurchaseReturnRow.program_id == program_id
            )
        ):
            text[return_id] = f"return:{external_id}"
        table = Base.metadata.tables["events"]
        for event_id, external_id in s.execute(
            select(table.c.id, table.c.external_id).where(table.c.program_id == program_id)
        ):
            text[event_id] = f"event:{external_id}"
        serial: dict[str, dict[int, str]] = {}
        for name, row in (("lots", LotRow), ("ledger_entries", LedgerEntryRow)):
            counts: dict[str, int] = {}
            serial[name] = {}
            for row_id, member_id in s.execute(
                select(row.id, row.member_id).where(row.program_id == program_id).order_by(row.id)
            ):
                member = text.get(member_id, member_id)
                counts[member] = counts.get(member, 0) + 1
                serial[name][row_id] = f"{name}:{member}:{counts[member]}"
        events = Base.metadata.tables["domain_events"]
        counts = {}
        serial["domain_events"] = {}
        for row_id, member_id in s.execute(
            select(events.c.id, events.c.member_id)
            .where(events.c.program_id == program_id)
            .order_by(events.c.id)
        ):
            member = text.get(member_id, str(member_id))
            counts[member] = counts.get(member, 0) + 1
            serial["domain_events"][row_id] = f"event:{member}:{counts[member]}"
    return text, serial


SERIAL_COLUMNS = {"lot_id": "lots", "entry_id": "ledger_entries", "entry_ids": "ledger_entries"}
_PUBLIC_ID = re.compile(r"\b[a-z]{3}_[0-9a-z]{26}\b")  # loyalty.domain.members.new_id


def named(
    value: Any, text: dict[str, str], serial: dict[str, dict[int, str]], column: str | None = None
) -> Any:
    if isinstance(value, dict):
        return {k: named(v, text, serial, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [named(v, text, serial, column) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and column in SERIAL_COLUMNS:
        return serial[SERIAL_COLUMNS[column]].get(value, f"unknown {column} {value}")
    if isinstance(value, str):  # an id, or a text naming ids ("purchase pur_...")
        return _PUBLIC_ID.sub(lambda found: text.get(found[0], f"unknown {found[0]}"), value)
    return value


def snapshot(ctx: Context, program_id: str) -> dict[str, list[str]]:
    """Every program row of ``TABLES``, named, sorted."""
    text, serial = names(ctx, program_id)
    found: dict[str, list[str]] = {}
    with ctx.uow(read_only=True) as uow:
        for name in TABLES:
            table = Base.metadata.tables[name]
            if name == "lot_movements":
                entries = Base.metadata.tables["ledger_entries"]
                query = select(table).where(
                    table.c.entry_id.in_(
                        select(entries.c.id).where(entries.c.program_id == program_id)
                    )
                )
            else:
                query = select(table).where(table.c.program_id == program_id)
            rows = []
            for row in uow.session.execute(query).mappings():
                values = {column: value for column, value in row.items() if column not in DROPPED}
                if "id" in values and name in serial:
                    values["id"] = serial[name][values["id"]]
                elif "id" in values and isinstance(values["id"], int):
                    del values["id"]  # a serial id that nothing else names
                rows.append(json.dumps(named(values, text, serial), sort_keys=True, default=str))
            found[name] = sorted(rows)
    return found


def answers_named(
    ctx: Context, program_id: str, answers: dict[int, tuple[Any, ...]]
) -> dict[int, Any]:
    text, serial = names(ctx, program_id)
    return {line: named(list(found), text, serial) for line, found in answers.items()}


def assert_it_ends_as_single(ctx: Context, program_id: str, rows: list[tuple[int, Any]],
                             answers: dict[int, tuple[Any, ...]],
                             single: dict[int, tuple[Any, ...]]) -> dict[str, list[str]]:
    """Every row of ``program_id`` was answered once, as program "single" answered it, the two
    programs' tables hold the same rows, and the ledger verifies: the program's snapshot."""
    assert sorted(answers) == [line for line, _ in rows]
    assert answers_named(ctx, program_id, answers) == answers_named(ctx, "single", single)
    mine, one = snapshot(ctx, program_id), snapshot(ctx, "single")
    for table in TABLES:
        assert mine[table] == one[table], table
    assert verify_ledger(ctx).ok
    return mine


# -- the scenarios -------------------------------------------------------------------------------


@pytest.fixture
def slow_lane(monkeypatch):
    """The external ids of the purchases the importer posts row by row."""
    posted: list[str] = []
    real = imports.record_purchase_in

    def spy(uow, command, now, tolerance):
        posted.append(command.external_id)
        return real(uow, command, now, tolerance)

    monkeypatch.setattr(imports, "record_purchase_in", spy)
    return posted


@pytest.mark.parametrize("definition", list(DEFINITIONS))
def test_a_batch_ends_exactly_as_the_same_rows_posted_one_by_one(ctx, slow_lane, definition):
    document, set_based = DEFINITIONS[definition]
    bulk_people = open_program(ctx, "bulk", document)
    single_people = open_program(ctx, "single", document)
    bulk_rows = the_rows("bulk", bulk_people)
    single_rows = the_rows("single", single_people)

    with freeze_time(NOW):
        in_bulk = in_one_batch(ctx, bulk_rows)
        posted_in_bulk = list(slow_lane)
        single = one_by_one(ctx, single_rows)

    bulk = assert_it_ends_as_single(ctx, "bulk", bulk_rows, in_bulk, single)
    # bob's purchase paid his debt first (where points are not pending for a return window)
    paid = any("paid the debt a return left" in row for row in bulk["ledger_entries"])
    assert paid is (definition != "fashion-retailer")

    outcomes = {line: found[0] for line, found in in_bulk.items()}
    assert [outcomes[line] for line in range(1, len(bulk_rows) + 1)] == [
        "recorded",
        "recorded",
        "recorded",
        "recorded",
        "recorded",
        "recorded",
        "MemberNotActive",
        "MemberNotFound",
        "MemberNotFound",
        "CurrencyMismatch",
        "replayed",
        "IdempotencyKeyReused",
        "replayed",
        "IdempotencyKeyReused",
        "recorded",
        "recorded",
        "recorded",
        "recorded",
        "PurchaseNotFound",
        "unreadable",
        "InvalidRequest",
        "InvalidRequest",
        "recorded",
        "recorded",
    ]
    # The lanes: where the rules allow, ada's purchases are written set-based; the members a
    # debt, a burn, a return or a reused key concerns are posted row by row, in file order
    # (and so are the repeats of a key: A-1's and A-2's).
    row_by_row = ["B-1", "C-1", "C-2", "C-3", "E-1", "E-2", "E-3", "A-1", "A-2"]
    if not set_based:
        row_by_row += ["A-1", "A-2", "A-5"]
    assert Counter(posted_in_bulk) == Counter(row_by_row)


@pytest.mark.parametrize("definition", list(DEFINITIONS))
def test_a_purchase_posted_in_the_plain_lane_writes_what_the_general_lane_writes(
        ctx, monkeypatch, definition):
    """``record_purchase`` posts a plain purchase in one read and one round of writes; the
    same rows posted by the general use case alone leave the same tables."""
    document, plain = DEFINITIONS[definition]
    taken: list[str] = []  # the external ids the plain lane posted
    real = purchases.post_plain

    def lanes(uow, command, *checked):
        if command.program_id == "general":
            return None
        outcome = real(uow, command, *checked)
        if outcome is not None:
            taken.append(command.external_id)
        return outcome

    monkeypatch.setattr(purchases, "post_plain", lanes)
    plain_people = open_program(ctx, "plain", document)
    general_people = open_program(ctx, "general", document)
    with freeze_time(NOW):
        in_plain_lane = one_by_one(ctx, the_rows("plain", plain_people))
        in_general_lane = one_by_one(ctx, the_rows("general", general_people))

    assert answers_named(ctx, "plain", in_plain_lane) == answers_named(
        ctx, "general", in_general_lane)
    plainly, generally = snapshot(ctx, "plain"), snapshot(ctx, "general")
    for table in TABLES:
        assert plainly[table] == generally[table], table
    assert verify_ledger(ctx).ok
    # The history (but for the program's first purchase, whose posting compiled the version in
    # the general lane), then the batch's purchases but for bob's (he owes points by then),
    # cy's burn, and the refused and replayed ones.
    history = ["cy-0", "fay-0", "bob-1", "ada-0", "ada-1"]
    batch = ["A-1", "A-2", "C-1", "C-3", "E-1", "E-2", "A-5", "E-3"]
    assert Counter(taken) == Counter(history + batch if plain else [])


@pytest.mark.parametrize("definition", ["plain", "fashion-retailer"])
def test_set_based_answers_are_stored_under_the_use_cases_fingerprints(ctx, definition):
    document, _ = DEFINITIONS[definition]
    people = open_program(ctx, "bulk", document)
    rows = [
        (1, purchase("bulk", people["ada"], "A-1", "25.00")),
        (2, purchase("bulk", people["ada"], "A-2", "40.00", by_id=True)),
    ]
    with freeze_time(NOW):
        import_purchases(ctx, rows)
    with ctx.uow(read_only=True) as uow:
        stored = dict(
            uow.session.execute(
                select(IdempotencyRecordRow.key, IdempotencyRecordRow.fingerprint).where(
                    IdempotencyRecordRow.program_id == "bulk",
                    IdempotencyRecordRow.key.like("purchase:till-1:A-%"),
                )
            ).all()
        )
    assert stored == {
        f"purchase:till-1:{command.external_id}": fingerprint(
            replace(command, occurred_at=utc(command.occurred_at), request_key=None)
        )
        for _, command in rows
    }


# -- over HTTP ----------------------------------------------------------------------------------


def body(
    member: Member | str, external_id: str, amount: str = "10.00", **fields: Any
) -> dict[str, Any]:
    ref = {"id": member.id} if isinstance(member, Member) else {"identity": member}
    return {
        "member": ref,
        "external_id": external_id,
        "source": "till-1",
        "occurred_at": (NOW - timedelta(hours=2)).isoformat(),
        "currency": "EUR",
        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": amount, "category": "shoes"}],
        **fields,
    }


def http_items(program_id: str, people: dict[str, Member]) -> list[dict[str, Any]]:
    ada, bob, cy, dan = (people[name] for name in ("ada", "bob", "cy", "dan"))
    return [
        body(ada, "H-1", "20.00"),
        body(PEOPLE["ada"], "H-2", "35.50"),
        body(bob, "H-3", "12.00"),
        body(cy, "H-4", "40.00", points_to_burn=50),
        body(cy, "H-5", "40.00"),
        body(dan, "H-6"),
        body("card:99999999", "H-7"),
        body(ada, "H-8", currency="USD"),
        body(ada, "H-1", "20.00"),
        body(ada, "H-1", "21.00"),
        body(PEOPLE["fay"], "fay-0", "50.00"),
        {**body(ada, "H-9"), "lines": [{"sku": "A", "quantity": 0, "unit_price": "1.00"}]},
        body(ada, "H-10", totals={"total": "1.00"}),
    ]


def comparable(answer: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if answer is None else {k: v for k, v in answer.items() if k != "instance"}


def test_a_batch_over_http_answers_each_item_as_posting_it_alone_would(client, ctx):
    document, _ = DEFINITIONS["plain"]
    bulk_people = open_program(ctx, "bulk", document)
    single_people = open_program(ctx, "single", document)

    with freeze_time(NOW):
        batch = client.post(
            "/v1/programs/bulk/purchases:batch", json={"purchases": http_items("bulk", bulk_people)}
        )
        alone = [
            client.post("/v1/programs/single/purchases", json=item)
            for item in http_items("single", single_people)
        ]

    assert batch.status_code == 200, batch.get_json()
    items = batch.get_json()["results"]
    assert [item["status"] for item in items] == [answer.status_code for answer in alone]
    bulk_text, bulk_serial = names(ctx, "bulk")
    single_text, single_serial = names(ctx, "single")
    for item, answer in zip(items, alone, strict=True):
        mine = item["purchase"] if item["status"] < 300 else comparable(item["problem"])
        theirs = comparable(answer.get_json())
        assert named(mine, bulk_text, bulk_serial) == named(theirs, single_text, single_serial)
    bulk, one = snapshot(ctx, "bulk"), snapshot(ctx, "single")
    for table in TABLES:
        assert bulk[table] == one[table], table
    assert verify_ledger(ctx).ok


def test_a_purchase_imported_in_bulk_replays_when_posted_again_over_http(client, ctx):
    document, _ = DEFINITIONS["fashion-retailer"]
    people = open_program(ctx, "bulk", document)
    posted = body(people["ada"], "H-1", "20.00", channel="app", store="paris-1")
    file = io.StringIO(json.dumps(posted) + "\n")
    heard: list[Any] = []

    with freeze_time(NOW):
        report = import_purchases(
            ctx,
            read_rows(file, "jsonl", "bulk"),
            on_row=lambda line, outcome, error: heard.append(outcome),
        )
        again = client.post("/v1/programs/bulk/purchases", json=posted)
        other = client.post("/v1/programs/bulk/purchases", json={**posted, "channel": "web"})

    assert (report.imported, report.rejected) == (1, 0)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == PurchaseRecordedSchema().dump(heard[0].result)
    assert other.status_code == 422
    assert other.get_json()["type"] == "/problems/idempotency-key-reused"


# -- returns in files ---------------------------------------------------------------------------


def test_returns_imported_from_a_file_reverse_points_as_record_return_does(
    ctx, settings, monkeypatch, tmp_path
):
    document, _ = DEFINITIONS["plain"]
    open_program(ctx, "bulk", document)
    open_program(ctx, "single", document)
    at, later = NOW - timedelta(hours=3), NOW - timedelta(hours=1)
    t1 = (PurchaseLine("SHOES", 2, 4500), PurchaseLine("SOCKS", 3, 400))
    t2 = (PurchaseLine("HAT", 1, 3000),)

    def bought(external_id: str, lines: tuple[PurchaseLine, ...]) -> dict[str, Any]:
        return {
            "member": {"identity": PEOPLE["ada"]},
            "external_id": external_id,
            "source": "pos",
            "occurred_at": at.isoformat(),
            "currency": "EUR",
            "lines": [
                {
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": f"{line.unit_price / 100:.2f}",
                }
                for line in lines
            ],
        }

    def returned(purchase: dict[str, str], external_id: str, **fields: Any) -> dict[str, Any]:
        return {"type": "return", "purchase": purchase, "external_id": external_id, **fields}

    pos = {"source": "pos", "external_id": "T-1"}
    file = tmp_path / "day.jsonl"
    file.write_text(
        "".join(
            json.dumps(row) + "\n"
            for row in [
                bought("T-1", t1),
                bought("T-2", t2),
                returned(
                    pos,
                    "R-1",
                    occurred_at=later.isoformat(),
                    lines=[{"sku": "SHOES", "quantity": 1}],
                ),
                returned(
                    {"source": "pos", "external_id": "T-2"},
                    "R-2",
                    occurred_at=later.isoformat(),
                    amount="6.00",
                    currency="EUR",
                ),
                returned(
                    {"source": "pos", "external_id": "bob-0"}, "R-3", amount="1.00", currency="EUR"
                ),
                returned({"external_id": "T-1"}, "R-4", lines=[{"sku": "SOCKS", "quantity": 1}]),
                returned(pos, "R-5", lines=[{"sku": "SOCKS", "quantity": 1}]),
            ]
        )
    )
    monkeypatch.setenv("LOYALTY_DATABASE_URL", settings.database_url)
    ada = MemberRef(identity=Identity.parse(PEOPLE["ada"]))

    with freeze_time(NOW):
        result = CliRunner().invoke(main, ["import", "purchases", "--program", "bulk", str(file)])
        again = CliRunner().invoke(main, ["import", "purchases", "--program", "bulk", str(file)])
        first, second = (
            record_purchase(
                ctx,
                RecordPurchase(
                    program_id="single",
                    member=ada,
                    external_id=external_id,
                    source="pos",
                    occurred_at=at,
                    currency="EUR",
                    lines=lines,
                ),
            ).result
            for external_id, lines in (("T-1", t1), ("T-2", t2))
        )
        record_return(
            ctx,
            RecordReturn("single", first.purchase_id, "R-1", occurred_at=later, lines={"SHOES": 1}),
        )
        record_return(
            ctx,
            RecordReturn(
                "single", second.purchase_id, "R-2", occurred_at=later, amount=600, currency="EUR"
            ),
        )
        record_return(ctx, RecordReturn("single", first.purchase_id, "R-5", lines={"SOCKS": 1}))

    # bob-0 came from the till "till-1", not "pos"; R-4 names the default source
    assert result.exit_code == 1, result.output
    assert (
        "Imported 5, duplicates 0, rejected 2; of the imported, 2 purchases and 3 returns."
        in result.output
    )
    assert "line 5: purchase: there is no purchase 'bob-0' from 'pos'" in result.output
    assert "line 6: purchase: there is no purchase 'T-1' from 'default'" in result.output
    assert "Imported 0, duplicates 5, rejected 2" in again.output
    bulk, one = snapshot(ctx, "bulk"), snapshot(ctx, "single")
    for table in TABLES:
        assert bulk[table] == one[table], table
    assert verify_ledger(ctx).ok


def test_a_csv_file_of_purchases_and_returns_is_imported(ctx, settings, monkeypatch, tmp_path):
    document, _ = DEFINITIONS["plain"]
    people = open_program(ctx, "bulk", document)
    before = points_of(ctx, "bulk", people["ada"])
    at = (NOW - timedelta(hours=3)).isoformat()
    file = tmp_path / "day.csv"
    file.write_text(
        "type,external_id,source,identity,occurred_at,currency,sku,quantity,unit_price,"
        "purchase_source,purchase_external_id,amount\n"
        f"purchase,T-1,pos,{PEOPLE['ada']},{at},EUR,SHOES,2,45.00,,,\n"
        f"purchase,T-1,pos,{PEOPLE['ada']},{at},EUR,SOCKS,3,4.00,,,\n"
        f",T-2,pos,{PEOPLE['ada']},{at},EUR,SOCKS,1,4.00,,,\n"
        f"return,R-1,,,{at},EUR,SHOES,1,,pos,T-1,\n"
        f"return,R-1,,,{at},EUR,SOCKS,2,,pos,T-1,\n"
        f"return,R-2,,,{at},EUR,,,,pos,T-2,2.00\n"
    )
    monkeypatch.setenv("LOYALTY_DATABASE_URL", settings.database_url)

    with freeze_time(NOW):
        result = CliRunner().invoke(main, ["import", "purchases", "--program", "bulk", str(file)])

    assert result.exit_code == 0, result.output
    assert (
        "Imported 4, duplicates 0, rejected 0; of the imported, 2 purchases and 2 returns."
        in result.output
    )
    with ctx.uow(read_only=True) as uow:
        returned = dict(
            uow.session.execute(
                select(PurchaseReturnRow.external_id, PurchaseReturnRow.points_reversed).where(
                    PurchaseReturnRow.program_id == "bulk"
                )
            ).all()
        )
        balance = uow.ledger.balance(bulk_member(uow, PEOPLE["ada"]))
    assert returned["R-1"] == 53 and returned["R-2"] == 2  # 45 + 2 x 4; 2.00 of T-2's 4.00
    assert balance.available == before + 102 + 4 - 53 - 2
    assert verify_ledger(ctx).ok


def bulk_member(uow: Any, card: str) -> str:
    kind, value = card.split(":")
    return uow.session.scalar(
        select(MemberIdentityRow.member_id).where(
            MemberIdentityRow.program_id == "bulk",
            MemberIdentityRow.kind == kind,
            MemberIdentityRow.value == value,
        )
    )

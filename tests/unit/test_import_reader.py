"""The import file reader, held to the API's marshmallow schemas.

The reader checks purchase and return rows in plain Python (the bulk path cannot afford
marshmallow per row); here every payload of the API tests, and more, goes through both, and
they must agree: the same command when accepted, the same fields and messages when not.
"""

from __future__ import annotations

import copy
import io
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
import pytest

from api.errors import flatten
from api.importing import (
    NOT_UTF8,
    open_rows,
    purchase_errors_or_command,
    read_rows,
    return_errors_or_command,
)
from api.schemas import PurchaseSchema, ReturnSchema
from loyalty.domain.basket import PurchaseLine
from loyalty.domain.errors import InvalidAmount
from loyalty.domain.members import Identity
from loyalty.domain.money import Money
from loyalty.services.imports import ImportReturn
from loyalty.services.members import MemberRef
from loyalty.services.purchases import RecordPurchase

WHEN = "2026-01-15T10:00:00+01:00"


def a_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "member": {"identity": "card:1234"},
        "external_id": "TILL-1",
        "occurred_at": WHEN,
        "currency": "EUR",
        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "10.00"}],
    }
    body.update(fields)
    return body


def with_value(body: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """``body`` with the field at ``path`` ("lines.0.tax") set to ``value``."""
    body = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[int(leaf) if isinstance(node, list) else leaf] = value
    return body


def without(body: dict[str, Any], path: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    del node[int(leaf) if isinstance(node, list) else leaf]
    return body


def a_line(**fields: Any) -> dict[str, Any]:
    return {"sku": "SKU-1", "quantity": 1, "unit_price": "10.00", **fields}


# -- purchases: the API tests' payloads (tests/api/test_purchases_api.py), and more -------------

PURCHASES = [
    a_body(),
    a_body(member={"id": "mem_123"}),
    a_body(member={"identity": "email: Ada@Example.com "}),
    a_body(member={"identity": "phone:+33 6 12 34 56 78"}),
    a_body(source="till-7", channel="web", store="paris-1", shipping="4.90"),
    a_body(totals={"total": "10.00", "tax": "0.00", "discount": "0"}),
    a_body(totals={}),
    a_body(promo_codes=["WINTER", "VIP"], payments={"gift_cards": "5.00"}, points_to_burn=100),
    a_body(store=None, promo_codes=[], payments={}),
    a_body(
        lines=[
            a_line(category="shoes", discount="1.50", tax="1.42", tags=["new-collection"]),
            a_line(sku="B", quantity=3, unit_price="0.99", category=None, tags=[]),
            a_line(sku="C", quantity=100_000, unit_price="1.230"),
        ]
    ),
    a_body(lines=[a_line(unit_price="-0.00")]),
    a_body(currency="JPY", lines=[a_line(unit_price="100")]),
    a_body(currency="JPY", lines=[a_line(unit_price="100.50")]),
    a_body(currency="JPY", lines=[a_line(unit_price="100.0")]),
    a_body(currency="KWD", lines=[a_line(unit_price="1.2345")]),
    a_body(currency="KWD", lines=[a_line(unit_price="1.234")]),
    a_body(occurred_at="2026-01-15T10:00:00Z"),
    a_body(occurred_at="2026-01-15 10:00:00.123456-05:00"),
    a_body(occurred_at="2026-01-15T10:00:00"),
    a_body(occurred_at="2026-01-15"),
    a_body(occurred_at="0001-01-01T00:30:00+01:00"),
    a_body(occurred_at="9999-12-31T23:30:00-01:00"),
    a_body(occurred_at="1969-12-31T23:59:59Z"),
    a_body(occurred_at="2200-01-01T00:00:00Z"),
    a_body(occurred_at="yesterday"),
    a_body(occurred_at=1700000000),
    a_body(external_id="TILL\u00007"),
    a_body(external_id="x" * 128),
    a_body(external_id="x" * 129),
    a_body(external_id="line\nbreak"),
    a_body(external_id=42),
    a_body(lines=[a_line(quantity=100_000, unit_price="999999999999999.99")]),
    a_body(lines=[a_line(quantity=1, unit_price="999999999999999.99")] * 2),
    a_body(lines=[a_line(unit_price="1.00", discount="2.00")]),  # the use case refuses it
    a_body(totals={"total": "11.00"}),  # the use case refuses it
    a_body(lines=[a_line()] * 500),
    a_body(lines=[a_line()] * 501),
    a_body(lines=[a_line(tags=["t"] * 21)]),
    a_body(lines=[a_line(tags=["t", ""])]),
    a_body(lines=[a_line(tags="summer")]),
    a_body(promo_codes=["P"] * 21),
    a_body(lines=["SKU-1"]),
    a_body(lines=[None]),
    a_body(lines={"sku": "SKU-1"}),
    a_body(member="card:1234"),
    a_body(member={}),
    a_body(member={"id": "mem_x", "identity": "card:1234"}),
    a_body(member={"identity": "1234"}),
    a_body(member={"identity": "iris:1234"}),
    a_body(member={"identity": "email:nobody"}),
    a_body(member={"id": ""}),
    a_body(member={"id": None}),
    a_body(member={"identity": "card:1234", "card": "1234"}),
    a_body(points_to_burn=-1),
    a_body(points_to_burn=True),
    a_body(points_to_burn="10"),
    a_body(points_to_burn=10**12 + 1),
    a_body(currency="USD"),
    a_body(currency="eur"),
    a_body(currency="EURO"),
    a_body(channel="Point of Sale"),
    a_body(channel="c" * 33),
    a_body(store=""),
    a_body(source=None),
    a_body(shipping="-4.90"),
    a_body(shipping=None),
    a_body(totals=None),
    a_body(totals=[]),
    a_body(payments={"gift_cards": None}),
    a_body(payments={"cash": "1.00"}),
    a_body(coupon="x"),
    a_body(lines=[a_line(colour="red")]),
    a_body(lines=[a_line(category="")]),
    a_body(lines=[a_line(discount=None)]),
    a_body(lines=[a_line(sku="s" * 65)]),
    a_body(lines=[a_line(unit_price="1.00\n")]),
    a_body(lines=[a_line(unit_price="1,00")]),
    a_body(lines=[a_line(unit_price="1e3")]),
    a_body(lines=[a_line(unit_price="\u0661\u0660")]),  # Arabic-Indic digits: not ASCII ones
    a_body(lines=[a_line(unit_price="1234567890123456")]),
    a_body(lines=[a_line(unit_price="1.12345")]),
    # several mistakes at once: every one is named
    a_body(member={}, currency="eur", lines=[a_line(quantity=0), a_line(unit_price=1.5)]),
    a_body(lines=[a_line(unit_price="1.234", tax="-1")], shipping="0.001"),
    {},
]
PURCHASES += [
    with_value(a_body(totals={}), path, 1.5)
    for path in (
        "lines.0.unit_price",
        "lines.0.discount",
        "lines.0.tax",
        "shipping",
        "totals.total",
    )
]
PURCHASES += [
    with_value(a_body(totals={}), path, "1.234")
    for path in ("lines.0.unit_price", "lines.0.discount", "lines.0.tax", "shipping", "totals.tax")
]
PURCHASES += [
    with_value(a_body(), path, value)
    for path, value in (
        ("lines.0.unit_price", "-1.00"),
        ("lines.0.unit_price", "12,50"),
        ("lines.0.unit_price", "1e3"),
        ("shipping", "-4.90"),
        ("lines", []),
        ("lines.0.quantity", 0),
        ("lines.0.quantity", "2"),
        ("lines.0.quantity", 1.5),
        ("lines.0.quantity", 2.0),
        ("channel", "Point of Sale"),
        ("external_id", ""),
        ("totals.grand_total", "x"),
        ("member.card", "x"),
    )
]
PURCHASES += [
    without(a_body(), path)
    for path in (
        "member",
        "external_id",
        "occurred_at",
        "currency",
        "lines",
        "lines.0.sku",
        "lines.0.quantity",
        "lines.0.unit_price",
    )
]
PURCHASES += [with_value(a_body(), path, None) for path in ("member", "external_id", "lines.0.sku")]


def by_the_schema(payload: dict[str, Any]) -> RecordPurchase | list[tuple[str, str]]:
    """What ``POST .../purchases`` makes of ``payload`` (the reference)."""
    try:
        data = PurchaseSchema().load(payload)
    except ma.ValidationError as error:
        return sorted((e["field"], e["detail"]) for e in flatten(error.messages))
    return RecordPurchase(program_id="shop", **data)


def by_the_reader(payload: dict[str, Any]) -> RecordPurchase | list[tuple[str, str]]:
    found = purchase_errors_or_command(copy.deepcopy(payload), "shop")
    return sorted(found) if isinstance(found, list) else found


@pytest.mark.parametrize("payload", PURCHASES, ids=range(len(PURCHASES)))
def test_the_reader_makes_of_a_purchase_what_the_api_makes_of_it(payload):
    assert by_the_reader(payload) == by_the_schema(payload)


def test_the_purchases_compared_include_good_and_bad_ones():
    answers = [by_the_schema(payload) for payload in PURCHASES]
    assert sum(isinstance(answer, RecordPurchase) for answer in answers) >= 20
    assert sum(isinstance(answer, list) for answer in answers) >= 80


def test_an_accepted_purchase_is_in_minor_units_and_utc():
    command = purchase_errors_or_command(
        a_body(
            lines=[a_line(quantity=2, unit_price="12.50", discount="1.00", tax="2.00", tags=["x"])],
            shipping="4.90",
            payments={"gift_cards": "5.00"},
        ),
        "shop",
    )
    assert isinstance(command, RecordPurchase)
    assert command.member == MemberRef(identity=Identity.parse("card:1234"))
    assert command.occurred_at == datetime(2026, 1, 15, 9, tzinfo=UTC)
    assert command.lines == (
        PurchaseLine("SKU-1", 2, 1250, discount=100, tax=200, category=None, tags=("x",)),
    )
    assert (command.shipping, command.paid_with_gift_cards) == (490, 500)


# -- returns: the API tests' payloads (tests/api/test_rewards_api.py), and more -----------------

RETURNS = [
    {"external_id": "R-17", "lines": [{"sku": "SHOES", "quantity": 1}]},
    {"external_id": "R-1", "amount": "30.00", "currency": "EUR"},
    {"external_id": "R-1", "lines": [{"sku": "SOCKS", "quantity": 3}]},
    {"external_id": "R-1"},
    {
        "external_id": "R-1",
        "lines": [{"sku": "SKU-1", "quantity": 1}],
        "amount": "1.00",
        "currency": "EUR",
    },
    {"external_id": "R-1", "amount": "1.00"},
    {"external_id": "R-1", "lines": [{"sku": "SKU-1", "quantity": 0}]},
    {"external_id": "R-1", "lines": []},
    {"lines": [{"sku": "SKU-1", "quantity": 1}]},
    {"external_id": "R-1", "amount": "1.001", "currency": "EUR"},
    {"external_id": "R-1", "amount": "-1.00", "currency": "EUR"},
    {"external_id": "R-1", "amount": "0.00", "currency": "EUR"},
    {"external_id": "R-1", "amount": "10", "currency": "JPY"},
    {"external_id": "R-1", "amount": "10.5", "currency": "JPY"},
    {
        "external_id": "R-1",
        "occurred_at": "2150-01-01T00:00:00Z",
        "lines": [{"sku": "A", "quantity": 1}],
    },
    {
        "external_id": "R-1",
        "occurred_at": "2026-01-15T10:00:00",
        "lines": [{"sku": "A", "quantity": 1}],
    },
    {"external_id": "R-1", "occurred_at": None, "lines": [{"sku": "A", "quantity": 1}]},
    {"external_id": "R-1", "lines": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}]},
    {"external_id": "R-1", "lines": [{"sku": "A", "quantity": 1, "price": "1.00"}]},
    {"external_id": "R-1", "lines": [{"sku": "A", "quantity": True}]},
    {"external_id": "R-1", "lines": [{"sku": "", "quantity": 1}]},
    {"external_id": "R-1", "lines": ["A"]},
    {"external_id": "R-1", "lines": None},
    {"external_id": "R-1", "lines": "A"},
    {"external_id": "R-1", "amount": None, "currency": "EUR"},
    {"external_id": "R-1", "amount": 10, "currency": "EUR"},
    {"external_id": "R-1", "amount": "10.00", "currency": "eur"},
    {"external_id": "R-1", "amount": "10.00", "currency": None},
    {"external_id": "R\u00001", "lines": [{"sku": "A", "quantity": 1}]},
    {"external_id": "", "lines": [{"sku": "A", "quantity": 1}]},
    {"external_id": "R-1", "lines": [{"sku": "A", "quantity": 1}], "reason": "too small"},
    {"external_id": "R-1", "lines": [{"sku": "A", "quantity": 1}] * 501},
]


def return_by_the_schema(payload: dict[str, Any]) -> Any:
    """What ``POST .../purchases/{id}/returns`` makes of ``payload`` (the reference: the schema,
    then the view's conversion)."""
    try:
        data = ReturnSchema().load(payload)
    except ma.ValidationError as error:
        return sorted((e["field"], e["detail"]) for e in flatten(error.messages))
    units = None
    if "lines" in data:
        units = {}
        for line in data["lines"]:
            units[line["sku"]] = units.get(line["sku"], 0) + line["quantity"]
    amount = None
    if "amount" in data:
        try:
            amount = Money.parse(data["amount"], data["currency"]).minor
        except InvalidAmount as error:
            return [("amount", error.detail)]
    return ImportReturn(
        program_id="shop",
        purchase_source="pos",
        purchase_external_id="T-1",
        external_id=data["external_id"],
        occurred_at=data["occurred_at"],
        lines=units,
        amount=amount,
        currency=data.get("currency"),
    )


def return_by_the_reader(payload: dict[str, Any]) -> Any:
    row = {**copy.deepcopy(payload), "purchase": {"source": "pos", "external_id": "T-1"}}
    found = return_errors_or_command(row, "shop")
    return sorted(found) if isinstance(found, list) else found


@pytest.mark.parametrize("payload", RETURNS, ids=range(len(RETURNS)))
def test_the_reader_makes_of_a_return_what_the_api_makes_of_it(payload):
    assert return_by_the_reader(payload) == return_by_the_schema(payload)


@pytest.mark.parametrize(
    ("purchase", "problem"),
    [
        (None, ("purchase", "Field may not be null.")),
        ("T-1", ("purchase", "Invalid input type.")),
        ({"source": "pos"}, ("purchase.external_id", "Missing data for required field.")),
        ({"external_id": "T-1", "till": 3}, ("purchase.till", "Unknown field.")),
        (
            {"external_id": "T-1", "source": ""},
            ("purchase.source", "Length must be between 1 and 64."),
        ),
    ],
)
def test_a_return_names_its_purchase_by_external_id_and_source(purchase, problem):
    row = {"purchase": purchase, "external_id": "R-1", "lines": [{"sku": "A", "quantity": 1}]}
    assert return_errors_or_command(row, "shop") == [problem]


def test_a_return_row_without_a_source_names_a_purchase_of_the_default_source():
    row = {
        "purchase": {"external_id": "T-1"},
        "external_id": "R-1",
        "amount": "2.50",
        "currency": "EUR",
    }
    assert return_errors_or_command(row, "shop") == ImportReturn(
        program_id="shop",
        purchase_source="default",
        purchase_external_id="T-1",
        external_id="R-1",
        amount=250,
        currency="EUR",
    )


# -- files ---------------------------------------------------------------------------------------


def rows_of(text: str, file_format: str) -> list[tuple[int, Any]]:
    return list(read_rows(io.StringIO(text), file_format, "shop"))


def test_a_json_lines_file_holds_purchases_and_returns_each_with_its_line():
    text = (
        '{"type": "purchase", "member": {"id": "mem_1"}, "external_id": "T-1", '
        f'"occurred_at": "{WHEN}", "currency": "EUR", '
        '"lines": [{"sku": "X", "quantity": 2, "unit_price": "5.00"}]}\n'
        "\n"
        '{"type": "return", "purchase": {"source": "pos", "external_id": "T-1"}, '
        '"external_id": "R-1", "lines": [{"sku": "X", "quantity": 1}]}\n'
        '{"type": "exchange"}\n'
        "[1, 2]\n"
        "{oops\n"
        '{"type": "return", "purchase": {"external_id": "T-1"}, "external_id": "R-2", '
        '"amount": "1.005", "currency": "EUR"}\n'
    )
    rows = rows_of(text, "jsonl")
    assert [line for line, _ in rows] == [1, 3, 4, 5, 6, 7]
    assert isinstance(rows[0][1], RecordPurchase) and rows[0][1].lines[0].quantity == 2
    assert rows[1][1] == ImportReturn(
        program_id="shop",
        purchase_source="pos",
        purchase_external_id="T-1",
        external_id="R-1",
        lines={"X": 1},
    )
    assert rows[2][1] == "type: a row is a purchase or a return"
    assert rows[3][1] == "a row is a JSON object"
    assert rows[4][1].startswith("not JSON: ")
    assert rows[5][1] == "amount: EUR amounts have at most 2 decimals, not '1.005'"


def test_a_bad_row_names_every_field_it_gets_wrong():
    text = (
        '{"member": {"id": "mem_1"}, "external_id": "T-1", "occurred_at": "2026-01-15", '
        '"currency": "EUR", "lines": [{"sku": "X", "quantity": 1, "unit_price": "5.00"}, '
        '{"sku": "Y", "quantity": 1, "unit_price": "5.00"}, '
        '{"sku": "Z", "quantity": "two", "unit_price": "5.00"}]}\n'
    )
    [(line, problem)] = rows_of(text, "jsonl")
    assert line == 1
    assert set(problem.split("; ")) == {
        "occurred_at: Not a valid aware datetime.",
        "lines.2.quantity: Not a valid integer.",
    }


CSV_HEAD = (
    "type,external_id,source,member_id,identity,occurred_at,channel,store,currency,sku,category,"
    "quantity,unit_price,discount,tax,shipping,tags,purchase_source,purchase_external_id,amount\n"
)


def test_a_csv_file_groups_the_rows_of_a_purchase_and_of_a_return():
    text = CSV_HEAD + (
        f",T-1,pos,,card:1234,{WHEN},pos,paris-1,EUR,X,shoes,2,5.00,,1.00,,new;sale,,,\n"
        f"purchase,T-1,pos,,card:1234,{WHEN},pos,paris-1,EUR,Y,,1,3.00,0.50,,,,,,\n"
        f"purchase,T-1,web,mem_1,,{WHEN},web,,EUR,X,,1,5.00,,,4.90,,,,\n"
        f"return,R-1,,,,{WHEN},,,EUR,X,,1,,,,,,pos,T-1,\n"
        f"return,R-1,,,,{WHEN},,,EUR,Y,,1,,,,,,pos,T-1,\n"
        f"return,R-1,,,,{WHEN},,,EUR,X,,1,,,,,,pos,T-1,\n"
        f"return,R-2,,,,,,,EUR,,,,,,,,,,T-1,2.50\n"
        f"return,R-3,,,,,,,EUR,X,,1,,,,,,,T-1,2.50\n"
        f"refund,R-4,,,,,,,EUR,,,,,,,,,,T-1,2.50\n"
    )
    rows = rows_of(text, "csv")
    assert [line for line, _ in rows] == [2, 4, 5, 8, 9, 10]
    first, second = rows[0][1], rows[1][1]
    assert isinstance(first, RecordPurchase) and isinstance(second, RecordPurchase)
    assert (first.source, first.store, first.member) == (
        "pos",
        "paris-1",
        MemberRef(identity=Identity.parse("card:1234")),
    )
    assert first.lines == (
        PurchaseLine("X", 2, 500, tax=100, category="shoes", tags=("new", "sale")),
        PurchaseLine("Y", 1, 300, discount=50),
    )
    assert (second.source, second.member, second.shipping) == (
        "web",
        MemberRef(member_id="mem_1"),
        490,
    )
    assert rows[2][1] == ImportReturn(
        program_id="shop",
        purchase_source="pos",
        purchase_external_id="T-1",
        external_id="R-1",
        occurred_at=datetime(2026, 1, 15, 9, tzinfo=UTC),
        lines={"X": 2, "Y": 1},
    )
    assert rows[3][1] == ImportReturn(
        program_id="shop",
        purchase_source="default",
        purchase_external_id="T-1",
        external_id="R-2",
        amount=250,
        currency="EUR",
    )
    assert rows[4][1].startswith("amount: a return is its returned lines")
    assert rows[5][1] == "type: a row is a purchase or a return"


def test_a_csv_purchase_row_with_a_bad_quantity_is_named_by_its_line_number():
    text = CSV_HEAD + (
        f",T-1,pos,,card:1234,{WHEN},pos,,EUR,X,,1,5.00,,,,,,,\n"
        f",T-1,pos,,card:1234,{WHEN},pos,,EUR,Y,,two,5.00,,,,,,,\n"
    )
    assert rows_of(text, "csv") == [(2, "lines.1.quantity: Not a valid integer.")]


def rows_of_bytes(data: bytes, file_format: str, tmp_path: Any) -> list[tuple[int, Any]]:
    path = tmp_path / f"rows.{file_format}"
    path.write_bytes(data)
    with open_rows(str(path)) as handle:
        return list(read_rows(handle, file_format, "shop"))


def test_a_json_line_with_bytes_that_are_not_utf8_is_refused_alone(tmp_path):
    good = (
        '{"member": {"id": "mem_1"}, "external_id": "T-1", '
        f'"occurred_at": "{WHEN}", "currency": "EUR", '
        '"lines": [{"sku": "X", "quantity": 1, "unit_price": "5.00"}]}\n'
    ).encode()
    rows = rows_of_bytes(good + b'{"external_id": "T-\xff\xfe"}\n' + good.replace(b"T-1", b"T-2"),
                         "jsonl", tmp_path)
    assert [(line, problem if isinstance(problem, str) else problem.external_id)
            for line, problem in rows] == [(1, "T-1"), (2, NOT_UTF8), (3, "T-2")]


def test_a_csv_purchase_with_a_row_that_is_not_utf8_is_refused_whole(tmp_path):
    text = CSV_HEAD + (
        f",T-1,pos,,card:1234,{WHEN},pos,,EUR,X,,1,5.00,,,,,,,\n"
        f",T-2,pos,,card:1234,{WHEN},pos,,EUR,X,,1,5.00,,,,,,,\n"
        f",T-2,pos,,card:1234,{WHEN},pos,,EUR,BAD,,1,5.00,,,,,,,\n"
        f",T-3,pos,,card:1234,{WHEN},pos,,EUR,X,,1,5.00,,,,,,,\n"
    )
    rows = rows_of_bytes(text.encode().replace(b"BAD", b"\xc3\x28"), "csv", tmp_path)
    assert [(line, problem if isinstance(problem, str) else problem.external_id)
            for line, problem in rows] == [(2, "T-1"), (3, NOT_UTF8), (5, "T-3")]


def test_a_csv_header_that_is_not_utf8_refuses_the_file(tmp_path):
    rows = rows_of_bytes(CSV_HEAD.encode().replace(b"sku", b"sk\xff") + b",T-1\n", "csv",
                         tmp_path)
    assert rows == [(1, f"the header: {NOT_UTF8}")]


# -- every field of a full purchase, given every kind of wrong (and right) value ----------------

FULL = a_body(
    member={"id": "mem_123"},
    source="till-7",
    channel="web",
    store="paris-1",
    shipping="4.90",
    totals={"total": "24.90", "tax": "1.00", "discount": "0.00"},
    promo_codes=["WINTER"],
    payments={"gift_cards": "5.00"},
    points_to_burn=10,
    lines=[
        a_line(category="shoes", discount="0.00", tax="1.00", tags=["new-collection"]),
        a_line(sku="B", quantity=2, unit_price="5.00"),
    ],
)
PATHS = [
    "member",
    "member.id",
    "external_id",
    "source",
    "occurred_at",
    "channel",
    "store",
    "currency",
    "lines",
    "lines.0",
    "lines.0.sku",
    "lines.0.category",
    "lines.0.quantity",
    "lines.0.unit_price",
    "lines.0.discount",
    "lines.0.tax",
    "lines.0.tags",
    "lines.0.tags.0",
    "shipping",
    "totals",
    "totals.total",
    "totals.tax",
    "payments",
    "payments.gift_cards",
    "promo_codes",
    "promo_codes.0",
    "points_to_burn",
]
VALUES = [None, True, 0, 7, 1.5, "", " ", "7", "2.50", "0.001", "-3", "A\tB", "x" * 65, [], {}]
MUTATIONS = [(path, value) for path in PATHS for value in VALUES]


@pytest.mark.parametrize(
    ("path", "value"), MUTATIONS, ids=[f"{p}={v!r}"[:40] for p, v in MUTATIONS]
)
def test_the_reader_agrees_with_the_api_on_any_value_of_any_field(path, value):
    payload = with_value(FULL, path, value)
    assert by_the_reader(payload) == by_the_schema(payload)


@pytest.mark.parametrize("path", PATHS)
def test_the_reader_agrees_with_the_api_on_any_field_left_out(path):
    payload = without(FULL, path)
    assert by_the_reader(payload) == by_the_schema(payload)


@pytest.mark.parametrize("quantity", ["2.0", "1_000", " 2", "\u0662", "two"])
def test_a_csv_quantity_is_ascii_digits(quantity):
    text = CSV_HEAD + f",T-1,pos,,card:1234,{WHEN},pos,,EUR,X,,{quantity},5.00,,,,,,,\n"
    assert rows_of(text, "csv") == [(2, "lines.0.quantity: Not a valid integer.")]

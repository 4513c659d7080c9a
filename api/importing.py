"""Reading purchase files for the importer: purchases and returns, checked as the API checks them.

JSON Lines: each line is a JSON object. A purchase is the body of
``POST /v1/programs/{program}/purchases`` (``"type": "purchase"`` may be given, and is the
default). A return is ``{"type": "return", "purchase": {"source": "pos", "external_id": "T-1"},
"external_id": "R-1", "occurred_at": "...", "lines": [{"sku": "X", "quantity": 1}]}``, or with
``"amount": "12.50", "currency": "EUR"`` instead of ``lines``: the body of
``POST .../purchases/{id}/returns`` plus the purchase it returns, named as the till knows it
(``source`` defaults to ``default``).

CSV: one row per purchase line, with the columns ``type`` (``purchase``, the default, or
``return``), ``external_id, source, member_id, identity, occurred_at, channel, store, currency,
sku, category, quantity, unit_price, discount, tax, shipping, tags`` (``;``-separated) for
purchases; consecutive rows with the same ``type``, ``source`` and ``external_id`` make one
purchase. A return's rows carry its ``external_id``, ``occurred_at``, ``purchase_source`` and
``purchase_external_id``, then either ``sku`` and ``quantity`` per returned line (consecutive
rows with the same ``type`` and ``external_id`` make one return) or one row with ``amount`` and
``currency``.

The reader is on the bulk path, so it does not run the marshmallow schemas per row (they cost
six times what the checks below do): it checks the very same things in plain Python and builds
the commands directly, with the schemas' messages, naming each field as the API's problems do
(``lines.2.quantity: Not a valid integer.``). ``tests/unit/test_import_reader.py`` holds it to
the schemas (``PurchaseSchema``, ``ReturnSchema``) on the API tests' payloads and more.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from loyalty.domain.basket import PurchaseLine
from loyalty.domain.errors import InvalidIdentity
from loyalty.domain.members import Identity
from loyalty.domain.money import MAX_MINOR_UNITS, currency_exponent
from loyalty.services.imports import ImportReturn
from loyalty.services.members import MemberRef
from loyalty.services.purchases import DeclaredTotals, RecordPurchase

Command = RecordPurchase | ImportReturn
Errors = list[tuple[str, str]]  # (field, detail), as the API's problems list them
Check = Callable[[Any, str, Errors], Any]  # (value, field, errors) -> value, or None on error

# marshmallow's messages, so that a row refused here reads as the API's answer would.
_MISSING = "Missing data for required field."
_NULL = "Field may not be null."
_UNKNOWN = "Unknown field."
_NOT_TEXT = "Not a valid string."
_NOT_INTEGER = "Not a valid integer."
_NOT_LIST = "Not a valid list."
_NOT_OBJECT = "Invalid input type."
_NOT_DATETIME = "Not a valid datetime."
_NOT_AWARE = "Not a valid aware datetime."
_NO_MATCH = "String does not match expected pattern."
_CONTROL = "control characters are not allowed"
_NOT_AMOUNT = 'not a decimal amount such as "12.34"'
_OUT_OF_CALENDAR = "an instant between 1970 and 2200"

_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc
_EXACT_AMOUNT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,4})?").fullmatch
_CSV_INTEGER = re.compile(r"-?[0-9]{1,18}").fullmatch
_EARLIEST, _LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
_ABSENT: Any = object()
_OPTIONAL: Any = object()  # a field without a default: absent is None, null is an error


# -- fields, as the schemas' ----------------------------------------------------------------------


def _field(
    data: dict[str, Any], name: str, path: str, errors: Errors, check: Check, default: Any = _ABSENT
) -> Any:
    """The checked value of ``data[name]``: required without a ``default`` (``None`` when
    absent with ``_OPTIONAL``); ``null`` is an error, unless the default is ``None``
    (marshmallow's ``load_default=None``)."""
    field = f"{path}.{name}" if path else name
    value = data.get(name, _ABSENT)
    if value is _ABSENT:
        if default is _ABSENT:
            errors.append((field, _MISSING))
            return None
        return None if default is _OPTIONAL else default
    if value is None:
        if default is not None:
            errors.append((field, _NULL))
        return None
    return check(value, field, errors)


def _text(low: int, high: int) -> Check:
    """A ``Text``: a string of ``low`` to ``high`` characters, none of them a control one."""
    too_long = f"Length must be between {low} and {high}."

    def check(value: Any, field: str, errors: Errors) -> Any:
        if not isinstance(value, str):
            errors.append((field, _NOT_TEXT))
        elif _CONTROL_CHARACTERS.search(value):
            errors.append((field, _CONTROL))
        elif not low <= len(value) <= high:
            errors.append((field, too_long))
        else:
            return value
        return None

    return check


def _matching(pattern: str, mismatch: str = _NO_MATCH) -> Check:
    """A ``Text`` that matches ``pattern`` (``re.match``, as marshmallow's ``Regexp``)."""
    match = re.compile(pattern).match

    def check(value: Any, field: str, errors: Errors) -> Any:
        if not isinstance(value, str):
            errors.append((field, _NOT_TEXT))
        elif _CONTROL_CHARACTERS.search(value):
            errors.append((field, _CONTROL))
        elif not match(value):
            errors.append((field, mismatch))
        else:
            return value
        return None

    return check


def _integer(low: int, high: int) -> Check:
    """A strict integer (never a boolean, a float or a string) within ``low..high``."""
    out_of_range = f"Must be greater than or equal to {low} and less than or equal to {high}."

    def check(value: Any, field: str, errors: Errors) -> int | None:
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append((field, _NOT_INTEGER))
        elif not low <= value <= high:
            errors.append((field, out_of_range))
        else:
            return int(value)
        return None

    return check


def _instant(value: Any, field: str, errors: Errors) -> datetime | None:
    """An ``Instant``: ISO 8601 with an offset, between 1970 and 2200, in UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        errors.append((field, _NOT_DATETIME))
        return None
    if parsed.tzinfo is None or parsed.tzinfo.utcoffset(parsed) is None:
        errors.append((field, _NOT_AWARE))
        return None
    try:
        in_utc = parsed.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not _EARLIEST <= in_utc < _LATEST:
        errors.append((field, _OUT_OF_CALENDAR))
        return None
    return in_utc


def _list(item: Check, low: int, high: int) -> Check:
    """A list of ``item``s; its length (``low..high``) is checked once every item is good."""
    wrong_length = (
        f"Length must be between {low} and {high}."
        if low
        else f"Longer than maximum length {high}."
    )

    def check(value: Any, field: str, errors: Errors) -> list[Any] | None:
        if not isinstance(value, list | tuple):
            errors.append((field, _NOT_LIST))
            return None
        before = len(errors)
        items = []
        for index, each in enumerate(value):
            if each is None:
                errors.append((f"{field}.{index}", _NULL))
            else:
                items.append(item(each, f"{field}.{index}", errors))
        if len(errors) > before:
            return None
        if not low <= len(items) <= high:
            errors.append((field, wrong_length))
            return None
        return items

    return check


def _object(known: frozenset[str], fields: Callable[[dict[str, Any], str, Errors], Any]) -> Check:
    """A nested object with the ``known`` fields (any other is an error) that ``fields``
    checks; ``None`` if any of them is wrong."""

    def check(value: Any, field: str, errors: Errors) -> Any:
        if not isinstance(value, dict):
            errors.append((field, _NOT_OBJECT))
            return None
        before = len(errors)
        for name in value.keys() - known:
            errors.append((f"{field}.{name}" if field else name, _UNKNOWN))
        found = fields(value, field, errors)
        return None if len(errors) > before else found

    return check


_SHORT_TEXT = _text(1, 64)  # sku, category, source, store, tags, promotion codes
_EXTERNAL_ID = _text(1, 128)
_AMOUNT = _matching(r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$", _NOT_AMOUNT)  # DECIMAL_PATTERN
_CURRENCY = _matching(r"^[A-Z]{3}$")
_CHANNEL = _matching(r"^[a-z][a-z0-9_-]{0,31}$")
_QUANTITY = _integer(1, 100_000)
_POINTS_TO_BURN = _integer(0, 10**12)
_LABELS = _list(_SHORT_TEXT, 0, 20)  # tags, promotion codes
_MEMBER_ID = _text(1, 40)
_IDENTITY = _text(3, 300)


class _Money:
    """Decimal strings to minor units of one currency, exactly as ``Money.parse`` (no
    rounding: more decimals than the currency has is an error), without ``Decimal``."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.exponent = currency_exponent(currency)
        self.scale = 10**self.exponent
        self.known: dict[str, int | str] = {}  # prices repeat: a few thousand, remembered

    @classmethod
    def of(cls, currency: str) -> _Money:
        found = _MONEY.get(currency)
        if found is None:
            found = _MONEY[currency] = cls(currency)
        return found

    def minor(self, text: str, *, signed: bool = False) -> int | str:
        """The amount (a text ``_AMOUNT`` accepted) in minor units, or why it is not one;
        negative only when ``signed``."""
        negative = text[0] == "-"
        whole, _, fraction = (text[1:] if negative else text).partition(".")
        exponent = self.exponent
        if len(fraction) > exponent:
            if fraction[exponent:].strip("0"):
                return f"{self.currency} amounts have at most {exponent} decimals, not {text!r}"
            fraction = fraction[:exponent]
        value = int(whole) * self.scale + (int(fraction.ljust(exponent, "0")) if exponent else 0)
        if negative and value:
            return -value if signed else "must not be negative"
        return value

    def known_minor(self, text: str) -> int | str:
        """``minor``, remembered."""
        found = self.known.get(text)
        if found is None:
            found = self.minor(text)
            if len(self.known) < 10_000:
                self.known[text] = found
        return found


_MONEY: dict[str, _Money] = {}


# -- purchases -------------------------------------------------------------------------------------


def _member_fields(member: dict[str, Any], field: str, errors: Errors) -> MemberRef | None:
    mine: Errors = []
    member_id = _field(member, "id", field, mine, _MEMBER_ID, _OPTIONAL)
    identity = _field(member, "identity", field, mine, _IDENTITY, _OPTIONAL)
    if mine or errors:  # errors: an unknown field
        errors.extend(mine)
        return None
    if ("id" in member) == ("identity" in member):
        errors.append((field, "give the member's id or one identity (kind:value)"))
        return None
    if member_id is not None:
        return MemberRef(member_id=member_id)
    try:
        return MemberRef(identity=Identity.parse(identity))
    except InvalidIdentity as error:
        errors.append((f"{field}.identity", error.detail))
        return None


def _is_text(value: Any, longest: int) -> bool:
    """Whether ``_text(1, longest)`` accepts ``value``."""
    return (
        value.__class__ is str
        and 0 < len(value) <= longest
        and _CONTROL_CHARACTERS.search(value) is None
    )


def _is_amount(value: Any) -> bool:
    """Whether ``_AMOUNT`` accepts ``value`` (``fullmatch``: no trailing line break, which is a
    control character)."""
    return value.__class__ is str and _EXACT_AMOUNT(value) is not None


_LINE_FIELDS = frozenset({"sku", "category", "quantity", "unit_price", "discount", "tax", "tags"})


def _line_fields(line: dict[str, Any], field: str, errors: Errors) -> dict[str, Any]:
    return {
        "sku": _field(line, "sku", field, errors, _SHORT_TEXT),
        "category": _field(line, "category", field, errors, _SHORT_TEXT, None),
        "quantity": _field(line, "quantity", field, errors, _QUANTITY),
        "unit_price": _field(line, "unit_price", field, errors, _AMOUNT),
        "discount": _field(line, "discount", field, errors, _AMOUNT, "0"),
        "tax": _field(line, "tax", field, errors, _AMOUNT, "0"),
        "tags": _field(line, "tags", field, errors, _LABELS, ()),
    }


_CHECKED_LINE = _object(_LINE_FIELDS, _line_fields)


def _line(line: Any, field: str, errors: Errors) -> dict[str, Any] | None:
    """A purchase line; the common case (a good one) is checked without a call per field."""
    if line.__class__ is dict and line.keys() <= _LINE_FIELDS:
        get = line.get
        sku, quantity, category = get("sku"), get("quantity"), get("category")
        discount, tax, tags = get("discount", "0"), get("tax", "0"), get("tags", ())
        if (
            _is_text(sku, 64)
            and quantity.__class__ is int
            and 1 <= quantity <= 100_000
            and _is_amount(get("unit_price"))
            and (category is None or _is_text(category, 64))
            and _is_amount(discount)
            and _is_amount(tax)
            and (
                tags == ()
                or (
                    tags.__class__ is list
                    and len(tags) <= 20
                    and all(_is_text(tag, 64) for tag in tags)
                )
            )
        ):
            return {
                "sku": sku,
                "category": category,
                "quantity": quantity,
                "unit_price": line["unit_price"],
                "discount": discount,
                "tax": tax,
                "tags": tags,
            }
    return _CHECKED_LINE(line, field, errors)  # type: ignore[no-any-return]


_TOTALS = _object(
    frozenset({"total", "tax", "discount"}),
    lambda totals, field, errors: {
        name: _field(totals, name, field, errors, _AMOUNT)
        for name in ("total", "tax", "discount")
        if name in totals
    },
)
_PAYMENTS = _object(
    frozenset({"gift_cards"}),
    lambda payments, field, errors: _field(payments, "gift_cards", field, errors, _AMOUNT, "0"),
)
_PURCHASE_FIELDS = frozenset(
    {
        "member",
        "external_id",
        "source",
        "occurred_at",
        "channel",
        "store",
        "currency",
        "lines",
        "shipping",
        "totals",
        "promo_codes",
        "payments",
        "points_to_burn",
    }
)
_MEMBER = _object(frozenset({"id", "identity"}), _member_fields)
_LINES = _list(_line, 1, 500)
_TOO_LARGE = "quantity x unit_price is larger than any amount this engine takes"


def purchase_errors_or_command(payload: dict[str, Any], program_id: str) -> RecordPurchase | Errors:
    """The ``RecordPurchase`` of a ``POST .../purchases`` body, or its errors."""
    errors: Errors = []
    for name in payload.keys() - _PURCHASE_FIELDS:
        errors.append((name, _UNKNOWN))
    member = _field(payload, "member", "", errors, _MEMBER)
    external_id = _field(payload, "external_id", "", errors, _EXTERNAL_ID)
    source = _field(payload, "source", "", errors, _SHORT_TEXT, "default")
    occurred_at = _field(payload, "occurred_at", "", errors, _instant)
    channel = _field(payload, "channel", "", errors, _CHANNEL, "pos")
    store = _field(payload, "store", "", errors, _SHORT_TEXT, None)
    currency = _field(payload, "currency", "", errors, _CURRENCY)
    lines = _field(payload, "lines", "", errors, _LINES)
    shipping = _field(payload, "shipping", "", errors, _AMOUNT, "0")
    totals = _field(payload, "totals", "", errors, _TOTALS, {})
    promo_codes = _field(payload, "promo_codes", "", errors, _LABELS, ())
    gift_cards = _field(payload, "payments", "", errors, _PAYMENTS, "0")
    points_to_burn = _field(payload, "points_to_burn", "", errors, _POINTS_TO_BURN, 0)
    if errors:
        return errors
    # As the schema's post_load: every amount in minor units of the currency, naming the field.
    money = _Money.of(currency)

    def minor(text: str, field: str) -> int:
        if text == "0":
            return 0
        value = money.known_minor(text)
        if value.__class__ is str:
            errors.append((field, value))  # type: ignore[arg-type]
            return 0
        return value  # type: ignore[return-value]

    purchase_lines = []
    for index, line in enumerate(lines):
        purchase_line = PurchaseLine(
            sku=line["sku"],
            quantity=line["quantity"],
            unit_price=minor(line["unit_price"], f"lines.{index}.unit_price"),
            discount=minor(line["discount"], f"lines.{index}.discount"),
            tax=minor(line["tax"], f"lines.{index}.tax"),
            category=line["category"],
            tags=tuple(line["tags"]),
        )
        if purchase_line.quantity * purchase_line.unit_price > MAX_MINOR_UNITS:
            errors.append((f"lines.{index}.unit_price", _TOO_LARGE))
        purchase_lines.append(purchase_line)
    amounts = {name: minor(value, f"totals.{name}") for name, value in totals.items()}
    shipping_minor = minor(shipping, "shipping")
    gift_cards_minor = minor(gift_cards, "payments.gift_cards")
    if (
        not errors
        and sum(line.amount for line in purchase_lines) + shipping_minor > MAX_MINOR_UNITS
    ):
        errors.append(("lines", "the basket is larger than any amount this engine takes"))
    if errors:
        return errors
    return RecordPurchase(
        program_id=program_id,
        member=member,
        external_id=external_id,
        source=source,
        occurred_at=occurred_at,
        channel=channel,
        store=store,
        currency=currency,
        lines=tuple(purchase_lines),
        shipping=shipping_minor,
        totals=DeclaredTotals(**amounts) if amounts else DeclaredTotals(),
        promo_codes=tuple(promo_codes),
        points_to_burn=points_to_burn,
        paid_with_gift_cards=gift_cards_minor,
    )


# -- returns ---------------------------------------------------------------------------------------

_RETURN_FIELDS = frozenset(
    {"purchase", "external_id", "occurred_at", "lines", "amount", "currency"}
)
_PURCHASE_REF = _object(
    frozenset({"source", "external_id"}),
    lambda purchase, field, errors: (
        _field(purchase, "source", field, errors, _SHORT_TEXT, "default"),
        _field(purchase, "external_id", field, errors, _EXTERNAL_ID),
    ),
)
_RETURN_LINES = _list(
    _object(
        frozenset({"sku", "quantity"}),
        lambda line, field, errors: (
            _field(line, "sku", field, errors, _SHORT_TEXT),
            _field(line, "quantity", field, errors, _QUANTITY),
        ),
    ),
    1,
    500,
)


def return_errors_or_command(payload: dict[str, Any], program_id: str) -> ImportReturn | Errors:
    """The ``ImportReturn`` of a return row (a ``POST .../returns`` body and ``purchase``),
    or its errors."""
    errors: Errors = []
    for name in payload.keys() - _RETURN_FIELDS:
        errors.append((name, _UNKNOWN))
    purchase = _field(payload, "purchase", "", errors, _PURCHASE_REF)
    external_id = _field(payload, "external_id", "", errors, _EXTERNAL_ID)
    occurred_at = _field(payload, "occurred_at", "", errors, _instant, None)
    lines = _field(payload, "lines", "", errors, _RETURN_LINES, _OPTIONAL)
    amount = _field(payload, "amount", "", errors, _AMOUNT, _OPTIONAL)
    currency = _field(payload, "currency", "", errors, _CURRENCY, _OPTIONAL)
    if errors:
        return errors
    if ("lines" in payload) == ("amount" in payload):
        return [("", "give returned lines or an amount")]
    if "amount" in payload and "currency" not in payload:
        return [("currency", "an amount comes with its currency")]
    units = None
    if lines is not None:
        units = {}
        for sku, quantity in lines:
            units[sku] = units.get(sku, 0) + quantity
    minor = None
    if amount is not None:
        # A negative amount is the use case's to refuse, as over the API.
        minor = _Money(currency).minor(amount, signed=True)
        if isinstance(minor, str):
            return [("amount", minor)]
    source, purchase_external_id = purchase
    return ImportReturn(
        program_id=program_id,
        purchase_source=source,
        purchase_external_id=purchase_external_id,
        external_id=external_id,
        occurred_at=occurred_at,
        lines=units,
        amount=minor,
        currency=currency,
    )


# -- rows ------------------------------------------------------------------------------------------


def describe(errors: Errors) -> str:
    """A row's errors as one line: ``lines.0.quantity: Not a valid integer.; currency: ...``."""
    return "; ".join(f"{field or 'row'}: {detail}" for field, detail in errors)


def row_command(payload: Any, program_id: str) -> Command | str:
    """The command of one file row (a JSON object), or why it cannot be one."""
    if not isinstance(payload, dict):
        return "a row is a JSON object"
    kind = payload.get("type", "purchase")
    if kind == "purchase":
        if "type" in payload:
            payload = {key: value for key, value in payload.items() if key != "type"}
        found: Command | Errors = purchase_errors_or_command(payload, program_id)
    elif kind == "return":
        found = return_errors_or_command(
            {key: value for key, value in payload.items() if key != "type"}, program_id
        )
    else:
        return "type: a row is a purchase or a return"
    return describe(found) if isinstance(found, list) else found


# A file is read as UTF-8 with ``errors="surrogateescape"`` (``open_rows``): bytes that do not
# decode become lone surrogates, which no decoded text holds, and only their row is refused.
_UNDECODED = re.compile("[\udc80-\udcff]")
NOT_UTF8 = "not UTF-8 text: the row holds bytes that do not decode"


def open_rows(path: str) -> IO[str]:
    """The import file, for ``read_rows``: a row with bytes that are not UTF-8 is refused,
    not the whole file."""
    return open(path, newline="", encoding="utf-8", errors="surrogateescape")


def read_rows(
    handle: IO[str], file_format: str, program_id: str
) -> Iterator[tuple[int, Command | str]]:
    """(line number, command or why the row is unreadable), streamed."""
    if file_format == "jsonl":
        loads = orjson.loads
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            if _UNDECODED.search(text):
                yield number, NOT_UTF8
                continue
            try:
                payload = loads(text)
            except orjson.JSONDecodeError as error:
                yield number, f"not JSON: {error}"
                continue
            yield number, row_command(payload, program_id)
        return
    reader = csv.DictReader(handle)
    group: list[dict[str, str]] = []
    key: tuple[str, str, str] | None = None
    first_line = 2
    if any(_UNDECODED.search(name) for name in reader.fieldnames or ()):
        yield 1, f"the header: {NOT_UTF8}"
        return
    undecoded = False  # a row of the group holds bytes that are not UTF-8: all of it is refused
    for number, row in enumerate(reader, start=2):
        kind = row.get("type") or "purchase"
        row_key = (
            kind,
            (row.get("source") or "") if kind == "purchase" else "",
            row.get("external_id") or "",
        )
        if group and row_key != key:
            yield first_line, NOT_UTF8 if undecoded else _csv_command(group, program_id)
            group, first_line, undecoded = [], number, False
        group.append(row)
        key = row_key
        undecoded = undecoded or any(_UNDECODED.search(value) for value in row.values()
                                     if isinstance(value, str))
    if group:
        yield first_line, NOT_UTF8 if undecoded else _csv_command(group, program_id)


def _csv_command(rows: list[dict[str, str]], program_id: str) -> Command | str:
    kind = rows[0].get("type") or "purchase"
    if kind == "return":
        payload = _csv_return(rows)
        if isinstance(payload, str):
            return payload
        found: Command | Errors = return_errors_or_command(payload, program_id)
    elif kind == "purchase":
        found = purchase_errors_or_command(_csv_purchase(rows), program_id)
    else:
        return "type: a row is a purchase or a return"
    return describe(found) if isinstance(found, list) else found


def _csv_quantity(text: str | None) -> Any:
    """A CSV cell of ASCII digits is an integer; anything else stays text (and is refused as
    the API refuses ``"quantity": "2"``)."""
    return int(text) if text and _CSV_INTEGER(text) else text


def _csv_purchase(rows: list[dict[str, str]]) -> dict[str, Any]:
    head = rows[0]
    member = (
        {"id": head["member_id"]}
        if head.get("member_id")
        else {"identity": head.get("identity", "")}
    )
    payload: dict[str, Any] = {
        "member": member,
        "external_id": head.get("external_id", ""),
        "occurred_at": head.get("occurred_at", ""),
        "currency": head.get("currency", ""),
        "lines": [],
    }
    for key in ("source", "channel", "store", "shipping"):
        if head.get(key):
            payload[key] = head[key]
    for row in rows:
        line: dict[str, Any] = {
            "sku": row.get("sku", ""),
            "unit_price": row.get("unit_price"),
            "quantity": _csv_quantity(row.get("quantity")),
        }
        for key in ("category", "discount", "tax"):
            if row.get(key):
                line[key] = row[key]
        if row.get("tags"):
            line["tags"] = row["tags"].split(";")
        payload["lines"].append(line)
    return payload


def _csv_return(rows: list[dict[str, str]]) -> dict[str, Any] | str:
    head = rows[0]
    purchase = {"external_id": head.get("purchase_external_id", "")}
    if head.get("purchase_source"):
        purchase["source"] = head["purchase_source"]
    payload: dict[str, Any] = {"purchase": purchase, "external_id": head.get("external_id", "")}
    if head.get("occurred_at"):
        payload["occurred_at"] = head["occurred_at"]
    if any(row.get("amount") for row in rows):
        if len(rows) > 1 or head.get("sku"):
            return (
                "amount: a return is its returned lines (sku and quantity), or one row "
                "with an amount"
            )
        # The currency column is the purchases': it only means something with an amount.
        return {**payload, "amount": head["amount"], "currency": head.get("currency", "")}
    payload["lines"] = [
        {"sku": row.get("sku", ""), "quantity": _csv_quantity(row.get("quantity"))} for row in rows
    ]
    return payload

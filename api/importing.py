"""Reading purchase files for the importer: the same schema as the API, row by row.

JSON Lines: each line is the body of ``POST /v1/programs/{program}/purchases``. CSV: one row
per purchase line, with the columns ``external_id, source, member_id, identity, occurred_at,
channel, store, currency, sku, category, quantity, unit_price, discount, tax, shipping``;
consecutive rows with the same ``source`` and ``external_id`` make one purchase.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, Any

import marshmallow as ma

from api.errors import flatten
from api.schemas import PurchaseSchema
from loyalty.services.purchases import RecordPurchase

_SCHEMA = PurchaseSchema()


def _command(payload: Any, program_id: str) -> RecordPurchase | str:
    if not isinstance(payload, dict):
        return "a row is a JSON object"
    try:
        data = _SCHEMA.load(payload)
    except ma.ValidationError as error:
        return "; ".join(f"{e['field'] or 'row'}: {e['detail']}" for e in flatten(error.messages))
    return RecordPurchase(program_id=program_id, **data)


def read_rows(handle: IO[str], file_format: str, program_id: str
              ) -> Iterator[tuple[int, RecordPurchase | str]]:
    """(line number, command or why the row is unreadable), streamed."""
    if file_format == "jsonl":
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                payload = json.loads(text)
            except json.JSONDecodeError as error:
                yield number, f"not JSON: {error.msg}"
                continue
            yield number, _command(payload, program_id)
        return
    reader = csv.DictReader(handle)
    group: list[dict[str, str]] = []
    first_line = 2
    for number, row in enumerate(reader, start=2):
        if group and (row.get("source"), row.get("external_id")) != (
                group[0].get("source"), group[0].get("external_id")):
            yield first_line, _command(_csv_payload(group), program_id)
            group, first_line = [], number
        group.append(row)
    if group:
        yield first_line, _command(_csv_payload(group), program_id)


def _csv_payload(rows: list[dict[str, str]]) -> dict[str, Any]:
    head = rows[0]
    member = ({"id": head["member_id"]} if head.get("member_id")
              else {"identity": head.get("identity", "")})
    payload: dict[str, Any] = {
        "member": member, "external_id": head.get("external_id", ""),
        "occurred_at": head.get("occurred_at", ""), "currency": head.get("currency", ""),
        "lines": [],
    }
    for key in ("source", "channel", "store", "shipping"):
        if head.get(key):
            payload[key] = head[key]
    for row in rows:
        line: dict[str, Any] = {"sku": row.get("sku", ""), "unit_price": row.get("unit_price")}
        try:
            line["quantity"] = int(row.get("quantity") or "")
        except ValueError:
            line["quantity"] = row.get("quantity")
        for key in ("category", "discount", "tax"):
            if row.get(key):
                line[key] = row[key]
        payload["lines"].append(line)
    return payload

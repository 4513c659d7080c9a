"""The demo data generator: a seeded, realistic stream of purchases and returns, and the files
the importer reads."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.importing import read_rows
from loyalty.domain.errors import InvalidRequest
from loyalty.services.generator import (
    CSV_COLUMNS,
    GeneratedPurchase,
    GeneratedReturn,
    GeneratorConfig,
    apportion,
    basket_sizes,
    generate,
    member_ids,
    purchase_command,
    return_command,
    write_file,
)

END = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def config(**changes) -> GeneratorConfig:
    fields = {
        "program_id": "fashion",
        "members": 400,
        "purchases": 4000,
        "days": 365,
        "end": END,
        "seed": 7,
        "currency": "EUR",
        "time_zone": "Europe/Paris",
    }
    fields.update(changes)
    return GeneratorConfig(**fields)


@pytest.fixture(scope="module")
def stream() -> list[GeneratedPurchase | GeneratedReturn]:
    return list(generate(config()))


def purchases_of(items) -> list[GeneratedPurchase]:
    return [item for item in items if isinstance(item, GeneratedPurchase)]


def returns_of(items) -> list[GeneratedReturn]:
    return [item for item in items if isinstance(item, GeneratedReturn)]


def test_the_same_seed_gives_the_same_stream_and_another_seed_another(stream):
    assert list(generate(config())) == stream
    other = list(generate(config(seed=8)))
    assert [p.occurred_at for p in purchases_of(other)] != [
        p.occurred_at for p in purchases_of(stream)
    ]
    assert member_ids("fashion", 7, 5) == member_ids("fashion", 7, 400)[:5]


def test_the_stream_has_exactly_the_purchases_asked_in_time_order_within_the_period(stream):
    purchases = purchases_of(stream)
    assert len(purchases) == 4000
    assert [p.number for p in purchases] == list(range(1, 4001))
    times = [item.occurred_at for item in stream]
    assert times == sorted(times)
    assert END - timedelta(days=365) <= times[0] and times[-1] < END
    assert len({(p.source, p.external_id) for p in purchases}) == 4000


def test_about_one_purchase_in_twenty_is_returned_later_by_lines_or_by_amount(stream):
    purchases = {(p.source, p.external_id): p for p in purchases_of(stream)}
    returns = returns_of(stream)
    assert 0.04 <= len(returns) / len(purchases) <= 0.06
    by_amount = [r for r in returns if r.amount is not None]
    assert 0.1 <= len(by_amount) / len(returns) <= 0.3
    for returned in returns:
        purchase = purchases[(returned.purchase_source, returned.purchase_external_id)]
        assert purchase.occurred_at + timedelta(hours=1) <= returned.occurred_at < END
        if returned.lines is not None:
            bought = {line.sku: line.quantity for line in purchase.lines}
            assert all(0 < units <= bought[sku] for sku, units in returned.lines)
        else:
            assert 0 < returned.amount <= purchase.lines_total  # shipping is not refunded


def test_weekends_are_busier_than_weekdays_and_stores_keep_opening_hours(stream):
    purchases = purchases_of(stream)
    by_weekday = Counter(p.occurred_at.astimezone(PARIS).weekday() for p in purchases)
    weekday_average = sum(by_weekday[d] for d in range(5)) / 5
    weekend_average = (by_weekday[5] + by_weekday[6]) / 2
    assert weekend_average > 1.2 * weekday_average
    for purchase in purchases:
        local = purchase.occurred_at.astimezone(PARIS)
        if purchase.channel == "pos":
            assert 10 <= local.hour < 20 and local.weekday() < 6
            assert purchase.store is not None
        else:
            assert purchase.store is None


def test_december_outsells_february(stream):
    by_month = Counter(p.occurred_at.astimezone(PARIS).month for p in purchases_of(stream))
    assert by_month[12] > 1.4 * by_month[2]


def test_several_stores_and_the_three_channels_take_orders_each_with_its_source(stream):
    purchases = purchases_of(stream)
    assert len({p.store for p in purchases if p.store}) >= 5
    channels = Counter(p.channel for p in purchases)
    assert set(channels) == {"pos", "web", "app"}
    assert channels["pos"] > channels["web"] > channels["app"]
    assert {(p.channel, p.source) for p in purchases} == {
        ("pos", "tills"),
        ("web", "webshop"),
        ("app", "app"),
    }


def test_a_few_members_buy_a_lot_many_a_little_and_some_never(stream):
    purchases = purchases_of(stream)
    per_member = Counter(p.member_index for p in purchases)
    assert 0.1 * 400 <= 400 - len(per_member) <= 0.3 * 400  # about a fifth never buy
    busiest = sorted(per_member.values(), reverse=True)
    top_fifth = sum(busiest[: 400 // 5])
    assert top_fifth / len(purchases) > 0.45


def test_baskets_have_one_to_five_lines_of_distinct_products_with_exact_amounts(stream):
    purchases = purchases_of(stream)
    sizes = Counter(len(p.lines) for p in purchases)
    assert set(sizes) == {1, 2, 3, 4, 5}
    assert sizes[1] > sizes[2] > sizes[3] > sizes[4] > sizes[5]
    for purchase in purchases:
        assert len({line.sku for line in purchase.lines}) == len(purchase.lines)
        for line in purchase.lines:
            amount = line.quantity * line.unit_price - line.discount
            assert amount > 0 and 0 <= line.tax <= amount
            assert all(isinstance(v, int) for v in (line.unit_price, line.discount, line.tax))
    categories = {line.category for p in purchases for line in p.lines}
    assert {"shoes", "denim", "accessories", "knitwear", "gift-cards"} <= categories
    assert any("new-collection" in line.tags for p in purchases for line in p.lines)


def test_the_bench_can_ask_for_baskets_of_exactly_five_lines():
    items = generate(config(purchases=300, basket_sizes=basket_sizes(5)))
    assert {len(p.lines) for p in purchases_of(items)} == {5}


def test_a_period_ending_now_never_yields_a_future_purchase_or_return():
    end = datetime(2026, 11, 24, 10, 15, 7, tzinfo=UTC)  # in the middle of a busy hour
    items = list(generate(config(purchases=2000, days=3, end=end)))
    assert max(item.occurred_at for item in items) < end
    assert len(purchases_of(items)) == 2000


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"members": 0}, "members"),
        ({"purchases": -1}, "purchases"),
        ({"days": 0}, "days"),
        ({"seed": -1}, "seed"),
        ({"basket_sizes": ()}, "basket_sizes"),
        ({"return_share": 1.5}, "return_share"),
    ],
)
def test_a_bad_configuration_is_an_error_naming_its_field(changes, field):
    with pytest.raises(InvalidRequest) as raised:
        config(**changes)
    assert raised.value.field == field


def test_purchases_are_apportioned_over_days_exactly():
    assert apportion(10, [1.0, 1.0, 1.0]) == [4, 3, 3]
    assert sum(apportion(1001, [0.3, 2.5, 1.1, 0.0])) == 1001


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_the_file_reads_back_through_the_importer_as_the_commands_of_the_database_mode(file_format):
    items = list(generate(config(members=50, purchases=400)))
    handle = io.StringIO(newline="")
    report = write_file(items, handle, file_format, "EUR")
    assert (report.purchases, report.returns) == (400, len(returns_of(items)))
    handle.seek(0)
    read = list(read_rows(handle, file_format, "fashion"))
    assert [line for line, _ in read] == _positions(handle.getvalue(), file_format)
    expected = [
        purchase_command("fashion", "EUR", item)
        if isinstance(item, GeneratedPurchase)
        else return_command("fashion", "EUR", item)
        for item in items
    ]
    assert [command for _, command in read] == expected


def _positions(text: str, file_format: str) -> list[int]:
    """The line on which each item of the stream starts (the header is line 1 of a CSV)."""
    if file_format == "jsonl":
        return list(range(1, len(text.splitlines()) + 1))
    rows = list(csv.DictReader(io.StringIO(text)))
    starts, previous = [], None
    for number, row in enumerate(rows, start=2):
        key = (row["type"], row["source"], row["external_id"])
        if key != previous:
            starts.append(number)
        previous = key
    return starts


def test_returns_are_written_in_the_documented_json_lines_format():
    items = list(generate(config(members=50, purchases=600)))
    handle = io.StringIO()
    write_file(items, handle, "jsonl", "EUR")
    rows = [json.loads(text) for text in handle.getvalue().splitlines()]
    returns = [row for row in rows if row.get("type") == "return"]
    assert len(returns) == len(returns_of(items)) > 0
    purchases = {(row["source"], row["external_id"]) for row in rows if "type" not in row}
    for row in returns:
        assert set(row) in (
            {"type", "purchase", "external_id", "occurred_at", "lines"},
            {"type", "purchase", "external_id", "occurred_at", "amount", "currency"},
        )
        assert (row["purchase"]["source"], row["purchase"]["external_id"]) in purchases
        assert row["occurred_at"].endswith("Z")
        if "lines" in row:
            assert all(set(line) == {"sku", "quantity"} for line in row["lines"])
        else:
            assert row["currency"] == "EUR" and row["amount"].count(".") == 1
    assert {"lines", "amount"} <= {key for row in returns for key in row}


def test_returns_are_written_in_the_documented_csv_format():
    items = list(generate(config(members=50, purchases=600)))
    handle = io.StringIO(newline="")
    write_file(items, handle, "csv", "EUR")
    rows = list(csv.DictReader(io.StringIO(handle.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    returns = [row for row in rows if row["type"] == "return"]
    by_id = {r.external_id: r for r in returns_of(items)}
    assert {row["external_id"] for row in returns} == set(by_id)
    for row in returns:
        returned = by_id[row["external_id"]]
        assert (row["purchase_source"], row["purchase_external_id"]) == (
            returned.purchase_source,
            returned.purchase_external_id,
        )
        assert row["currency"] == "EUR" and not row["member_id"] and not row["identity"]
        if returned.amount is not None:
            assert row["amount"] and not row["sku"]
        else:
            assert (row["sku"], int(row["quantity"])) in returned.lines and not row["amount"]
    assert {row["type"] for row in rows} == {"purchase", "return"}


def test_writing_an_unknown_format_is_refused():
    with pytest.raises(InvalidRequest):
        write_file([], io.StringIO(), "xml", "EUR")

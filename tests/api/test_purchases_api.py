"""Purchases posted over HTTP: the points they earn, idempotent replays, and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from tests.api.support import (
    SHOP,
    a_purchase_body,
    an_hour_ago,
    assert_problem,
    members_url,
    table_counts,
)
from tests.builders import a_member, a_program, earn

PURCHASES = f"{SHOP}/purchases"


def test_a_purchase_earns_points_on_its_net_amount_and_explains_them(client, ada, ctx):
    lines = [{"sku": "SHOE", "quantity": 2, "unit_price": "29.99", "discount": "5.00",
              "tax": "9.00", "category": "shoes"}]  # 54.98 paid, of which 9.00 of tax
    response = client.post(PURCHASES, json=a_purchase_body(external_id="TILL-7", lines=lines))
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    recorded = response.get_json()
    assert recorded["member_id"] == ada.id
    assert recorded["external_id"] == "TILL-7"
    assert (recorded["total"], recorded["earn_base"]) == ("54.98", "45.98")
    assert recorded["points_earned"] == 45  # floor(45.98)
    assert (recorded["points_available"], recorded["points_pending"]) == (45, 0)
    assert recorded["balance"] == {"available": 45, "pending": 0}
    assert "on 45.98 EUR (earn base), rounded floor = 45" in recorded["explanation"][-1]["text"]
    assert sum(line["points"] for line in recorded["explanation"]) == 45
    assert table_counts(ctx)["purchases"] == 1


def test_a_purchase_can_name_its_member_by_id(client, ada):
    response = client.post(PURCHASES, json=a_purchase_body(ada, "12.00"))
    assert response.status_code == 201
    assert response.get_json()["member_id"] == ada.id
    assert client.get(members_url(ada, "/balance")).get_json()["available"] == 12


def test_a_purchase_can_name_its_member_by_any_identity_as_the_till_types_it(client, ctx):
    a_program(ctx)
    ada = a_member(ctx, "email:ada@example.com")
    response = client.post(PURCHASES, json=a_purchase_body("email: Ada@Example.com ", "8.00"))
    assert response.status_code == 201
    assert response.get_json()["member_id"] == ada.id


def test_shipping_earns_nothing(client, ada):
    recorded = client.post(PURCHASES, json=a_purchase_body(amount="20.00", shipping="4.90"))
    assert recorded.status_code == 201
    assert recorded.get_json()["earn_base"] == "20.00"
    assert recorded.get_json()["points_earned"] == 20


def test_declared_totals_that_match_the_lines_are_accepted(client, ada):
    lines = [{"sku": "A", "quantity": 3, "unit_price": "2.50", "discount": "0.50", "tax": "1.00"}]
    totals = {"total": "7.00", "tax": "1.00", "discount": "0.50"}
    response = client.post(PURCHASES, json=a_purchase_body(lines=lines, totals=totals))
    assert response.status_code == 201
    assert response.get_json()["total"] == "7.00"


def test_a_purchase_too_small_to_earn_is_recorded_with_no_points(client, ada, ctx):
    response = client.post(PURCHASES, json=a_purchase_body(amount="0.99"))
    assert response.status_code == 201
    recorded = response.get_json()
    assert recorded["points_earned"] == 0 and recorded["expires_at"] is None
    counts = table_counts(ctx)
    assert (counts["purchases"], counts["ledger_entries"]) == (1, 0)


def test_posting_a_purchase_twice_replays_the_first_answer(client, ada, ctx):
    body = a_purchase_body(amount="20.00", external_id="TILL-7")
    first = client.post(PURCHASES, json=body)
    counts = table_counts(ctx)
    again = client.post(PURCHASES, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert table_counts(ctx) == counts
    assert client.get(members_url(ada, "/balance")).get_json()["available"] == 20


def test_a_replay_answers_the_original_body_even_after_the_balance_moved(client, ada, ctx):
    body = a_purchase_body(amount="20.00", external_id="TILL-7")
    first = client.post(PURCHASES, json=body).get_json()
    earn(ctx, ada, 5)
    again = client.post(PURCHASES, json=body)
    assert again.status_code == 200
    assert again.get_json() == first
    assert again.get_json()["balance"]["available"] == 20


def test_the_same_external_id_with_another_payload_is_refused_and_writes_nothing(
        client, ada, ctx):
    client.post(PURCHASES, json=a_purchase_body(amount="20.00", external_id="TILL-7"))
    before = table_counts(ctx)
    response = client.post(PURCHASES, json=a_purchase_body(amount="99.00", external_id="TILL-7"))
    problem = assert_problem(response, 422, "idempotency-key-reused")
    assert problem["key"].endswith("TILL-7")
    assert table_counts(ctx) == before
    assert client.get(members_url(ada, "/balance")).get_json()["available"] == 20


def test_the_same_external_id_from_another_source_is_another_purchase(client, ada):
    for source in ("store-1", "web"):
        body = a_purchase_body(amount="20.00", external_id="1", source=source)
        assert client.post(PURCHASES, json=body).status_code == 201
    assert client.get(members_url(ada, "/balance")).get_json()["available"] == 40


def test_retrying_with_the_same_idempotency_key_replays_the_first_answer(client, ada, ctx):
    body = a_purchase_body(amount="15.00")
    first = client.post(PURCHASES, json=body, headers={"Idempotency-Key": "k-1"})
    counts = table_counts(ctx)
    again = client.post(PURCHASES, json=body, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert table_counts(ctx) == counts


def test_a_quoted_idempotency_key_is_the_same_key(client, ada):
    body = a_purchase_body(amount="15.00")
    client.post(PURCHASES, json=body, headers={"Idempotency-Key": "k-1"})
    again = client.post(PURCHASES, json=body, headers={"Idempotency-Key": '"k-1"'})
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"


def test_an_idempotency_key_reused_for_another_purchase_is_refused_and_writes_nothing(
        client, ada, ctx):
    client.post(PURCHASES, json=a_purchase_body(amount="15.00"),
                headers={"Idempotency-Key": "k-1"})
    before = table_counts(ctx)
    response = client.post(PURCHASES, json=a_purchase_body(amount="15.00"),
                           headers={"Idempotency-Key": "k-1"})  # another external_id
    problem = assert_problem(response, 422, "idempotency-key-reused")
    assert problem["key"] == "k-1"
    assert table_counts(ctx) == before


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\there"])
def test_a_malformed_idempotency_key_is_refused_naming_the_header(client, ada, ctx, key):
    before = table_counts(ctx)
    response = client.post(PURCHASES, json=a_purchase_body(), headers={"Idempotency-Key": key})
    assert_problem(response, 422, "invalid-request", field="Idempotency-Key")
    assert table_counts(ctx) == before


def test_a_purchase_refused_before_writing_can_be_retried_with_the_same_key(client, ctx):
    a_program(ctx)
    body = a_purchase_body("card:4321", "30.00")
    refused = client.post(PURCHASES, json=body, headers={"Idempotency-Key": "k-9"})
    assert_problem(refused, 404, "member-not-found")
    a_member(ctx, "card:4321")
    retried = client.post(PURCHASES, json=body, headers={"Idempotency-Key": "k-9"})
    assert retried.status_code == 201
    assert retried.get_json()["points_earned"] == 30


@pytest.mark.parametrize("path", [
    "lines.0.unit_price", "lines.0.discount", "lines.0.tax", "shipping", "totals.total",
])
def test_a_money_amount_given_as_a_json_number_is_refused_naming_the_field(
        client, ada, ctx, path):
    body = with_value(a_purchase_body(amount="10.00", totals={}), path, 1.5)
    before = table_counts(ctx)
    assert_problem(client.post(PURCHASES, json=body), 422, "validation-error", field=path)
    assert table_counts(ctx) == before


@pytest.mark.parametrize("path", [
    "lines.0.unit_price", "lines.0.discount", "lines.0.tax", "shipping", "totals.tax",
])
def test_an_amount_with_more_decimals_than_the_currency_has_is_refused_naming_the_field(
        client, ada, ctx, path):
    body = with_value(a_purchase_body(amount="10.00", totals={}), path, "1.234")
    before = table_counts(ctx)
    problem = assert_problem(client.post(PURCHASES, json=body), 422, "validation-error",
                             field=path)
    assert "1.234" in problem["detail"]
    assert table_counts(ctx) == before


def test_a_yen_amount_with_decimals_is_refused(client, ctx):
    a_program(ctx, "tokyo", currency="JPY", time_zone="Asia/Tokyo")
    a_member(ctx, "card:1234", program_id="tokyo")
    body = a_purchase_body(amount="100.50", currency="JPY")
    response = client.post("/v1/programs/tokyo/purchases", json=body)
    assert_problem(response, 422, "validation-error", field="lines.0.unit_price")


@pytest.mark.parametrize("path, value", [
    ("lines.0.unit_price", "-1.00"), ("lines.0.unit_price", "12,50"),
    ("lines.0.unit_price", "1e3"), ("shipping", "-4.90"),
])
def test_an_amount_that_is_not_a_positive_decimal_string_is_refused_naming_it(
        client, ada, path, value):
    body = with_value(a_purchase_body(), path, value)
    assert_problem(client.post(PURCHASES, json=body), 422, "validation-error", field=path)


def test_a_discount_larger_than_the_price_is_refused_naming_it(client, ada, ctx):
    lines = [{"sku": "A", "quantity": 1, "unit_price": "1.00", "discount": "2.00"}]
    response = client.post(PURCHASES, json=a_purchase_body(lines=lines))
    assert_problem(response, 422, "invalid-request", field="lines.0.discount")
    assert table_counts(ctx)["purchases"] == 0


def test_a_tax_larger_than_the_line_amount_is_refused_naming_it(client, ada, ctx):
    lines = [{"sku": "A", "quantity": 1, "unit_price": "1.00", "tax": "2.00"}]
    response = client.post(PURCHASES, json=a_purchase_body(lines=lines))
    assert_problem(response, 422, "invalid-request", field="lines.0.tax")
    assert table_counts(ctx)["purchases"] == 0


def test_declared_totals_that_do_not_match_the_lines_are_refused_naming_the_total(
        client, ada, ctx):
    body = a_purchase_body(amount="10.00", totals={"total": "11.00"})
    problem = assert_problem(client.post(PURCHASES, json=body), 422, "invalid-request",
                             field="totals.total")
    assert "10.00" in problem["detail"]
    assert table_counts(ctx)["purchases"] == 0


@pytest.mark.parametrize("currency, code", [
    ("USD", "currency-mismatch"), ("eur", "validation-error"),
])
def test_a_purchase_in_another_currency_is_refused_naming_the_currency(
        client, ada, ctx, currency, code):
    response = client.post(PURCHASES, json=a_purchase_body(currency=currency))
    assert_problem(response, 422, code, field="currency")
    assert table_counts(ctx)["purchases"] == 0


@pytest.mark.parametrize("path", [
    "coupon", "lines.0.colour", "totals.grand_total", "member.card",
])
def test_an_unknown_field_is_refused_naming_it(client, ada, ctx, path):
    body = with_value(a_purchase_body(totals={}), path, "x")
    assert_problem(client.post(PURCHASES, json=body), 422, "validation-error", field=path)
    assert table_counts(ctx)["purchases"] == 0


@pytest.mark.parametrize("path", [
    "member", "external_id", "occurred_at", "currency", "lines",
    "lines.0.sku", "lines.0.quantity", "lines.0.unit_price",
])
def test_a_missing_required_field_is_refused_naming_it(client, ada, path):
    body = a_purchase_body()
    *parents, leaf = path.split(".")
    node = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    del node[leaf]
    assert_problem(client.post(PURCHASES, json=body), 422, "validation-error", field=path)


@pytest.mark.parametrize("path, value", [
    ("lines", []), ("lines.0.quantity", 0), ("lines.0.quantity", "2"),
    ("lines.0.quantity", 1.5), ("channel", "Point of Sale"), ("external_id", ""),
])
def test_a_malformed_field_is_refused_naming_it(client, ada, ctx, path, value):
    body = with_value(a_purchase_body(), path, value)
    assert_problem(client.post(PURCHASES, json=body), 422, "validation-error", field=path)
    assert table_counts(ctx)["purchases"] == 0


def test_a_purchase_without_a_time_zone_offset_is_refused_naming_occurred_at(client, ada):
    body = a_purchase_body(occurred_at="2026-01-15T10:00:00")
    assert_problem(client.post(PURCHASES, json=body), 422, "validation-error",
                   field="occurred_at")


def test_a_purchase_dated_in_the_future_is_refused_naming_occurred_at(client, ada, ctx):
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = client.post(PURCHASES, json=a_purchase_body(occurred_at=tomorrow))
    assert_problem(response, 422, "invalid-request", field="occurred_at")
    assert table_counts(ctx)["purchases"] == 0


@pytest.mark.parametrize("occurred_at", [
    "0001-01-01T00:30:00+01:00",  # 31 December of year 0 in UTC
    "9999-12-31T23:30:00-01:00",  # 1 January 10000 in UTC
])
def test_an_occurred_at_at_the_edge_of_the_calendar_is_refused_naming_it(
        client, ada, ctx, occurred_at):
    response = client.post(PURCHASES, json=a_purchase_body(occurred_at=occurred_at))
    assert_problem(response, 422, "validation-error", field="occurred_at")
    assert table_counts(ctx)["purchases"] == 0


def test_a_basket_whose_total_cannot_be_stored_is_refused_not_a_server_error(client, ada, ctx):
    # Each field is within its own limits, but 100 000 x 999 999 999 999 999.99 EUR is more
    # minor units than a 64-bit column holds.
    lines = [{"sku": "A", "quantity": 100_000, "unit_price": "999999999999999.99"}]
    response = client.post(PURCHASES, json=a_purchase_body(lines=lines))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert any(error["field"].startswith("lines.0") for error in response.get_json()["errors"])
    assert table_counts(ctx)["purchases"] == 0


def test_an_external_id_holding_a_nul_character_is_refused_naming_it(client, ada, ctx):
    # PostgreSQL cannot store U+0000 in text: the API must refuse it on every database alike.
    response = client.post(PURCHASES, json=a_purchase_body(external_id="TILL\u00007"))
    assert_problem(response, 422, "validation-error", field="external_id")
    assert table_counts(ctx)["purchases"] == 0


@pytest.mark.parametrize("member", [{}, {"id": "mem_x", "identity": "card:1234"}])
def test_a_purchase_must_name_its_member_exactly_once(client, ada, member):
    response = client.post(PURCHASES, json=a_purchase_body(member))
    assert_problem(response, 422, "validation-error", field="member")


def test_a_purchase_naming_a_malformed_identity_is_refused_naming_it(client, ada):
    response = client.post(PURCHASES, json=a_purchase_body({"identity": "1234"}))
    assert_problem(response, 422, "validation-error", field="member.identity")


def test_a_purchase_for_an_unknown_identity_is_a_member_not_found_problem(client, ada, ctx):
    before = table_counts(ctx)
    response = client.post(PURCHASES, json=a_purchase_body("card:9999"))
    assert_problem(response, 404, "member-not-found", field="member")
    assert table_counts(ctx) == before


def test_a_purchase_for_an_unknown_member_id_is_a_member_not_found_problem(client, ada, ctx):
    before = table_counts(ctx)
    response = client.post(PURCHASES, json=a_purchase_body({"id": "mem_nobody"}))
    assert_problem(response, 404, "member-not-found", field="member")
    assert table_counts(ctx) == before


def test_a_purchase_for_a_member_of_another_program_is_refused(client, ctx):
    a_program(ctx)
    a_program(ctx, "cafe")
    grace = a_member(ctx, "card:5678", program_id="cafe")
    response = client.post(PURCHASES, json=a_purchase_body(grace))
    assert_problem(response, 404, "member-not-found")
    assert table_counts(ctx)["purchases"] == 0


def test_a_purchase_in_an_unknown_program_is_a_program_not_found_problem(client, ada, ctx):
    before = table_counts(ctx)
    response = client.post("/v1/programs/nowhere/purchases", json=a_purchase_body())
    assert_problem(response, 404, "program-not-found")
    assert table_counts(ctx) == before


@freeze_time("2026-03-10 12:00:00")
def test_with_a_return_window_the_points_wait_as_pending(client, ctx):
    a_program(ctx, pending={"days": 30})
    ada = a_member(ctx, "card:1234")
    response = client.post(PURCHASES, json=a_purchase_body(amount="25.00"))
    recorded = response.get_json()
    assert (recorded["points_pending"], recorded["points_available"]) == (25, 0)
    assert recorded["available_at"] == "2026-04-09T11:00:00+00:00"  # posted at 11:00 UTC
    assert recorded["balance"] == {"available": 0, "pending": 25}
    balance = client.get(members_url(ada, "/balance")).get_json()
    assert balance["pending_releases"] == [
        {"points": 25, "available_at": "2026-04-09T11:00:00+00:00"}]


@freeze_time("2026-01-15 10:00:00")
def test_earned_points_carry_the_programs_expiry(client, ctx):
    a_program(ctx, expiry={"mode": "after", "period": 12, "unit": "months",
                           "rounding": "end_of_month"})
    a_member(ctx, "card:1234")
    response = client.post(PURCHASES, json=a_purchase_body(occurred_at=an_hour_ago()))
    # usable through 31 January 2027 in Paris: expires at its end, 23:00 UTC.
    assert response.get_json()["expires_at"] == "2027-01-31T23:00:00+00:00"


def with_value(body: dict, path: str, value: object) -> dict:
    """``body`` with the field at ``path`` ("lines.0.tax") set to ``value``."""
    *parents, leaf = path.split(".")
    node = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[int(leaf) if isinstance(node, list) else leaf] = value
    return body

"""A member's points over HTTP: the balance, the ledger pages, and debits."""

from __future__ import annotations

import base64

import pytest
from freezegun import freeze_time

from tests.api.support import assert_problem, members_url, table_counts
from tests.builders import a_member, a_program, debit, earn

EXPIRING_YEARLY = {"mode": "after", "period": 12, "unit": "months", "rounding": "end_of_month"}


def balance_of(client, member) -> dict:
    response = client.get(members_url(member, "/balance"))
    assert response.status_code == 200
    return response.get_json()


def ledger_of(client, member, **query) -> dict:
    response = client.get(members_url(member, "/ledger"), query_string=query)
    assert response.status_code == 200
    return response.get_json()


# -- balance ------------------------------------------------------------------------------


def test_a_new_member_has_an_empty_balance_and_ledger(client, ada):
    balance = balance_of(client, ada)
    assert balance["member_id"] == ada.id and balance["status"] == "active"
    assert (balance["available"], balance["pending"], balance["lifetime_earned"]) == (0, 0, 0)
    assert balance["next_expiries"] == [] and balance["pending_releases"] == []
    assert ledger_of(client, ada) == {"entries": [], "next_cursor": None}


def test_the_balance_counts_what_was_earned_and_spent(client, ada, ctx):
    earn(ctx, ada, 30)
    earn(ctx, ada, 12)
    debit(ctx, ada, 10)
    balance = balance_of(client, ada)
    assert (balance["available"], balance["pending"]) == (32, 0)
    assert (balance["lifetime_earned"], balance["lifetime_redeemed"]) == (42, 10)
    assert balance["lifetime_expired"] == 0


@freeze_time("2026-01-15 10:00:00")
def test_the_balance_lists_the_next_expiries_with_their_last_usable_day(client, ctx):
    a_program(ctx, expiry=EXPIRING_YEARLY)
    ada = a_member(ctx)
    earn(ctx, ada, 10)
    balance = balance_of(client, ada)
    assert balance["as_of"] == "2026-01-15T10:00:00+00:00"
    assert balance["next_expiries"] == [{"points": 10, "expires_at": "2027-01-31T23:00:00+00:00",
                                         "last_usable_day": "2027-01-31"}]


@freeze_time("2026-03-10 12:00:00")
def test_the_balance_shows_pending_points_apart_from_available_ones(client, ctx):
    a_program(ctx, pending={"days": 30})
    ada = a_member(ctx)
    earn(ctx, ada, 25)
    balance = balance_of(client, ada)
    assert (balance["available"], balance["pending"]) == (0, 25)
    assert balance["pending_releases"] == [
        {"points": 25, "available_at": "2026-04-09T12:00:00+00:00"}]


@pytest.mark.parametrize("tail", ["/balance", "/ledger"])
def test_the_points_of_an_unknown_member_are_a_member_not_found_problem(client, ada, tail):
    assert_problem(client.get(members_url("mem_nobody", tail)), 404, "member-not-found")


@pytest.mark.parametrize("tail", ["/balance", "/ledger"])
def test_the_points_in_an_unknown_program_are_a_program_not_found_problem(client, ada, tail):
    response = client.get(f"/v1/programs/nowhere/members/{ada.id}{tail}")
    assert_problem(response, 404, "program-not-found")


def test_a_member_of_another_program_has_no_points_here(client, ctx):
    a_program(ctx)
    a_program(ctx, "cafe")
    grace = a_member(ctx, program_id="cafe")
    assert_problem(client.get(members_url(grace, "/balance")), 404, "member-not-found")


# -- ledger -------------------------------------------------------------------------------


def test_the_ledger_pages_newest_first_with_a_cursor(client, ada, ctx):
    for points in range(1, 6):
        earn(ctx, ada, points)
    pages = [ledger_of(client, ada, limit=2)]
    while pages[-1]["next_cursor"]:
        pages.append(ledger_of(client, ada, limit=2, cursor=pages[-1]["next_cursor"]))
    assert [len(page["entries"]) for page in pages] == [2, 2, 1]
    assert [e["points"] for page in pages for e in page["entries"]] == [5, 4, 3, 2, 1]


def test_every_ledger_entry_says_why_it_exists(client, ada, ctx):
    earned = earn(ctx, ada, 20, external_id="TILL-7")
    debit(ctx, ada, 5, external_id="D-1")
    spent, gained = ledger_of(client, ada)["entries"]
    assert (spent["kind"], spent["points"], spent["available_delta"]) == ("redeem", -5, -5)
    assert (spent["external_ref"], spent["reason"]) == ("D-1", "points debit")
    assert (gained["kind"], gained["points"]) == ("earn", 20)
    assert gained["reason"] == "earned 20 on order TILL-7"
    assert gained["purchase_id"] == earned.purchase_id
    assert gained["rule_id"] == "base-rate"
    assert gained["explanation"][-1]["points"] == 20


def test_a_ledger_limit_at_the_maximum_is_accepted(client, ada, ctx, settings):
    earn(ctx, ada, 3)
    page = ledger_of(client, ada, limit=settings.page_size_max)
    assert len(page["entries"]) == 1 and page["next_cursor"] is None


def test_a_ledger_limit_above_the_maximum_is_refused_naming_limit(client, ada, settings):
    response = client.get(members_url(ada, "/ledger"),
                          query_string={"limit": settings.page_size_max + 1})
    problem = assert_problem(response, 422, "invalid-request", field="limit")
    assert str(settings.page_size_max) in problem["detail"]


@pytest.mark.parametrize("limit", ["0", "-1", "ten", "2.5"])
def test_a_ledger_limit_that_is_not_a_positive_integer_is_refused_naming_limit(
        client, ada, limit):
    response = client.get(members_url(ada, "/ledger"), query_string={"limit": limit})
    assert_problem(response, 422, "validation-error", field="limit")


@pytest.mark.parametrize("cursor", ["not-a-cursor", base64.urlsafe_b64encode(b"x12").decode()])
def test_a_cursor_not_given_by_the_api_is_refused_naming_cursor(client, ada, cursor):
    response = client.get(members_url(ada, "/ledger"), query_string={"cursor": cursor})
    assert_problem(response, 422, "invalid-request", field="cursor")


def test_a_forged_cursor_beyond_any_entry_id_is_refused_naming_cursor(client, ada, ctx):
    # "e<id>" in base64 is the cursor's shape; an id past 64 bits was never given by the API.
    earn(ctx, ada, 3)
    forged = base64.urlsafe_b64encode(b"e" + b"9" * 25).decode().rstrip("=")
    response = client.get(members_url(ada, "/ledger"), query_string={"cursor": forged})
    assert_problem(response, 422, "invalid-request", field="cursor")


# -- debits -------------------------------------------------------------------------------


def test_a_debit_takes_points_and_answers_the_new_balance(client, ada, ctx):
    earn(ctx, ada, 50)
    response = client.post(members_url(ada, "/debits"),
                           json={"points": 20, "external_id": "D-1", "reason": "coffee"})
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    debited = response.get_json()
    assert (debited["member_id"], debited["external_id"]) == (ada.id, "D-1")
    assert (debited["points"], debited["available"], debited["pending"]) == (20, 30, 0)
    assert debited["taken_from"] == [{"points": 20, "expires_at": None}]
    assert balance_of(client, ada)["available"] == 30
    newest = ledger_of(client, ada, limit=1)["entries"][0]
    assert (newest["id"], newest["reason"]) == (debited["entry_id"], "coffee")


def test_a_debit_may_take_every_available_point(client, ada, ctx):
    earn(ctx, ada, 50)
    response = client.post(members_url(ada, "/debits"), json={"points": 50, "external_id": "D"})
    assert response.status_code == 201
    assert response.get_json()["available"] == 0


def test_a_debit_takes_the_soonest_expiring_points_first(client, ctx):
    with freeze_time("2026-01-15 10:00:00") as clock:
        a_program(ctx, expiry=EXPIRING_YEARLY)
        ada = a_member(ctx)
        earn(ctx, ada, 10)  # expires at the end of January 2027
        clock.move_to("2026-03-10 10:00:00")
        earn(ctx, ada, 20)  # expires at the end of March 2027
        response = client.post(members_url(ada, "/debits"),
                               json={"points": 15, "external_id": "D-1"})
    assert response.get_json()["taken_from"] == [
        {"points": 10, "expires_at": "2027-01-31T23:00:00+00:00"},
        {"points": 5, "expires_at": "2027-03-31T22:00:00+00:00"},
    ]


def test_debiting_more_than_available_is_refused_with_both_figures_and_writes_nothing(
        client, ada, ctx):
    earn(ctx, ada, 45)
    before = table_counts(ctx)
    response = client.post(members_url(ada, "/debits"),
                           json={"points": 100, "external_id": "D-1"})
    problem = assert_problem(response, 409, "insufficient-points")
    assert (problem["available"], problem["required"]) == (45, 100)
    assert table_counts(ctx) == before
    assert balance_of(client, ada)["available"] == 45


@freeze_time("2026-03-10 12:00:00")
def test_pending_points_cannot_be_debited(client, ctx):
    a_program(ctx, pending={"days": 30})
    ada = a_member(ctx)
    earn(ctx, ada, 25)
    response = client.post(members_url(ada, "/debits"), json={"points": 5, "external_id": "D"})
    problem = assert_problem(response, 409, "insufficient-points")
    assert (problem["available"], problem["required"]) == (0, 5)


def test_a_refused_debit_can_be_retried_once_points_are_earned(client, ada, ctx):
    body = {"points": 10, "external_id": "D-1"}
    assert_problem(client.post(members_url(ada, "/debits"), json=body), 409,
                   "insufficient-points")
    earn(ctx, ada, 10)
    assert client.post(members_url(ada, "/debits"), json=body).status_code == 201


def test_posting_a_debit_twice_replays_the_first_answer(client, ada, ctx):
    earn(ctx, ada, 50)
    body = {"points": 10, "external_id": "D-1"}
    first = client.post(members_url(ada, "/debits"), json=body)
    counts = table_counts(ctx)
    again = client.post(members_url(ada, "/debits"), json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert table_counts(ctx) == counts
    assert balance_of(client, ada)["available"] == 40


def test_the_same_debit_external_id_with_another_amount_is_refused_and_writes_nothing(
        client, ada, ctx):
    earn(ctx, ada, 50)
    client.post(members_url(ada, "/debits"), json={"points": 10, "external_id": "D-1"})
    before = table_counts(ctx)
    response = client.post(members_url(ada, "/debits"), json={"points": 11, "external_id": "D-1"})
    problem = assert_problem(response, 422, "idempotency-key-reused")
    assert problem["key"] == "D-1"
    assert table_counts(ctx) == before
    assert balance_of(client, ada)["available"] == 40


def test_retrying_a_debit_with_the_same_idempotency_key_replays_it(client, ada, ctx):
    earn(ctx, ada, 50)
    body, key = {"points": 10, "external_id": "D-1"}, {"Idempotency-Key": "pay-1"}
    first = client.post(members_url(ada, "/debits"), json=body, headers=key)
    again = client.post(members_url(ada, "/debits"), json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert balance_of(client, ada)["available"] == 40


def test_a_debit_idempotency_key_reused_with_another_body_is_refused(client, ada, ctx):
    earn(ctx, ada, 50)
    key = {"Idempotency-Key": "pay-1"}
    client.post(members_url(ada, "/debits"), json={"points": 10, "external_id": "D-1"},
                headers=key)
    before = table_counts(ctx)
    response = client.post(members_url(ada, "/debits"),
                           json={"points": 10, "external_id": "D-2"}, headers=key)
    problem = assert_problem(response, 422, "idempotency-key-reused")
    assert problem["key"] == "pay-1"
    assert table_counts(ctx) == before


@pytest.mark.parametrize("points", [0, -5, 1.5, "10", True, None, 10**13])
def test_a_debit_of_anything_but_a_positive_integer_is_refused_naming_points(
        client, ada, ctx, points):
    earn(ctx, ada, 50)
    before = table_counts(ctx)
    response = client.post(members_url(ada, "/debits"),
                           json={"points": points, "external_id": "D-1"})
    assert_problem(response, 422, "validation-error", field="points")
    assert table_counts(ctx) == before


@pytest.mark.parametrize("body, field", [
    ({"points": 5}, "external_id"),
    ({"external_id": "D-1"}, "points"),
    ({"points": 5, "external_id": "D-1", "agent": "bob"}, "agent"),
    ({"points": 5, "external_id": "D-1", "reason": ""}, "reason"),
])
def test_a_malformed_debit_is_refused_naming_the_field(client, ada, ctx, body, field):
    earn(ctx, ada, 50)
    before = table_counts(ctx)
    response = client.post(members_url(ada, "/debits"), json=body)
    assert_problem(response, 422, "validation-error", field=field)
    assert table_counts(ctx) == before


def test_a_debit_for_an_unknown_member_is_a_member_not_found_problem(client, ada, ctx):
    before = table_counts(ctx)
    response = client.post(members_url("mem_nobody", "/debits"),
                           json={"points": 5, "external_id": "D-1"})
    assert_problem(response, 404, "member-not-found")
    assert table_counts(ctx) == before


def test_a_debit_in_an_unknown_program_is_a_program_not_found_problem(client, ada, ctx):
    before = table_counts(ctx)
    response = client.post(f"/v1/programs/nowhere/members/{ada.id}/debits",
                           json={"points": 5, "external_id": "D-1"})
    assert_problem(response, 404, "program-not-found")
    assert table_counts(ctx) == before

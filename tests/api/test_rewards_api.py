"""Rewards, vouchers, returns and paying with points over HTTP: each endpoint's answer, its
problems (``application/problem+json``, nothing written) and who may call it.

The program "shop" (EUR, Europe/Paris) earns 1 point per whole euro; its version 2, in force
from 2020-01-01, has the reward "coffee" (60 points, 5 in stock, vouchers valid 30 days) and
the settings of the test. Ada has the card 1234. Purchases occur an hour before now.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import update

from loyalty.adapters.orm import MemberRow
from loyalty.domain.members import Member
from loyalty.services.access import Actor, CreateKey, create_key
from loyalty.services.points import get_balance
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from tests.api.support import (
    PROBLEM_JSON,
    SHOP,
    a_purchase_body,
    assert_problem,
    members_url,
    table_counts,
)
from tests.builders import a_member

PURCHASES = f"{SHOP}/purchases"
COFFEE: dict[str, Any] = {"id": "coffee", "name": "Coffee", "cost": 60, "kind": "free_product",
                          "sku": "COFFEE", "stock": 5, "voucher_days": 30}
TEA: dict[str, Any] = {**COFFEE, "id": "tea", "name": "Tea", "sku": "TEA", "cost": 30}
TILL = {"redemption": {"point_value": "0.01", "minimum": 100, "step": 50,
                       "max_basket_share": "0.5"}}
CODE = re.compile(r"^[2-9A-HJKMNP-TW-Z]{4}(-[2-9A-HJKMNP-TW-Z]{4}){4}$")
_ids = iter(range(1, 10**9))


def a_shop(ctx, *rewards: dict[str, Any], settings: dict[str, Any] | None = None) -> None:
    with freeze_time("2020-01-01"):
        create_program(ctx, CreateProgram("shop", "Shop", "EUR", "Europe/Paris", settings={}))
        save_draft(ctx, "shop", {"settings": settings or {}, "rules": [],
                                 "rewards": list(rewards) or [COFFEE]}, "cli:t")
        publish(ctx, "shop", "cli:t")


@pytest.fixture
def ada(ctx) -> Member:
    a_shop(ctx, COFFEE, TEA, settings=TILL)
    return a_member(ctx, "card:1234")


def a_client(app, ctx, *scopes: str):
    """A test client with a new key of "shop" holding ``scopes``."""
    secret = create_key(ctx, CreateKey("a", scopes, "shop"), Actor("cli:t")).secret
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


def a_member_client(app, ctx, member: Member):
    """A test client holding a member token of ``member``, asked for by a checkout."""
    issued = a_client(app, ctx, "checkout").post(members_url(member, "/tokens"))
    assert issued.status_code == 201, issued.get_json()
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {issued.get_json()['token']}"
    return client


def bought(client, member: Member, amount: str = "100.00", **fields: Any) -> dict[str, Any]:
    response = client.post(PURCHASES, json=a_purchase_body(member, amount, **fields))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def redeeming(client, member: Member | str, reward_id: str = "coffee",
              external_id: str | None = None):
    return client.post(members_url(member, "/redemptions"),
                       json={"reward_id": reward_id,
                             "external_id": external_id or f"R-{next(_ids)}"})


def redeemed(client, member: Member, reward_id: str = "coffee") -> dict[str, Any]:
    response = redeeming(client, member, reward_id)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def set_status(ctx, member: Member, status: str) -> None:
    with ctx.uow() as uow:
        uow.session.execute(update(MemberRow).where(MemberRow.id == member.id)
                            .values(status=status))
        uow.commit()


def returns_url(purchase: dict[str, Any]) -> str:
    return f"{PURCHASES}/{purchase['purchase_id']}/returns"


def available(ctx, member: Member) -> int:
    return get_balance(ctx, "shop", member.id).available


# -- the catalogue ------------------------------------------------------------------------------


def test_the_catalogue_lists_the_rewards_and_whether_the_member_can_afford_them(client, ada):
    bought(client, ada, "50.00")  # 50 points: tea (30), not coffee (60)

    response = client.get(members_url(ada, "/rewards"))

    assert response.status_code == 200
    assert response.get_json() == {"rewards": [
        {"reward_id": "coffee", "name": "Coffee", "description": None, "cost": 60,
         "kind": "free_product", "gives": {"sku": "COFFEE"}, "affordable": False,
         "stock_left": 5},
        {"reward_id": "tea", "name": "Tea", "description": None, "cost": 30,
         "kind": "free_product", "gives": {"sku": "TEA"}, "affordable": True, "stock_left": 5},
    ]}


def test_the_catalogue_of_an_unknown_member_is_a_404(client, ada):
    assert_problem(client.get(members_url("mem_nobody", "/rewards")), 404, "member-not-found")


def test_checkouts_agents_and_the_member_read_the_catalogue_and_nobody_else(app, ctx, ada):
    bob = a_member(ctx, "card:5678")
    url = members_url(ada, "/rewards")
    for scope in ("checkout", "agent", "admin"):
        assert a_client(app, ctx, scope).get(url).status_code == 200, scope
    member = a_member_client(app, ctx, ada)
    assert member.get(url).status_code == 200
    assert_problem(member.get(members_url(bob, "/rewards")), 404, "member-not-found")
    for scope in ("marketer", "supervisor"):
        assert_problem(a_client(app, ctx, scope).get(url), 403, "forbidden")
    assert_problem(app.test_client().get(url), 401, "unauthorized")


# -- redeeming ----------------------------------------------------------------------------------


def test_redeeming_answers_201_with_the_voucher_and_a_replay_answers_200(client, ctx, ada):
    bought(client, ada)  # 100 points
    body = {"reward_id": "coffee", "external_id": "R-1"}

    with freeze_time("2026-03-10 12:00:00"):
        first = client.post(members_url(ada, "/redemptions"), json=body)
        counts = table_counts(ctx)
        again = client.post(members_url(ada, "/redemptions"), json=body)

    assert first.status_code == 201, first.get_json()
    answer = first.get_json()
    assert answer["redemption_id"].startswith("red_")
    assert {key: answer[key] for key in ("member_id", "reward_id", "reward_name", "points",
                                         "status", "available")} == {
        "member_id": ada.id, "reward_id": "coffee", "reward_name": "Coffee", "points": 60,
        "status": "issued", "available": 40}
    voucher = answer["voucher"]
    assert CODE.match(voucher["code"]), voucher["code"]
    assert {key: voucher[key] for key in ("state", "kind", "gives", "issued_at", "expires_at",
                                          "used_at", "used_reference")} == {
        "state": "valid", "kind": "free_product", "gives": {"sku": "COFFEE"},
        "issued_at": "2026-03-10T12:00:00+00:00", "expires_at": "2026-04-09T12:00:00+00:00",
        "used_at": None, "used_reference": None}
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == answer
    assert table_counts(ctx) == counts


def test_redeeming_without_enough_points_is_a_409_naming_what_is_missing(client, ctx, ada):
    bought(client, ada, "59.00")
    counts = table_counts(ctx)

    problem = assert_problem(redeeming(client, ada), 409, "insufficient-points")

    assert (problem["available"], problem["required"]) == (59, 60)
    assert table_counts(ctx) == counts


def test_redeeming_an_unknown_reward_is_a_404_naming_the_field(client, ctx, ada):
    bought(client, ada)
    counts = table_counts(ctx)

    assert_problem(redeeming(client, ada, "caviar"), 404, "reward-not-found", field="reward_id")
    assert table_counts(ctx) == counts


def test_redeeming_a_reward_out_of_stock_is_a_409(client, ctx):
    a_shop(ctx, {**COFFEE, "stock": 1})
    ada, bob = a_member(ctx, "card:1234"), a_member(ctx, "card:5678")
    bought(client, ada)
    bought(client, bob)
    redeemed(client, ada)
    counts = table_counts(ctx)

    problem = assert_problem(redeeming(client, bob), 409, "reward-unavailable")

    assert problem["reward_id"] == "coffee"
    assert problem["detail"] == "this member cannot take 'Coffee': it is out of stock"
    # nothing is written but the wait, to tell Bob when Coffee is back in stock
    assert table_counts(ctx) == {**counts, "reward_waits": counts["reward_waits"] + 1}


@pytest.mark.parametrize("status", ["frozen", "closed"])
def test_a_member_who_is_not_active_cannot_redeem(client, ctx, ada, status):
    bought(client, ada)
    set_status(ctx, ada, status)
    counts = table_counts(ctx)

    problem = assert_problem(redeeming(client, ada), 409, "member-not-active")

    assert problem["member_status"] == status
    assert problem["detail"].startswith(f"a {status} member cannot redeem rewards")
    assert table_counts(ctx) == counts


def test_the_same_redemption_id_for_another_reward_is_a_422(client, ctx, ada):
    bought(client, ada)
    assert redeeming(client, ada, "coffee", "R-1").status_code == 201
    counts = table_counts(ctx)

    assert_problem(redeeming(client, ada, "tea", "R-1"), 422, "idempotency-key-reused")
    assert table_counts(ctx) == counts


@pytest.mark.parametrize(("body", "field"), [
    ({"external_id": "R-1"}, "reward_id"),
    ({"reward_id": "coffee"}, "external_id"),
    ({"reward_id": "coffee", "external_id": "R-1", "points": 1}, "points"),
    ({"reward_id": "", "external_id": "R-1"}, "reward_id"),
])
def test_a_redemption_body_with_a_mistake_is_a_422_naming_the_field(client, ctx, ada, body,
                                                                    field):
    bought(client, ada)
    counts = table_counts(ctx)

    response = client.post(members_url(ada, "/redemptions"), json=body)

    assert_problem(response, 422, "validation-error", field=field)
    assert table_counts(ctx) == counts


def test_redeeming_for_an_unknown_member_is_a_404(client, ada):
    assert_problem(redeeming(client, "mem_nobody"), 404, "member-not-found")


def test_a_member_token_redeems_for_its_own_member_only(app, client, ctx, ada):
    bob = a_member(ctx, "card:5678")
    bought(client, ada)
    bought(client, bob)
    member = a_member_client(app, ctx, ada)

    own = redeeming(member, ada)
    other = redeeming(member, bob)

    assert own.status_code == 201, own.get_json()
    assert own.get_json()["available"] == 40
    assert_problem(other, 404, "member-not-found")
    assert available(ctx, bob) == 100


def test_agents_and_marketers_cannot_redeem(app, ctx, client, ada):
    bought(client, ada)
    for scope in ("agent", "marketer", "supervisor"):
        assert_problem(redeeming(a_client(app, ctx, scope), ada), 403, "forbidden")
    assert redeeming(a_client(app, ctx, "checkout"), ada).status_code == 201


# -- cancelling a redemption --------------------------------------------------------------------


def test_cancelling_a_redemption_gives_the_points_back_and_cancelling_again_answers_the_same(
        client, ctx, ada):
    bought(client, ada)
    redemption = redeemed(client, ada)
    url = f"{SHOP}/redemptions/{redemption['redemption_id']}/cancel"

    first = client.post(url)
    counts = table_counts(ctx)
    again = client.post(url)

    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {"redemption_id": redemption["redemption_id"],
                                "member_id": ada.id, "points": 60, "status": "cancelled",
                                "available": 100}
    assert (again.status_code, again.get_json()) == (200, first.get_json())
    assert table_counts(ctx) == counts
    voucher = client.get(f"{SHOP}/vouchers/{redemption['voucher']['code']}").get_json()
    assert voucher["state"] == "cancelled"
    assert client.get(members_url(ada, "/rewards")).get_json()["rewards"][0]["stock_left"] == 5


def test_cancelling_an_unknown_redemption_is_a_404(client, ada):
    assert_problem(client.post(f"{SHOP}/redemptions/red_nothing/cancel"), 404,
                   "redemption-not-found")


def test_the_redemption_of_a_used_voucher_cannot_be_cancelled(client, ctx, ada):
    bought(client, ada)
    redemption = redeemed(client, ada)
    code = redemption["voucher"]["code"]
    assert client.post(f"{SHOP}/vouchers/{code}/consume",
                       json={"reference": "T-1"}).status_code == 200
    counts = table_counts(ctx)

    response = client.post(f"{SHOP}/redemptions/{redemption['redemption_id']}/cancel")

    problem = assert_problem(response, 409, "voucher-not-usable")
    assert problem["state"] == "used"
    assert table_counts(ctx) == counts


def test_checkouts_and_agents_cancel_redemptions_and_nobody_else(app, ctx, client, ada):
    bought(client, ada, "500.00")
    first, second = redeemed(client, ada), redeemed(client, ada)
    url = f"{SHOP}/redemptions/{first['redemption_id']}/cancel"
    member = a_member_client(app, ctx, ada)

    assert_problem(member.post(url), 403, "forbidden")
    for scope in ("marketer", "supervisor"):
        assert_problem(a_client(app, ctx, scope).post(url), 403, "forbidden")
    assert a_client(app, ctx, "checkout").post(url).status_code == 200
    assert a_client(app, ctx, "agent").post(
        f"{SHOP}/redemptions/{second['redemption_id']}/cancel").status_code == 200


# -- vouchers at the till -------------------------------------------------------------------------


def test_checking_a_voucher_tells_its_state_whatever_the_case_and_spacing(client, ada):
    bought(client, ada)
    redemption = redeemed(client, ada)
    code = redemption["voucher"]["code"]
    typed = code.lower().replace("-", " ")

    response = client.get(f"{SHOP}/vouchers/{typed}")

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == redemption["voucher"]
    expires_at = datetime.fromisoformat(redemption["voucher"]["expires_at"])
    with freeze_time(expires_at - timedelta(seconds=1)):
        assert client.get(f"{SHOP}/vouchers/{code}").get_json()["state"] == "valid"
    with freeze_time(expires_at):
        assert client.get(f"{SHOP}/vouchers/{code}").get_json()["state"] == "expired"


def test_an_unknown_voucher_is_a_404(client, ada):
    assert_problem(client.get(f"{SHOP}/vouchers/AAAA-BBBB-CCCC-DDDD-EEEE"), 404,
                   "voucher-not-found")
    assert_problem(client.post(f"{SHOP}/vouchers/AAAA-BBBB-CCCC-DDDD-EEEE/consume",
                               json={"reference": "T-1"}), 404, "voucher-not-found")


def test_consuming_a_voucher_marks_it_used_and_again_for_the_same_sale_answers_the_same(
        client, ctx, ada):
    bought(client, ada)
    code = redeemed(client, ada)["voucher"]["code"]
    url = f"{SHOP}/vouchers/{code}/consume"

    first = client.post(url, json={"reference": "T-1"})
    counts = table_counts(ctx)
    again = client.post(url, json={"reference": "T-1"})
    other = client.post(url, json={"reference": "T-2"})

    assert first.status_code == 200, first.get_json()
    assert (first.get_json()["state"], first.get_json()["used_reference"]) == ("used", "T-1")
    assert (again.status_code, again.get_json()) == (200, first.get_json())
    problem = assert_problem(other, 409, "voucher-not-usable")
    assert problem["state"] == "used"
    assert problem["detail"] == "this voucher is used (used for T-1)"
    assert table_counts(ctx) == counts


def test_an_expired_or_cancelled_voucher_cannot_be_consumed(client, ctx, ada):
    bought(client, ada, "200.00")
    expiring = redeemed(client, ada)
    cancelled = redeemed(client, ada)
    client.post(f"{SHOP}/redemptions/{cancelled['redemption_id']}/cancel")
    later = datetime.now(UTC) + timedelta(days=31)

    with freeze_time(later):
        expired = client.post(f"{SHOP}/vouchers/{expiring['voucher']['code']}/consume",
                              json={"reference": "T-1"})
    refused = client.post(f"{SHOP}/vouchers/{cancelled['voucher']['code']}/consume",
                          json={"reference": "T-1"})

    assert assert_problem(expired, 409, "voucher-not-usable")["state"] == "expired"
    assert assert_problem(refused, 409, "voucher-not-usable")["state"] == "cancelled"


@pytest.mark.parametrize(("body", "field"), [({}, "reference"),
                                             ({"reference": ""}, "reference"),
                                             ({"reference": "T-1", "x": 1}, "x")])
def test_a_consume_body_with_a_mistake_is_a_422(client, ctx, ada, body, field):
    bought(client, ada)
    code = redeemed(client, ada)["voucher"]["code"]

    assert_problem(client.post(f"{SHOP}/vouchers/{code}/consume", json=body), 422,
                   "validation-error", field=field)
    assert client.get(f"{SHOP}/vouchers/{code}").get_json()["state"] == "valid"


def test_only_checkouts_check_and_consume_vouchers(app, ctx, client, ada):
    bought(client, ada)
    code = redeemed(client, ada)["voucher"]["code"]
    member = a_member_client(app, ctx, ada)
    callers = [member] + [a_client(app, ctx, scope) for scope in ("agent", "marketer")]

    for caller in callers:
        assert_problem(caller.get(f"{SHOP}/vouchers/{code}"), 403, "forbidden")
        assert_problem(caller.post(f"{SHOP}/vouchers/{code}/consume",
                                   json={"reference": "T-1"}), 403, "forbidden")
    checkout = a_client(app, ctx, "checkout")
    assert checkout.get(f"{SHOP}/vouchers/{code}").get_json()["state"] == "valid"
    assert checkout.post(f"{SHOP}/vouchers/{code}/consume",
                         json={"reference": "T-1"}).status_code == 200


# -- paying with points at the till -------------------------------------------------------------


def test_a_purchase_paid_partly_with_points_answers_what_they_paid(client, ctx, ada):
    bought(client, ada, "1000.00")  # 1000 points

    answer = bought(client, ada, "20.00", points_to_burn=500)

    # 500 x 0.01 = 5.00 EUR (at most 50% of 20.00 may be paid); 15.00 earns 15 points
    assert (answer["points_burned"], answer["burn_value"]) == (500, "5.00")
    assert (answer["total"], answer["earn_base"], answer["points_earned"]) == (
        "20.00", "15.00", 15)
    assert answer["balance"] == {"available": 1000 - 500 + 15, "pending": 0}
    without = bought(client, ada, "20.00")
    assert (without["points_burned"], without["burn_value"]) == (0, None)


@pytest.mark.parametrize(("points", "amount", "extension"), [
    (50, "20.00", {"minimum": 100}),
    (120, "20.00", {"step": 50}),
    (600, "10.00", {"maximum_value": 500}),  # 6.00 EUR > 50% of 10.00
])
def test_a_burn_the_program_does_not_allow_is_a_422_naming_points_to_burn(client, ctx, ada,
                                                                          points, amount,
                                                                          extension):
    bought(client, ada, "1000.00")
    counts = table_counts(ctx)

    response = client.post(PURCHASES, json=a_purchase_body(ada, amount, points_to_burn=points))

    problem = assert_problem(response, 422, "invalid-request", field="points_to_burn")
    assert {key: problem[key] for key in extension} == extension
    assert table_counts(ctx) == counts


def test_a_negative_burn_is_a_422(client, ctx, ada):
    response = client.post(PURCHASES, json=a_purchase_body(ada, "20.00", points_to_burn=-100))

    assert_problem(response, 422, "validation-error", field="points_to_burn")


def test_a_burn_beyond_the_balance_is_a_409(client, ctx, ada):
    bought(client, ada, "1000.00")
    counts = table_counts(ctx)

    response = client.post(PURCHASES, json=a_purchase_body(ada, "100.00", points_to_burn=1500))

    problem = assert_problem(response, 409, "insufficient-points")
    assert (problem["available"], problem["required"]) == (1000, 1500)
    assert table_counts(ctx) == counts


def test_a_frozen_member_cannot_pay_with_points(client, ctx, ada):
    bought(client, ada, "1000.00")
    set_status(ctx, ada, "frozen")
    counts = table_counts(ctx)

    response = client.post(PURCHASES, json=a_purchase_body(ada, "20.00", points_to_burn=500))

    problem = assert_problem(response, 409, "member-not-active")
    assert problem["member_status"] == "frozen"
    assert table_counts(ctx) == counts


# -- returns ------------------------------------------------------------------------------------


def test_a_return_of_lines_answers_201_and_posting_it_again_answers_200(client, ctx, ada):
    order = bought(client, ada, lines=[{"sku": "SHIRT", "quantity": 1, "unit_price": "60.00"},
                                       {"sku": "SHOES", "quantity": 2, "unit_price": "30.00"}])
    body = {"external_id": "R-17", "lines": [{"sku": "SHOES", "quantity": 1}]}

    first = client.post(returns_url(order), json=body)
    counts = table_counts(ctx)
    again = client.post(returns_url(order), json=body)

    assert first.status_code == 201, first.get_json()
    answer = first.get_json()
    assert answer["return_id"].startswith("ret_")
    assert {key: value for key, value in answer.items() if key != "return_id"} == {
        "purchase_id": order["purchase_id"], "external_id": "R-17", "refunded": "30.00",
        "points_reversed": 30, "points_not_reversed": 0, "points_given_back": 0,
        "points_remaining": 90, "available": 90, "pending": 0, "debt": 0,
        "remaining_lines": {"SHIRT": 1, "SHOES": 1}}
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    assert again.get_json() == answer
    assert table_counts(ctx) == counts


def test_a_return_by_amount_answers_201(client, ada):
    order = bought(client, ada)  # 100.00

    response = client.post(returns_url(order), json={"external_id": "R-1", "amount": "30.00",
                                                     "currency": "EUR"})

    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert (answer["refunded"], answer["points_reversed"], answer["available"]) == (
        "30.00", 30, 70)


def test_returning_more_units_than_were_bought_is_a_409_naming_the_line(client, ctx, ada):
    order = bought(client, ada, lines=[{"sku": "SOCKS", "quantity": 2, "unit_price": "5.00"}])
    counts = table_counts(ctx)

    response = client.post(returns_url(order), json={
        "external_id": "R-1", "lines": [{"sku": "SOCKS", "quantity": 3}]})

    problem = assert_problem(response, 409, "return-refused")
    assert problem["remaining"] == 2
    assert [error["field"] for error in problem["errors"]] == ["lines"]
    assert problem["sku"] == "SOCKS"
    assert table_counts(ctx) == counts


@pytest.mark.parametrize(("body", "field"), [
    ({"external_id": "R-1"}, None),  # neither lines nor an amount
    ({"external_id": "R-1", "lines": [{"sku": "SKU-1", "quantity": 1}], "amount": "1.00",
      "currency": "EUR"}, None),
    ({"external_id": "R-1", "amount": "1.00"}, "currency"),
    ({"external_id": "R-1", "lines": [{"sku": "SKU-1", "quantity": 0}]}, "lines.0.quantity"),
    ({"external_id": "R-1", "lines": []}, "lines"),
    ({"lines": [{"sku": "SKU-1", "quantity": 1}]}, "external_id"),
])
def test_a_return_body_with_a_mistake_is_a_422(client, ctx, ada, body, field):
    order = bought(client, ada)
    counts = table_counts(ctx)

    response = client.post(returns_url(order), json=body)

    assert_problem(response, 422, "validation-error", field=field)
    assert table_counts(ctx) == counts


@pytest.mark.parametrize("amount", ["1.001", "-1.00", "0.00"])
def test_an_amount_that_cannot_be_refunded_is_a_422_naming_it(client, ctx, ada, amount):
    order = bought(client, ada)
    counts = table_counts(ctx)

    response = client.post(returns_url(order), json={"external_id": "R-1", "amount": amount,
                                                     "currency": "EUR"})

    assert_problem(response, 422, "invalid-request", field="amount")
    assert table_counts(ctx) == counts


def test_an_amount_in_another_currency_than_the_purchase_is_a_422(client, ctx, ada):
    order = bought(client, ada)  # in EUR
    counts = table_counts(ctx)

    response = client.post(returns_url(order), json={"external_id": "R-1", "amount": "10",
                                                     "currency": "JPY"})

    assert_problem(response, 422, "currency-mismatch", field="currency")
    assert table_counts(ctx) == counts


@pytest.mark.parametrize("occurred_at", [
    "2150-01-01T00:00:00Z",  # in the future, as purchases may not be
    "2000-01-01T00:00:00Z",  # before the purchase it returns
])
def test_a_return_dated_when_it_cannot_have_happened_is_a_422(client, ctx, ada, occurred_at):
    order = bought(client, ada)
    counts = table_counts(ctx)

    response = client.post(returns_url(order), json={
        "external_id": "R-1", "occurred_at": occurred_at,
        "lines": [{"sku": "SKU-1", "quantity": 1}]})

    assert_problem(response, 422, "invalid-request", field="occurred_at")
    assert table_counts(ctx) == counts


def test_a_return_of_an_unknown_purchase_is_a_404(client, ada):
    response = client.post(f"{PURCHASES}/pur_nothing/returns", json={
        "external_id": "R-1", "lines": [{"sku": "SKU-1", "quantity": 1}]})

    assert_problem(response, 404, "purchase-not-found")


def test_the_same_return_id_with_other_lines_is_a_422(client, ctx, ada):
    order = bought(client, ada, lines=[{"sku": "A", "quantity": 3, "unit_price": "10.00"}])
    client.post(returns_url(order), json={"external_id": "R-1",
                                          "lines": [{"sku": "A", "quantity": 1}]})
    counts = table_counts(ctx)

    response = client.post(returns_url(order), json={"external_id": "R-1",
                                                     "lines": [{"sku": "A", "quantity": 2}]})

    assert_problem(response, 422, "idempotency-key-reused")
    assert table_counts(ctx) == counts


def test_a_return_of_spent_points_leaves_a_debt_under_allow(client, ctx, ada):
    order = bought(client, ada)  # 100 points
    redeemed(client, ada)  # 60 spent on a coffee

    response = client.post(returns_url(order), json={
        "external_id": "R-1", "lines": [{"sku": "SKU-1", "quantity": 1}]})

    answer = response.get_json()
    assert (answer["points_reversed"], answer["available"], answer["debt"]) == (100, -60, 60)
    # the member owes points: no reward until the debt is paid
    problem = assert_problem(redeeming(client, ada, "tea"), 409, "insufficient-points")
    assert problem["available"] == 0
    assert client.get(members_url(ada, "/balance")).get_json()["available"] == -60


def test_a_return_of_spent_points_is_a_409_under_refuse_and_nothing_is_written(client, ctx):
    a_shop(ctx, settings={"returns": {"negative_balance": "refuse"}})
    ada = a_member(ctx, "card:1234")
    order = bought(client, ada)  # 100 points
    redeemed(client, ada)  # 60 spent
    counts = table_counts(ctx)

    response = client.post(returns_url(order), json={
        "external_id": "R-1", "lines": [{"sku": "SKU-1", "quantity": 1}]})

    # a conflict; its type is insufficient-points today (see test_returns for the policy)
    assert (response.status_code, response.mimetype) == (409, PROBLEM_JSON)
    assert "refuses such returns" in response.get_json()["detail"]
    assert table_counts(ctx) == counts


def test_a_return_gives_back_points_burned_on_the_purchase(client, ctx, ada):
    bought(client, ada, "1000.00")
    order = bought(client, ada, "40.00", points_to_burn=1000)  # 10.00 paid with points

    response = client.post(returns_url(order), json={"external_id": "R-1", "amount": "10.00",
                                                     "currency": "EUR"})

    # a quarter of the basket back: a quarter of the 1000 points burned
    assert response.get_json()["points_given_back"] == 250


def test_only_checkouts_record_returns(app, ctx, client, ada):
    order = bought(client, ada)
    body = {"external_id": "R-1", "lines": [{"sku": "SKU-1", "quantity": 1}]}
    callers = [a_member_client(app, ctx, ada)] + [a_client(app, ctx, scope)
                                                  for scope in ("agent", "marketer")]

    for caller in callers:
        assert_problem(caller.post(returns_url(order), json=body), 403, "forbidden")
    assert a_client(app, ctx, "checkout").post(returns_url(order), json=body).status_code == 201


# -- cancelling a purchase ----------------------------------------------------------------------


def test_cancelling_a_purchase_reverses_it_whole_and_again_answers_200(client, ctx, ada):
    order = bought(client, ada, "75.00")
    url = f"{PURCHASES}/{order['purchase_id']}/cancel"

    first = client.post(url, json={})
    again = client.post(url, json={})

    assert first.status_code == 201, first.get_json()
    answer = first.get_json()
    assert (answer["external_id"], answer["refunded"], answer["points_reversed"],
            answer["points_remaining"], answer["available"]) == (
        f"cancel-{order['purchase_id']}", "75.00", 75, 0, 0)
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    assert again.get_json() == answer


def test_a_cancellation_may_carry_its_own_id(client, ada):
    order = bought(client, ada, "75.00")

    response = client.post(f"{PURCHASES}/{order['purchase_id']}/cancel",
                           json={"external_id": "VOID-9"})

    assert (response.status_code, response.get_json()["external_id"]) == (201, "VOID-9")


def test_cancelling_an_unknown_purchase_is_a_404(client, ada):
    assert_problem(client.post(f"{PURCHASES}/pur_nothing/cancel", json={}), 404,
                   "purchase-not-found")


def test_only_checkouts_cancel_purchases(app, ctx, client, ada):
    order = bought(client, ada)
    url = f"{PURCHASES}/{order['purchase_id']}/cancel"
    callers = [a_member_client(app, ctx, ada)] + [a_client(app, ctx, scope)
                                                  for scope in ("agent", "marketer")]

    for caller in callers:
        assert_problem(caller.post(url, json={}), 403, "forbidden")
    assert a_client(app, ctx, "checkout").post(url, json={}).status_code == 201

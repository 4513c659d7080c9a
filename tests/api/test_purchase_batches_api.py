"""``POST .../purchases:batch``: many purchases in one call, each answered on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty.services.points import get_balance
from loyalty.services.verification import verify_ledger
from tests.builders import a_member, a_program

URL = "/v1/programs/shop/purchases:batch"
WHEN = (datetime.now(UTC) - timedelta(hours=2)).isoformat()


def body(member_id: str, external_id: str, amount: str = "10.00") -> dict[str, object]:
    return {"member": {"id": member_id}, "external_id": external_id, "occurred_at": WHEN,
            "currency": "EUR", "lines": [{"sku": "A", "quantity": 1, "unit_price": amount}]}


def test_a_batch_records_each_purchase_and_answers_for_each(client, ctx):
    a_program(ctx)
    ada = a_member(ctx)
    answer = client.post(URL, json={"purchases": [
        body(ada.id, "B1", "20.00"),
        {**body(ada.id, "B2"), "bogus": 1},
        {**body(ada.id, "B3"), "currency": "USD"},
        body("mem_nobody", "B4"),
        body(ada.id, "B5", "5.00"),
    ]})
    assert answer.status_code == 200
    result = answer.json
    assert (result["imported"], result["duplicates"], result["rejected"]) == (2, 0, 3)
    statuses = [(item["index"], item["status"]) for item in result["results"]]
    assert statuses == [(0, 201), (1, 422), (2, 422), (3, 404), (4, 201)]
    assert result["results"][0]["purchase"]["points_earned"] == 20
    assert result["results"][1]["problem"]["errors"][0]["field"] == "bogus"
    assert result["results"][2]["problem"]["type"] == "/problems/currency-mismatch"
    assert result["results"][3]["problem"]["type"] == "/problems/member-not-found"
    assert get_balance(ctx, "shop", ada.id).available == 25
    assert verify_ledger(ctx).ok


def test_a_batch_sent_again_replays_each_item_and_writes_nothing(client, ctx):
    a_program(ctx)
    ada = a_member(ctx)
    batch = {"purchases": [body(ada.id, f"R{i}") for i in range(3)]}
    first = client.post(URL, json=batch).json
    again = client.post(URL, json=batch).json
    assert (first["imported"], again["imported"], again["duplicates"]) == (3, 0, 3)
    assert [item["status"] for item in again["results"]] == [200, 200, 200]
    assert [i["purchase"] for i in again["results"]] == [i["purchase"] for i in first["results"]]
    assert get_balance(ctx, "shop", ada.id).available == 30


def test_a_batch_larger_than_the_limit_is_refused_whole(client, ctx):
    a_program(ctx)
    ada = a_member(ctx)
    answer = client.post(URL, json={"purchases": [body(ada.id, f"L{i}") for i in range(501)]})
    assert answer.status_code == 422
    assert answer.json["errors"][0]["field"] == "purchases"
    assert get_balance(ctx, "shop", ada.id).available == 0

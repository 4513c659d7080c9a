"""The README's walk through the API, end to end: enroll, purchase, balance, ledger, debit."""

from __future__ import annotations

from tests.api.support import SHOP, an_enrolment, an_hour_ago, members_url
from tests.builders import a_program


def test_a_member_enrolled_at_the_till_earns_sees_and_spends_points(client, ctx):
    a_program(ctx)

    enrolled = client.post(f"{SHOP}/members",
                           json=an_enrolment("card:1234", "email:ada@example.com"))
    assert enrolled.status_code == 201
    member_id = enrolled.get_json()["id"]

    purchase = client.post(f"{SHOP}/purchases", json={
        "member": {"identity": "card:1234"},
        "external_id": "TILL-42",
        "occurred_at": an_hour_ago(),
        "currency": "EUR",
        "channel": "pos",
        "store": "paris-1",
        "lines": [
            {"sku": "SHOE", "quantity": 2, "unit_price": "29.99", "discount": "5.00",
             "tax": "9.00", "category": "shoes"},
            {"sku": "SOCKS", "quantity": 1, "unit_price": "6.00", "tax": "1.00"},
        ],
        "totals": {"total": "60.98", "tax": "10.00", "discount": "5.00"},
    })
    assert purchase.status_code == 201
    recorded = purchase.get_json()
    assert recorded["member_id"] == member_id
    assert (recorded["earn_base"], recorded["points_earned"]) == ("50.98", 50)

    balance = client.get(members_url(member_id, "/balance")).get_json()
    assert (balance["available"], balance["pending"], balance["lifetime_earned"]) == (50, 0, 50)

    ledger = client.get(members_url(member_id, "/ledger")).get_json()
    assert [(e["kind"], e["points"], e["reason"]) for e in ledger["entries"]] == [
        ("earn", 50, "earned 50 on order TILL-42")]

    debited = client.post(members_url(member_id, "/debits"),
                          json={"points": 30, "external_id": "BURN-1", "reason": "paid at till"})
    assert debited.status_code == 201
    assert debited.get_json()["available"] == 20

    balance = client.get(members_url(member_id, "/balance")).get_json()
    assert (balance["available"], balance["lifetime_redeemed"]) == (20, 30)
    ledger = client.get(members_url(member_id, "/ledger")).get_json()
    assert [(e["kind"], e["points"]) for e in ledger["entries"]] == [("redeem", -30),
                                                                     ("earn", 50)]
    assert ledger["next_cursor"] is None

    found = client.get(f"{SHOP}/members", query_string={"identity": "email:ada@example.com"})
    assert found.get_json()["id"] == member_id

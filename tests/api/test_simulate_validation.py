"""A simulated purchase is checked like a real one: bad amounts are a 422 naming the field."""

from __future__ import annotations

from tests.builders import a_program


def test_a_simulated_purchase_with_a_negative_price_is_refused_naming_the_line(client, ctx):
    a_program(ctx)
    answer = client.post("/v1/programs/shop/simulate", json={
        "purchase": {"currency": "EUR",
                     "lines": [{"sku": "A", "quantity": 1, "unit_price": "-5.00"}]},
        "hypothetical_member": {},
    })
    assert answer.status_code == 422
    assert answer.mimetype == "application/problem+json"
    assert "purchase.lines.0.unit_price" in [e["field"] for e in answer.json["errors"]]


def test_a_simulated_purchase_explains_its_points(client, ctx):
    a_program(ctx)
    answer = client.post("/v1/programs/shop/simulate", json={
        "purchase": {"currency": "EUR",
                     "lines": [{"sku": "A", "quantity": 2, "unit_price": "10.50"}]},
        "hypothetical_member": {},
    })
    assert answer.status_code == 200
    assert answer.json["points"] == 21 and answer.json["earn_base"] == "21.00"

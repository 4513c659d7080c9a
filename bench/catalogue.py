"""What the benchmark's customers buy: the fashion retailer's catalogue, stores and channels.
Light on imports, so the load generator starts fast."""

from __future__ import annotations

import random
from typing import Any

from loyalty.domain.basket import PurchaseLine
from loyalty.domain.money import format_minor

# (sku, category, tags, unit price in cents, VAT in cents)
CATALOGUE = [
    ("SHIRT-OXFORD", "tops", (), 6000, 1000),
    ("TEE-BASIC", "tops", (), 1999, 333),
    ("SNEAKERS-W", "shoes", (), 12000, 2000),
    ("BOOTS-CHELSEA", "shoes", ("new-collection",), 18900, 3150),
    ("JEANS-501", "denim", (), 8999, 1500),
    ("JACKET-AW26", "coats", ("new-collection",), 15000, 2500),
    ("SCARF-WOOL", "accessories", (), 3500, 583),
    ("BELT-LEATHER", "accessories", (), 4500, 750),
    ("SWEATER-MERINO", "knitwear", (), 7900, 1317),
    ("GIFT-CARD-50", "gift-cards", (), 5000, 0),
]
STORES = ["paris-opera", "lyon-bellecour", "lille-centre", "nantes-1", None]
CHANNELS = ["pos", "pos", "pos", "web", "app"]


def basket_lines(rng: random.Random, count: int = 5) -> tuple[PurchaseLine, ...]:
    return tuple(
        PurchaseLine(sku, 1 + (rng.random() < 0.2), price, tax=vat, category=category, tags=tags)
        for sku, category, tags, price, vat in rng.sample(CATALOGUE, count)
    )




def purchase_body(member_id: str, external_id: str, occurred_at: str, channel: str,
                  store: str | None, lines: tuple[PurchaseLine, ...], *, source: str
                  ) -> dict[str, Any]:
    """The ``POST .../purchases`` body (also an import file's line) of such a basket."""
    return {
        "member": {"id": member_id}, "external_id": external_id, "source": source,
        "occurred_at": occurred_at, "currency": "EUR", "channel": channel,
        "store": store or "web-1",
        "lines": [{"sku": line.sku, "quantity": line.quantity, "category": line.category,
                   "tags": list(line.tags), "unit_price": format_minor(line.unit_price, "EUR"),
                   "tax": format_minor(line.tax, "EUR")} for line in lines],
    }

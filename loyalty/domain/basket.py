"""A purchase as the earn calculation sees it: lines and totals in exact minor units.

Conventions (documented in the README): a line's ``amount`` is ``quantity * unit_price - discount``,
what the customer pays for the line, tax included; ``tax`` is the part of that amount that is tax.
The basket total is the sum of line amounts plus shipping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PurchaseLine:
    sku: str
    quantity: int
    unit_price: int
    discount: int = 0
    tax: int = 0
    category: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def amount(self) -> int:
        """What the customer pays for the line, tax included, after its discount."""
        return self.quantity * self.unit_price - self.discount


@dataclass(frozen=True, slots=True)
class Basket:
    currency: str
    occurred_at: datetime
    lines: tuple[PurchaseLine, ...]
    shipping: int = 0
    channel: str = "pos"
    store: str | None = None
    promo_codes: tuple[str, ...] = field(default=())
    paid_with_points: int = 0  # the part of the total paid by burning points
    paid_with_gift_cards: int = 0

    @property
    def lines_total(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def total(self) -> int:
        return self.lines_total + self.shipping

    @property
    def tax(self) -> int:
        return sum(line.tax for line in self.lines)

    @property
    def discount(self) -> int:
        return sum(line.discount for line in self.lines)


@dataclass(frozen=True, slots=True)
class Event:
    """Something a member did that rules may reward: ``signup``, ``review``, ``birthday``..."""

    type: str
    occurred_at: datetime
    properties: dict[str, object] = field(default_factory=dict)

"""Builders for the earn-rule tests: programs in a few lines of YAML, baskets as tills print them.

This module holds no tests. It is named ``test_rules_*`` only because the rule tests may add files
under that name and no other; the rule test modules import from it.

Every instant is written as a wall-clock time in Paris, the programs' zone (``"2026-05-04 12:00"``),
because that is how a program owner reads a schedule or a validity window.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from loyalty.domain.basket import Basket, Event, PurchaseLine
from loyalty.domain.money import Money
from loyalty.rules.definition import load_definition
from loyalty.rules.engine import CompiledProgram, Evaluation, MemberFacts

ZONE = "Europe/Paris"
PARIS = ZoneInfo(ZONE)
A_MONDAY_NOON = "2026-05-04 12:00"


def paris(wall_clock: str) -> datetime:
    """``"2026-05-04 12:00"`` (or with seconds) on a clock in Paris, as an aware datetime."""
    return datetime.fromisoformat(wall_clock).replace(tzinfo=PARIS)


def utc_instant(text: str) -> datetime:
    """``"2026-03-29T00:30Z"``: an instant written in UTC, for the nights a Paris clock jumps."""
    return datetime.fromisoformat(text)


def program_from_yaml(document: str, *, currency: str = "EUR") -> CompiledProgram:
    """A compiled program from a YAML definition written in the test."""
    definition = load_definition(yaml.safe_load(textwrap.dedent(document)))
    return CompiledProgram(definition, currency=currency, time_zone=ZONE, version=1)


def program(*rules: dict[str, Any], currency: str = "EUR", **earn: Any) -> CompiledProgram:
    """A compiled program with these rules and these ``settings.earn`` values."""
    document: dict[str, Any] = {"rules": list(rules)}
    if earn:
        document["settings"] = {"earn": earn}
    definition = load_definition(document)
    return CompiledProgram(definition, currency=currency, time_zone=ZONE, version=1)


def rule(rule_id: str = "bonus", *, effect: dict[str, Any] | None = None,
         **fields: Any) -> dict[str, Any]:
    """A rule as a document writes it; by default it gives 5 fixed points on every purchase."""
    return {"id": rule_id, "name": rule_id.replace("-", " "),
            "effect": effect or {"type": "fixed", "points": 5}, **fields}


def per_euro(points: str = "1", over: str = "earn_base") -> dict[str, Any]:
    return {"type": "per_currency_unit", "points": points, "over": over}


def fixed(points: int) -> dict[str, Any]:
    return {"type": "fixed", "points": points}


def minor(amount: str, currency: str = "EUR") -> int:
    return Money.parse(amount, currency).minor


def line(sku: str = "sku", price: str = "10.00", *, quantity: int = 1, discount: str = "0",
         tax: str = "0", category: str | None = None, tags: tuple[str, ...] = (),
         currency: str = "EUR") -> PurchaseLine:
    """A basket line with prices as the till prints them; ``price`` is the unit price."""
    return PurchaseLine(sku=sku, quantity=quantity, unit_price=minor(price, currency),
                        discount=minor(discount, currency), tax=minor(tax, currency),
                        category=category, tags=tags)


def basket(*lines: PurchaseLine, at: str = A_MONDAY_NOON, shipping: str = "0",
           paid_with_points: str = "0", paid_with_gift_cards: str = "0", channel: str = "pos",
           store: str | None = None, promo_codes: tuple[str, ...] = (),
           currency: str = "EUR") -> Basket:
    """A basket bought at ``at`` in Paris; one 10.00 EUR line unless lines are given."""
    return Basket(currency=currency, occurred_at=paris(at), lines=lines or (line(),),
                  shipping=minor(shipping, currency),
                  paid_with_points=minor(paid_with_points, currency),
                  paid_with_gift_cards=minor(paid_with_gift_cards, currency),
                  channel=channel, store=store, promo_codes=promo_codes)


def event(event_type: str, *, at: str = A_MONDAY_NOON, **properties: object) -> Event:
    return Event(type=event_type, occurred_at=paris(at), properties=dict(properties))


def a_member(**facts: Any) -> MemberFacts:
    return MemberFacts(**facts)


def points_by_rule(evaluation: Evaluation) -> dict[str, int]:
    """The rules that applied, with what each gave, in evaluation order."""
    return {result.rule_id: result.points for result in evaluation.applied}


def explanation_of(evaluation: Evaluation, rule_id: str) -> dict[str, object]:
    """The explanation entry of one rule."""
    entries = [entry for entry in evaluation.explanation() if entry["rule"] == rule_id]
    assert len(entries) == 1, f"no single explanation for {rule_id}: {evaluation.explanation()}"
    return entries[0]

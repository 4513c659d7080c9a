"""How fast the earn rules evaluate: a 20-rule program on a 5-line basket, on one core.

    python -m bench.rules_eval [--seconds 2] [--repeats 5]

Prints the median, min and max baskets per second of several timed repeats. The evaluation is
the pure function the posting path calls (``CompiledProgram.evaluate_purchase``), with the
member's facts already gathered: no database, no HTTP.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime

from loyalty.domain.basket import Basket, PurchaseLine
from loyalty.rules.definition import load_definition
from loyalty.rules.engine import CompiledProgram, MemberFacts

CATEGORIES = ["shoes", "bags", "tops", "dresses", "accessories"]


def twenty_rules() -> dict[str, object]:
    """A fashion retailer's program: a base rate, category and tag bonuses, channel and store
    promotions, time windows and schedules, member conditions, caps and a multiplier."""
    rules: list[dict[str, object]] = [
        {"id": "base", "name": "1 point per euro",
         "effect": {"type": "per_currency_unit", "points": "1"}},
    ]
    for index, category in enumerate(CATEGORIES):
        rules.append({
            "id": f"cat-{category}", "name": f"{category} bonus", "priority": 10 + index,
            "conditions": {"all": [{"fact": "line.category", "value": category},
                                   {"fact": "line.amount", "op": "gte", "value": "10.00"}]},
            "effect": {"type": "per_currency_unit", "points": "0.5", "over": "matching_lines"},
            "limits": {"per_transaction": 500},
        })
    for index, tag in enumerate(["new", "eco", "sale", "limited"]):
        rules.append({
            "id": f"tag-{tag}", "name": f"{tag} items", "priority": 5,
            "conditions": {"fact": "line.tags", "op": "contains", "value": tag},
            "effect": {"type": "per_unit", "points": str(5 + index)},
        })
    rules += [
        {"id": "web", "name": "online orders", "conditions": {"fact": "basket.channel",
                                                               "value": "ecommerce"},
         "effect": {"type": "fixed", "points": 20}},
        {"id": "flagship", "name": "flagship store", "conditions": {
            "fact": "basket.store", "op": "in", "value": ["paris-01", "lyon-01"]},
         "effect": {"type": "fixed", "points": 15}},
        {"id": "big-basket", "name": "baskets over 150", "conditions": {
            "fact": "basket.total", "op": "gte", "value": "150.00"},
         "effect": {"type": "fixed", "points": 50}},
        {"id": "three-lines", "name": "three lines or more", "conditions": {
            "fact": "basket.lines", "op": "gte", "value": 3},
         "effect": {"type": "fixed", "points": 10}},
        {"id": "promo", "name": "promo code", "conditions": {
            "fact": "basket.promo_codes", "op": "contains_any", "value": ["WELCOME", "VIP"]},
         "effect": {"type": "fixed", "points": 100}},
        {"id": "happy-hour", "name": "happy hour", "schedule": {
            "weekdays": ["mon", "tue", "wed", "thu", "fri"], "hours": {"from": "12:00",
                                                                      "to": "14:00"}},
         "effect": {"type": "fixed", "points": 25}},
        {"id": "gold", "name": "gold members", "conditions": {"fact": "member.tier",
                                                              "value": "gold"},
         "effect": {"type": "fixed", "points": 30}},
        {"id": "birthday-month", "name": "birthday month", "conditions": {
            "fact": "member.is_birthday_month", "value": "true"},
         "effect": {"type": "fixed", "points": 40}, "limits": {"per_member": [
             {"period": "year", "points": 40}]}},
        {"id": "winter-sale", "name": "winter sale", "window": {"start": "2026-01-07",
                                                                "end": "2026-02-03"},
         "effect": {"type": "per_currency_unit", "points": "1"}},
        {"id": "weekend-x2", "name": "double points weekend", "priority": -10,
         "schedule": {"weekdays": ["sat", "sun"]}, "effect": {"type": "multiplier",
                                                               "factor": "2"}},
    ]
    assert len(rules) == 20, len(rules)
    return {"settings": {"earn": {"rounding": "floor"}}, "rules": rules}


def five_line_basket() -> Basket:
    lines = tuple(
        PurchaseLine(f"SKU-{i}", 1 + i % 2, 1999 + 1000 * i, discount=100 * (i % 2),
                     tax=400 + 150 * i, category=CATEGORIES[i],
                     tags=("new", "eco") if i % 2 else ("sale",))
        for i in range(5)
    )
    return Basket("EUR", datetime(2026, 11, 21, 12, 30, tzinfo=UTC), lines, channel="pos",
                  store="paris-01", promo_codes=("VIP",))


def measure(seconds: float, repeats: int) -> list[float]:
    program = CompiledProgram(load_definition(twenty_rules()), currency="EUR",
                              time_zone="Europe/Paris", version=1)
    basket = five_line_basket()
    member = MemberFacts(tier="gold", attributes={"birth_date": "1990-11-02"},
                         enrolled_at=datetime(2024, 3, 1, tzinfo=UTC))
    evaluation = program.evaluate_purchase(basket, member)
    assert evaluation.points > 0 and len(evaluation.results) == 20
    rates = []
    for _ in range(repeats):
        count, start = 0, time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            for _ in range(200):
                program.evaluate_purchase(basket, member)
            count += 200
        rates.append(count / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rates = measure(args.seconds, args.repeats)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    print("| figure | median | min | max |")
    print("|---|---:|---:|---:|")
    print(f"| rules: 20-rule program, 5-line basket, baskets/s on one core "
          f"| {statistics.median(rates):,.0f} | {min(rates):,.0f} | {max(rates):,.0f} |")


if __name__ == "__main__":
    main()

"""Rewards' pure parts: voucher codes, paying with points, and what is left after returns.

Voucher codes have 97 random bits in 20 characters from an alphabet without the characters
people confuse (no 0/O, 1/I/L, U/V), grouped by four: ``K7QD-3MXR-...``. They are compared
after normalising case, spaces and dashes, so a code read aloud or retyped still matches.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal

from loyalty.domain.basket import PurchaseLine
from loyalty.domain.errors import InvalidRequest

_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"  # 29 symbols, none easily confused
_CODE_LENGTH = 20  # 20 x log2(29) = 97 random bits


def new_voucher_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def normalise_code(text: str) -> str:
    """A typed code in its canonical form: upper case, grouped by four."""
    raw = "".join(c for c in text.upper() if c.isalnum())
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


@dataclass(frozen=True, slots=True)
class Burn:
    points: int
    value: int  # minor units taken off the basket


def burn_value(points: int, *, point_value: Decimal, exponent: int, minimum: int, step: int,
               max_share: Decimal, basket_total: int, available: int) -> Burn:
    """Check a request to pay ``points`` at the till against the program's redemption
    settings, and what they are worth (rounded down to the currency's minor unit).
    Over-redemption is an error naming why, never a silent clamp."""
    if points <= 0:
        raise InvalidRequest("points to burn are a positive number", field="points_to_burn")
    if points < minimum:
        raise InvalidRequest(f"at least {minimum} points are burned at a time",
                             field="points_to_burn", minimum=minimum)
    if points % step:
        raise InvalidRequest(f"points are burned by steps of {step}", field="points_to_burn",
                             step=step)
    value = int((Decimal(points) * point_value * (Decimal(10) ** exponent))
                .to_integral_value(rounding=ROUND_FLOOR))
    ceiling = int((Decimal(basket_total) * max_share).to_integral_value(rounding=ROUND_FLOOR))
    if value > ceiling:
        raise InvalidRequest(
            f"{points} points are worth more than the {max_share * 100:.0f}% of the basket "
            "that points may pay", field="points_to_burn", maximum_value=ceiling)
    if points > available:
        from loyalty.domain.errors import InsufficientPoints

        raise InsufficientPoints(f"the member has {available} points available and {points} "
                                 "are required", available=available, required=points)
    return Burn(points, value)


def remaining_lines(lines: tuple[PurchaseLine, ...], returned: dict[str, int]
                    ) -> tuple[PurchaseLine, ...]:
    """The purchase's lines once ``returned`` (sku -> units, all returns so far) are taken
    out. A line's discount and tax shrink in proportion to its units, computed from the
    original line each time, so that successive returns never drift."""
    left: list[PurchaseLine] = []
    budget = dict(returned)
    for line in lines:
        take = min(budget.get(line.sku, 0), line.quantity)
        budget[line.sku] = budget.get(line.sku, 0) - take
        kept = line.quantity - take
        if kept:
            left.append(replace(
                line, quantity=kept,
                discount=line.discount * kept // line.quantity,
                tax=line.tax * kept // line.quantity))
    return tuple(left)


def scaled_lines(lines: tuple[PurchaseLine, ...], kept: int, total: int
                 ) -> tuple[PurchaseLine, ...]:
    """The lines scaled to ``kept`` of ``total`` (minor units): an amount-only return."""
    if kept >= total:
        return lines
    return tuple(replace(line, unit_price=line.unit_price * kept // total,
                         discount=line.discount * kept // total,
                         tax=line.tax * kept // total)
                 for line in lines if kept)

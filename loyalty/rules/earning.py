"""How many points a purchase earns, and why: the earn seam.

``calculator_for(settings)`` returns the ``EarnCalculator`` of a program. Today that is
``PointsPerCurrencyUnit`` (one program setting); the declarative earn-rules engine replaces it
behind the same protocol, so the posting use case does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from loyalty.domain.basket import Basket
from loyalty.domain.money import Money
from loyalty.rules.settings import EarnSettings, ProgramSettings


@dataclass(frozen=True, slots=True)
class ExplanationLine:
    """One step of an earn calculation, in words and numbers, for members and agents."""

    rule: str
    text: str
    points: int

    def as_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "text": self.text, "points": self.points}


@dataclass(frozen=True, slots=True)
class EarnResult:
    points: int
    earn_base: int  # minor units of the basket's currency
    rule_id: str
    rule_version: int | None
    explanation: tuple[ExplanationLine, ...]


class EarnCalculator(Protocol):
    def evaluate(self, basket: Basket) -> EarnResult: ...


@dataclass(frozen=True)
class PointsPerCurrencyUnit:
    """``points_per_unit`` points for each whole currency unit of the earn base, rounded once."""

    settings: EarnSettings
    rule_id = "base-rate"

    def earn_base(self, basket: Basket) -> int:
        base = sum(
            line.amount if self.settings.include_tax else line.net_amount for line in basket.lines
        )
        if self.settings.include_shipping:
            base += basket.shipping
        return max(base, 0)

    def evaluate(self, basket: Basket) -> EarnResult:
        base = self.earn_base(basket)
        base_money = Money(base, basket.currency)
        raw = base_money.to_decimal() * self.settings.points_per_unit
        points = self.settings.rounding.round(raw)
        included = [
            "tax included" if self.settings.include_tax else "net of tax",
            "after discounts",
            "shipping included" if self.settings.include_shipping else "shipping excluded",
        ]
        explanation = (
            ExplanationLine(
                self.rule_id,
                f"earn base {base_money} {basket.currency} ({', '.join(included)})",
                0,
            ),
            ExplanationLine(
                self.rule_id,
                f"{_plain(self.settings.points_per_unit)} point(s) per {basket.currency}: "
                f"{_plain(raw)} rounded {self.settings.rounding.value} = {points}",
                points,
            ),
        )
        return EarnResult(points, base, self.rule_id, None, explanation)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def calculator_for(settings: ProgramSettings) -> EarnCalculator:
    """The seam: the earn calculator of a program with these settings."""
    return PointsPerCurrencyUnit(settings.earn)

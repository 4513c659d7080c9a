"""Program settings: the documented semantics on which real loyalty programs disagree.

Every choice here is a setting with a stated default (see the README's "Program settings").
The models forbid unknown keys, so a typo in a setting is an error rather than a silent default.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from loyalty.domain.ledger import ExpiryPolicy, PendingPolicy
from loyalty.domain.money import RoundingMode


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError('write rates as decimal strings such as "1.5"; floats are never exact')
    return value


ExactDecimal = Annotated[Decimal, BeforeValidator(_no_float)]


class EarnSettings(BaseModel):
    """The simple earn setting: points per whole currency unit of the earn base."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    points_per_unit: ExactDecimal = Field(default=Decimal(1), ge=0, le=Decimal(10_000))
    rounding: RoundingMode = RoundingMode.FLOOR
    include_tax: bool = False
    include_shipping: bool = False


class ProgramSettings(BaseModel):
    """Settings of one program, stored with it as JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    earn: EarnSettings = EarnSettings()
    pending: PendingPolicy = PendingPolicy()
    expiry: ExpiryPolicy = ExpiryPolicy()

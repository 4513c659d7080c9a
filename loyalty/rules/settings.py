"""Program settings: the documented semantics on which real loyalty programs disagree.

Every choice here is a setting with a stated default (see the README's "Program settings").
The models forbid unknown keys, so a typo in a setting is an error rather than a silent default.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from loyalty.domain.ledger import ExpiryPolicy, PendingPolicy
from loyalty.domain.money import RoundingMode


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("write rates as decimal strings such as \"1.5\"; floats are never exact")
    return value


ExactDecimal = Annotated[Decimal, BeforeValidator(_no_float)]


class RoundingScope(StrEnum):
    BASKET = "basket"  # add up each rule's exact points over the basket, round once
    LINE = "line"  # round each line's points, then add them up


class EarnSettings(BaseModel):
    """What the earn base is, and how points are rounded.

    ``points_per_unit`` is the whole earn rule of a program that defines no ``rules``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    points_per_unit: ExactDecimal = Field(default=Decimal(1), ge=0, le=Decimal(10_000))
    rounding: RoundingMode = RoundingMode.FLOOR
    rounding_scope: RoundingScope = RoundingScope.BASKET
    include_tax: bool = False
    include_shipping: bool = False
    before_discounts: bool = False  # true: discounts do not reduce the base
    excluded_skus: tuple[str, ...] = ()
    excluded_categories: tuple[str, ...] = ()
    include_points_paid: bool = False  # does the part paid with points earn?
    include_gift_cards: bool = False  # does the part paid with gift cards earn?


class NegativeBalancePolicy(StrEnum):
    ALLOW = "allow"  # the balance goes negative; later earnings pay the debt first
    CLAMP = "clamp"  # reverse what is there, record what could not be reversed
    REFUSE = "refuse"  # refuse the return


class ReturnSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    negative_balance: NegativeBalancePolicy = NegativeBalancePolicy.ALLOW
    give_back_burned_points: bool = True


class RedemptionSettings(BaseModel):
    """Paying with points at the till: the value of a point and the bounds of a burn."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    point_value: ExactDecimal = Field(default=Decimal("0.01"), gt=0)  # currency units
    minimum: int = Field(default=0, ge=0)
    max_basket_share: ExactDecimal = Field(default=Decimal(1), gt=0, le=1)
    step: int = Field(default=1, ge=1)


class AdjustmentSettings(BaseModel):
    """What an agent may do alone; above it, a supervisor approves (maker-checker)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reasons: tuple[str, ...] = ("goodwill", "correction", "compensation", "fraud")
    agent_limit_per_adjustment: int = Field(default=500, ge=0)
    agent_limit_per_day: int = Field(default=2000, ge=0)
    qualifying: bool = False  # do goodwill points count toward tiers?


class ClosureSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    remaining_points: str = Field(default="forfeit", pattern="^(forfeit|keep)$")
    keep_days: int = Field(default=90, ge=1, le=3650)


class PeriodLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    period: str = Field(default="month", pattern="^(day|week|month|year)$")
    points: int = Field(default=5000, gt=0)


class TransferSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    per_transfer: int = Field(default=1000, gt=0)
    per_period: PeriodLimit = PeriodLimit()


class ReferralSettings(BaseModel):
    """Referrals: a referee enrols with a referrer's code; when the referee's first qualifying
    purchase clears its return window, a ``referral_completed`` event rewards both by rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # the smallest earn base (currency units) of a purchase that completes a referral
    minimum_purchase: ExactDecimal = Field(default=Decimal(0), ge=0)
    # days after the purchase before it counts (the return window); None: the pending days
    clear_after_days: int | None = Field(default=None, ge=0, le=365)
    # referrals rewarded per referrer and period; beyond it a referral completes unrewarded
    max_rewarded_per_referrer: int = Field(default=10, ge=0)
    cap_period: str = Field(default="year", pattern="^(month|year|lifetime)$")


class NoticeSettings(BaseModel):
    """Proactive notices the notices job looks for; ``None`` (``false`` for the flags) turns
    one off. What each finds and when it fires again: ``loyalty.domain.notices``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    points_expiring_within_days: int | None = Field(default=30, ge=1, le=365)
    near_next_tier_percent: int | None = Field(default=10, ge=1, le=99)
    tier_drop_within_days: int | None = Field(default=30, ge=1, le=365)
    lapsed_after_days: int | None = Field(default=90, ge=1, le=3650)
    birthday: bool = True
    reward_back_in_stock: bool = True


class FinanceSettings(BaseModel):
    """What a point costs the program (currency units), for the liability in money; ``None``
    uses the redemption ``point_value``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cost_per_point: ExactDecimal | None = Field(default=None, gt=0)


class ProgramSettings(BaseModel):
    """Settings of one program version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str | None = Field(default=None, description="must be the program's, if given")
    time_zone: str | None = Field(default=None, description="must be the program's, if given")
    earn: EarnSettings = EarnSettings()
    pending: PendingPolicy = PendingPolicy()
    expiry: ExpiryPolicy = ExpiryPolicy()
    returns: ReturnSettings = ReturnSettings()
    redemption: RedemptionSettings = RedemptionSettings()
    adjustments: AdjustmentSettings = AdjustmentSettings()
    closure: ClosureSettings = ClosureSettings()
    transfers: TransferSettings = TransferSettings()
    referrals: ReferralSettings = ReferralSettings()
    notices: NoticeSettings = NoticeSettings()
    finance: FinanceSettings = FinanceSettings()

"""The analytics report's contract: its query and its answer.

Money figures are decimal strings in the program's currency (``currency``); rates are decimal
strings too (a ratio between 0 and 1 with 4 decimals, NPS between -100 and 100 with one), never
floats; a figure with no meaning (a rate whose denominator is zero, the liability of a channel)
is null. The README's "Analytics: figure definitions" defines each figure.
"""

from __future__ import annotations

from marshmallow import fields, validate

from api.schemas import Schema, Text
from loyalty.services.analytics import BREAKDOWNS, INTERVALS, MAX_TOP

_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"


def _money(description: str) -> fields.String:
    return fields.String(
        allow_none=True,
        metadata={
            "description": f"{description}; a decimal string in the program's currency",
            "example": "12.34",
            "pattern": _DECIMAL,
        },
    )


def _rate(description: str, example: str = "0.3333") -> fields.String:
    return fields.String(
        allow_none=True,
        metadata={
            "description": f"{description}; a decimal string, null when its denominator is zero",
            "example": example,
            "pattern": _DECIMAL,
        },
    )


def _count(description: str, *, nullable: bool = False) -> fields.Integer:
    return fields.Integer(allow_none=nullable, metadata={"description": description})


class AnalyticsQuerySchema(Schema):
    start = fields.Date(
        required=True,
        data_key="from",
        metadata={"description": "the period's first day, in the program's time zone (included)"},
    )
    end = fields.Date(
        required=True,
        data_key="to",
        metadata={
            "description": "the period's last day, in the program's time zone (included); "
            "at most 731 days after from"
        },
    )
    by = Text(
        load_default=None,
        validate=validate.OneOf(BREAKDOWNS),
        metadata={
            "description": "a breakdown beside the totals: per purchase channel or current tier"
        },
    )
    interval = Text(
        load_default=None,
        validate=validate.OneOf(INTERVALS),
        metadata={
            "description": "the trend's buckets; default: day up to 31 days, week up to 184, "
            "month beyond"
        },
    )
    top = fields.Integer(
        load_default=10,
        validate=validate.Range(1, MAX_TOP),
        metadata={"description": "how many rewards the popularity list shows"},
    )


class FiguresSchema(Schema):
    key = fields.String(metadata={"description": "'total', a channel or a tier id"})
    members = _count("members enrolled by the period's end", nullable=True)
    new_members = _count("members enrolled in the period", nullable=True)
    active_members = _count("distinct members with at least one purchase in the period")
    repeat_members = _count("active members with two purchases or more")
    repeat_purchase_rate = _rate("repeat members / active members")
    previous_active_members = _count("active members of the previous period")
    retained_members = _count("active members of the previous period active again")
    retention_rate = _rate("retained / previous period's active members")
    churn_rate = _rate("1 - retention rate")
    purchases = _count("purchases in the period")
    revenue = _money("purchases' totals net of their refunds")
    average_order_value = _money("revenue / purchases")
    purchase_frequency = _rate("purchases / active members", "1.33")
    clv_historical = _money("net revenue of every purchase to the period's end / members")
    clv_predicted = _money("revenue per active member x min(1 / churn, 3650 days) periods")
    nps = _rate("% promoters (9-10) - % detractors (0-6)", "40.0")
    nps_answers = _count("NPS answers in the period")
    csat_average = _rate("average CSAT score (1-5)", "4.33")
    csat_answers = _count("CSAT answers in the period")
    ces_average = _rate("average CES score (1-7)", "3.50")
    ces_answers = _count("CES answers in the period")
    points_issued = _count("points earned (available or pending)", nullable=True)
    points_redeemed = _count("points spent, net of points given back", nullable=True)
    points_expired = _count("points expired", nullable=True)
    points_reversed = _count("points reversed by returns", nullable=True)
    points_adjusted = _count("net points of agents' adjustments", nullable=True)
    points_pending = _count("pending points now", nullable=True)
    redemption_rate = _rate("redeemed / issued")
    breakage_rate = _rate("expired / (redeemed + expired)")
    liability_points = _count("outstanding available points now (debts count 0)", nullable=True)
    liability = _money("outstanding points x the cost of a point")
    pending_liability = _money("pending points x the cost of a point")


class TrendPointSchema(Schema):
    start = fields.Date()
    end = fields.Date(metadata={"description": "the bucket's last day (included)"})
    active_members = fields.Integer()
    new_members = fields.Integer()
    purchases = fields.Integer()
    revenue = fields.String(metadata={"description": "decimal string", "pattern": _DECIMAL})
    points_issued = fields.Integer()
    points_redeemed = fields.Integer()


class TierCountSchema(Schema):
    tier = fields.String()
    name = fields.String(
        allow_none=True, metadata={"description": "null: a tier the ladder in force no longer has"}
    )
    members = fields.Integer()


class TierMoveSchema(Schema):
    from_tier = fields.String(allow_none=True)
    to_tier = fields.String()
    direction = fields.String(metadata={"description": "up, down or other"})
    moves = fields.Integer()


class RewardCountSchema(Schema):
    reward_id = fields.String()
    name = fields.String()
    redemptions = fields.Integer()
    points = fields.Integer()


class AnalyticsSchema(Schema):
    program_id = fields.String()
    program_name = fields.String()
    currency = fields.String()
    time_zone = fields.String()
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    days = fields.Integer()
    previous_from = fields.Date()
    previous_to = fields.Date()
    as_of = fields.AwareDateTime(
        metadata={"description": "the instant of pending points, liability and tier distribution"}
    )
    cost_per_point = fields.String(metadata={"description": "currency units", "pattern": _DECIMAL})
    interval = fields.String()
    by = fields.String(allow_none=True)
    totals = fields.Nested(FiguresSchema)
    groups = fields.List(fields.Nested(FiguresSchema))
    trend = fields.List(fields.Nested(TrendPointSchema))
    tier_distribution = fields.List(fields.Nested(TierCountSchema))
    tier_moves = fields.List(fields.Nested(TierMoveSchema))
    tier_moves_up = fields.Integer()
    tier_moves_down = fields.Integer()
    rewards = fields.List(fields.Nested(RewardCountSchema))

"""The analytics report for people: labels and formats shared by the terminal table and the
HTML page. Rates are shown as percentages, NPS as a score, money in the program's currency;
a figure with no value is ``n/a``."""

from __future__ import annotations

from decimal import Decimal

from loyalty.domain.money import currency_exponent
from loyalty.services.analytics import AnalyticsReport, Figures

NOT_AVAILABLE = "n/a"

# (section, [(attribute, label, kind)]): kind says how the value is shown
SECTIONS: list[tuple[str, list[tuple[str, str, str]]]] = [
    (
        "Members",
        [
            ("members", "members", "count"),
            ("new_members", "new members", "count"),
            ("active_members", "active members", "count"),
            ("repeat_purchase_rate", "repeat-purchase rate", "rate"),
            ("previous_active_members", "active in the previous period", "count"),
            ("retained_members", "... and again in this one", "count"),
            ("retention_rate", "retention rate", "rate"),
            ("churn_rate", "churn rate", "rate"),
        ],
    ),
    (
        "Purchases",
        [
            ("purchases", "purchases", "count"),
            ("revenue", "revenue (net of returns)", "money"),
            ("average_order_value", "average order value", "money"),
            ("purchase_frequency", "purchases per active member", "number"),
            ("clv_historical", "lifetime value, historical", "money"),
            ("clv_predicted", "lifetime value, predicted", "money"),
        ],
    ),
    (
        "Surveys",
        [
            ("nps", "NPS", "number"),
            ("nps_answers", "NPS answers", "count"),
            ("csat_average", "CSAT, average", "number"),
            ("csat_answers", "CSAT answers", "count"),
            ("ces_average", "CES, average", "number"),
            ("ces_answers", "CES answers", "count"),
        ],
    ),
    (
        "Points",
        [
            ("points_issued", "issued", "count"),
            ("points_redeemed", "redeemed", "count"),
            ("points_expired", "expired", "count"),
            ("points_reversed", "reversed", "count"),
            ("points_adjusted", "adjusted", "count"),
            ("points_pending", "pending now", "count"),
            ("redemption_rate", "redemption rate", "rate"),
            ("breakage_rate", "breakage rate", "rate"),
            ("liability_points", "outstanding now", "count"),
            ("liability", "liability now", "money"),
            ("pending_liability", "pending liability now", "money"),
        ],
    ),
]


def money(report: AnalyticsReport, minor: int) -> str:
    """An amount with thousands separators: ``1,465,634.02``."""
    exponent = currency_exponent(report.currency)
    return f"{Decimal(minor).scaleb(-exponent):,.{exponent}f}"


def shown(report: AnalyticsReport, value: object, kind: str) -> str:
    if value is None:
        return NOT_AVAILABLE
    if kind == "money":
        assert isinstance(value, int)
        return money(report, value)
    if kind == "rate":
        assert isinstance(value, Decimal)
        return f"{(value * 100).quantize(Decimal('0.01'))} %"
    if kind == "count":
        return f"{value:,}"
    return str(value)


def columns(report: AnalyticsReport) -> list[Figures]:
    """The totals, then each group of the breakdown."""
    return [report.totals, *report.groups]


def heading(report: AnalyticsReport) -> list[str]:
    period, previous = report.period, report.previous
    return [
        f"{report.program_name} ({report.program_id}): {period.start} to {period.end} "
        f"({period.days} days, {report.time_zone}), compared with {previous.start} to "
        f"{previous.end}",
        f"Money in {report.currency}; a point costs {report.cost_per_point:f} {report.currency}; "
        f"pending points, liability and tiers as of {report.as_of:%Y-%m-%d %H:%M} UTC.",
    ]

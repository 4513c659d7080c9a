"""The program's figures for marketers and finance."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.analytics_schemas import AnalyticsQuerySchema, AnalyticsSchema
from api.auth import requires
from api.views import context
from loyalty.domain.access import Scope
from loyalty.services import analytics

blp = Blueprint(
    "analytics",
    __name__,
    url_prefix="/v1/programs/<program>",
    description="The program's figures: members, purchases, surveys, points, "
    "liability, tiers and rewards, for a period.",
)


@blp.route("/analytics")
class Analytics(MethodView):
    @requires(Scope.MARKETER)
    @blp.arguments(AnalyticsQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, AnalyticsSchema)
    def get(self, query: dict[str, Any], program: str) -> Any:
        """Read the program's figures

        For the days ``from`` to ``to`` (both included, in the program's time zone; at most
        731 days): active, new and repeat members, retention and churn against the previous
        period of as many days, order value, purchase frequency, lifetime value, NPS, CSAT and
        CES, points issued, redeemed, expired and reversed, redemption and breakage rates, the
        outstanding points liability in money, tier distribution and moves, and the most
        redeemed rewards; ``by`` adds a breakdown per channel or per current tier, and
        ``trend`` holds the figures per day, week or month (``interval``). Each figure is
        defined in the README. Writes nothing.
        """
        return analytics.analytics_report(
            context(), analytics.ReportRequest(program_id=program, **query)
        ).document()

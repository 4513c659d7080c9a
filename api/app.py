"""The Flask application factory."""

from __future__ import annotations

from flask import Flask, jsonify

from api.auth import RateLimiter, authorize, public
from api.balance_lane import BalanceLane
from api.errors import PROBLEM_DESCRIPTIONS, LoyaltyApi, problem, register_error_handlers
from api.posting_lane import PostingLane
from api.views import refuse_lone_surrogates
from loyalty import __version__
from loyalty.config import Settings
from loyalty.services.bootstrap import bootstrap
from loyalty.services.context import Context


def create_app(settings: Settings | None = None, *, context: Context | None = None) -> Flask:
    """Build the API for ``settings``; tests may pass a ready ``context`` (clock, database)."""
    settings = settings or Settings()
    app = Flask("loyalty", static_folder=None)
    app.config.update(
        API_TITLE="Loyalty engine API",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        OPENAPI_REDOC_PATH="redoc",
        OPENAPI_REDOC_URL="https://cdn.jsdelivr.net/npm/redoc/bundles/redoc.standalone.js",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "The integration API of the loyalty engine: members, purchases, points. "
                    "Errors are application/problem+json (RFC 9457). Money is a decimal string "
                    "in the purchase currency; points are integers. Every POST that changes "
                    "state is idempotent (a natural key such as external_id, and the optional "
                    "Idempotency-Key header): a replay answers 200 with the original body and "
                    "the header Idempotent-Replayed: true."
                )
            }
        },
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["loyalty_settings"] = settings
    app.extensions["loyalty"] = context or bootstrap(settings)
    app.extensions["loyalty_rate_limiter"] = RateLimiter(settings.rate_limit_per_minute)
    app.before_request(authorize)
    app.before_request(refuse_lone_surrogates)

    app.json.sort_keys = False  # keep the schemas' field order in answers
    api = LoyaltyApi(app)
    app.extensions["loyalty_api"] = api
    register_error_handlers(app)

    from api.views import (
        access,
        analytics,
        desk,
        engagement,
        members,
        notices,
        points,
        purchases,
        rewards,
        rules,
        segments,
        webhooks,
    )

    for blueprint in (members.blp, purchases.blp, purchases.batch_blp, points.blp,
                      rewards.blp, desk.blp, rules.blp, access.blp, notices.blp, segments.blp,
                      engagement.blp, webhooks.blp, analytics.blp):
        api.register_blueprint(blueprint)

    @app.get("/health")
    @public
    def health() -> object:
        return jsonify(status="ok", version=__version__)

    @app.get("/problems/<code>")
    @public
    def problem_type(code: str) -> object:
        title = PROBLEM_DESCRIPTIONS.get(code)
        if title is None:
            return problem(404, "not-found", "Not found", f"no problem type {code!r}")
        return jsonify(type=f"/problems/{code}", title=title)

    # The two most frequent calls, a balance read and a purchase posting, skip Flask's request
    # machinery when they can (``api.lanes``).
    app.wsgi_app = BalanceLane(app)  # type: ignore[method-assign]
    app.wsgi_app = PostingLane(app)  # type: ignore[method-assign]
    app.extensions["loyalty_posting_lane"] = app.wsgi_app  # the worker's group commit
    return app

"""Webhook endpoints of a program, their deliveries, and replays. Admin only."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_principal, requires
from api.views import context, settings
from api.webhook_schemas import (
    CreateWebhookSchema,
    DeliveryPageSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    ReplayedSchema,
    ReplaySchema,
    UpdateWebhookSchema,
    WebhookCreatedSchema,
    WebhookListSchema,
    WebhookSchema,
)
from loyalty.domain.access import Scope
from loyalty.domain.errors import InvalidRequest
from loyalty.services import webhooks
from loyalty.services.access import Actor

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/v1/programs/<program>/webhooks",
    description="Webhook endpoints: where the program's business events are sent, signed the "
    "Standard Webhooks way, with retries, a dead-letter state and replays.",
)


def _actor() -> Actor:
    return Actor.of(current_principal())


@blp.route("")
class Webhooks(MethodView):
    @requires(Scope.ADMIN)
    @blp.response(200, WebhookListSchema)
    def get(self, program: str) -> Any:
        """List webhook endpoints

        Their secrets are never shown again.
        """
        return {"webhooks": webhooks.list_endpoints(context(), program)}

    @requires(Scope.ADMIN)
    @blp.arguments(CreateWebhookSchema)
    @blp.response(201, WebhookCreatedSchema)
    def post(self, data: dict[str, Any], program: str) -> Any:
        """Register a webhook endpoint

        Events recorded from now on (of ``event_types``; none: every type) are sent to
        ``url``, signed with the ``secret`` of the answer, shown this once (``whsec_...``).
        Earlier events are never sent to it. Not idempotent, like API keys: a retried
        creation makes a second endpoint, which can be deactivated.
        """
        command = webhooks.CreateEndpoint(program, data["url"], tuple(data["event_types"]))
        return webhooks.create_endpoint(context(), command, _actor())


@blp.route("/<endpoint_id>")
class Webhook(MethodView):
    @requires(Scope.ADMIN)
    @blp.response(200, WebhookSchema)
    def get(self, program: str, endpoint_id: str) -> Any:
        """Read a webhook endpoint"""
        return webhooks.get_endpoint(context(), program, endpoint_id)

    @requires(Scope.ADMIN)
    @blp.arguments(UpdateWebhookSchema)
    @blp.response(200, WebhookSchema)
    def patch(self, data: dict[str, Any], program: str, endpoint_id: str) -> Any:
        """Change a webhook endpoint

        Its ``url``, its ``event_types`` (empty: every type), or ``active``: an inactive
        endpoint gets nothing for the events recorded meanwhile, and its pending deliveries
        wait until it is active again.
        """
        types = data.get("event_types")
        return webhooks.update_endpoint(
            context(),
            program,
            endpoint_id,
            _actor(),
            url=data.get("url"),
            event_types=tuple(types) if types is not None else None,
            active=data.get("active"),
        )

    @requires(Scope.ADMIN)
    @blp.response(200, WebhookSchema)
    def delete(self, program: str, endpoint_id: str) -> Any:
        """Deactivate a webhook endpoint

        Nothing more is sent to it. It is kept, with its deliveries, for the record, and
        ``PATCH {"active": true}`` resumes it. Idempotent.
        """
        return webhooks.deactivate_endpoint(context(), program, endpoint_id, _actor())


@blp.route("/<endpoint_id>/deliveries")
class Deliveries(MethodView):
    @requires(Scope.ADMIN)
    @blp.arguments(DeliveryQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, DeliveryPageSchema)
    def get(self, query: dict[str, Any], program: str, endpoint_id: str) -> Any:
        """List an endpoint's deliveries

        Newest first, of one ``status`` if asked (``pending``, ``delivered``, ``dead``), with
        each one's attempts, last answer or error and next attempt. Pass ``next_cursor`` back
        as ``cursor`` for the next page.
        """
        limit = query.get("limit", settings().page_size_default)
        if limit > settings().page_size_max:
            raise InvalidRequest(f"limit is at most {settings().page_size_max}", field="limit")
        return webhooks.list_deliveries(
            context(),
            program,
            endpoint_id,
            status=query.get("status"),
            cursor=query.get("cursor"),
            limit=limit,
        )


@blp.route("/<endpoint_id>/deliveries:replay")
class DeliveriesReplay(MethodView):
    @requires(Scope.ADMIN)
    @blp.arguments(ReplaySchema)
    @blp.response(200, ReplayedSchema)
    def post(self, data: dict[str, Any], program: str, endpoint_id: str) -> Any:
        """Replay deliveries

        The endpoint's ``dead`` deliveries (or ``delivered`` ones, if a receiver lost them),
        of events recorded in [``from``, ``to``) if given, become pending again with their
        attempts counted afresh; ``loyalty jobs deliver-webhooks`` sends them, in order per
        member.
        """
        return webhooks.replay_deliveries(
            context(),
            program,
            endpoint_id,
            _actor(),
            status=data["status"],
            since=data.get("since"),
            until=data.get("until"),
        )


@blp.route("/<endpoint_id>/deliveries/<int(max=9223372036854775807):delivery_id>/replay")
class DeliveryReplay(MethodView):
    @requires(Scope.ADMIN)
    @blp.response(200, DeliverySchema)
    def post(self, program: str, endpoint_id: str, delivery_id: int) -> Any:
        """Replay one delivery

        A dead or delivered delivery becomes pending again (409 if it is still pending).
        """
        return webhooks.replay_delivery(context(), program, endpoint_id, delivery_id, _actor())

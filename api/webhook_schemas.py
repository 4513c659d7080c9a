"""Schemas of the webhook routes."""

from __future__ import annotations

from marshmallow import fields, validate

from api.schemas import Instant, Schema, Text
from loyalty.domain.business_events import known_event_types
from loyalty.domain.webhooks import MAX_URL_LENGTH
from loyalty.services.webhooks import DELIVERY_STATUSES

EVENT_TYPES = list(known_event_types())


def _event_types(**kwargs: object) -> fields.List:
    return fields.List(
        Text(validate=validate.OneOf(EVENT_TYPES)),
        validate=validate.Length(0, len(EVENT_TYPES)),
        metadata={"description": "the event types sent to the endpoint; empty: every type"},
        **kwargs,
    )


def _url(**kwargs: object) -> Text:
    return Text(
        validate=validate.Length(1, MAX_URL_LENGTH),
        metadata={
            "description": "http:// or https:// URL, without credentials or fragment",
            "example": "https://crm.example.com/hooks",
        },
        **kwargs,
    )


class CreateWebhookSchema(Schema):
    url = _url(required=True)
    event_types = _event_types(load_default=list)


class UpdateWebhookSchema(Schema):
    url = _url()
    event_types = _event_types()
    active = fields.Boolean(metadata={"description": "false stops deliveries; true resumes"})


class WebhookSchema(Schema):
    endpoint_id = fields.String(data_key="id")
    url = fields.String()
    event_types = fields.List(fields.String())
    active = fields.Boolean()
    created_at = fields.AwareDateTime()


class WebhookCreatedSchema(Schema):
    endpoint = fields.Nested(WebhookSchema)
    secret = fields.String(
        metadata={
            "description": "whsec_ + base64 of 32 random bytes: the signing secret, shown this "
            "once",
            "example": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        }
    )


class WebhookListSchema(Schema):
    webhooks = fields.List(fields.Nested(WebhookSchema))


class DeliveryQuerySchema(Schema):
    status = Text(validate=validate.OneOf(DELIVERY_STATUSES))
    limit = fields.Integer(validate=validate.Range(min=1))
    cursor = Text(validate=validate.Length(1, 100))


class DeliverySchema(Schema):
    delivery_id = fields.Integer(data_key="id")
    message_id = fields.String(metadata={"description": "the webhook-id header: msg_<event>"})
    event_type = fields.String()
    member_id = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "pending, delivered or dead"})
    attempts = fields.Integer()
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    last_attempt_at = fields.AwareDateTime(allow_none=True)
    last_status = fields.Integer(
        allow_none=True, metadata={"description": "HTTP status of the last answer"}
    )
    last_error = fields.String(allow_none=True)
    delivered_at = fields.AwareDateTime(allow_none=True)
    recorded_at = fields.AwareDateTime(metadata={"description": "when the event was recorded"})


class DeliveryPageSchema(Schema):
    deliveries = fields.List(fields.Nested(DeliverySchema))
    next_cursor = fields.String(allow_none=True)


class ReplaySchema(Schema):
    status = Text(load_default="dead", validate=validate.OneOf(["dead", "delivered"]))
    since = Instant(
        data_key="from", metadata={"description": "events recorded at or after this instant"}
    )
    until = Instant(data_key="to", metadata={"description": "events recorded before it"})


class ReplayedSchema(Schema):
    replayed = fields.Integer(metadata={"description": "deliveries made pending again"})

"""Webhooks: endpoints that receive the program's business events, and their delivery.

An admin registers an endpoint (an http(s) URL, and optionally the event types it wants; none
means every type) and receives its signing secret once. From then on every outbox event of the
program that the endpoint subscribes to becomes a *delivery* to it; events recorded before the
endpoint existed never do (its ``cursor`` is the newest event id at its creation).

``deliver_webhooks`` is the job. Each pass:

1. *fans out* outbox events not yet fanned out (``domain_events.delivered_at`` is null) into a
   pending delivery per active, subscribed endpoint, and marks them fanned out, in one
   transaction per batch. Marking each event, rather than moving a cursor over event ids, is
   what makes the fan-out safe on PostgreSQL, where ids are taken at insert but become visible
   at commit, in another order: a cursor would skip an event whose transaction committed after
   a later one's;
2. *claims* due pending deliveries, oldest first, never one whose endpoint has an earlier
   pending delivery for the same member (in order per member; a dead delivery no longer holds
   the ones after it; events without a member are not ordered), leases them and commits;
3. *sends* each, signed (``loyalty.domain.webhooks``), with no transaction open;
4. *records* the outcome: a 2xx answer delivers it; anything else (another status, a timeout,
   a refused connection) counts a failure and schedules the next attempt after an exponential
   backoff, until ``max_attempts`` failures make it ``dead``. ``replay`` makes dead ones
   pending again.

Delivery is at least once: a job that dies between sending and recording sends again once the
lease ends; receivers drop duplicates by ``webhook-id``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from loyalty.domain.audit import NewAuditRecord
from loyalty.domain.business_events import known_event_types
from loyalty.domain.errors import Conflict, DeliveryNotFound, InvalidRequest, WebhookNotFound
from loyalty.domain.members import new_id
from loyalty.domain.webhooks import (
    SendResult,
    backoff,
    body,
    check_event_types,
    check_url,
    headers,
    message_id,
    new_secret,
)
from loyalty.services.access import Actor
from loyalty.services.context import Context

DELIVERY_STATUSES = ("pending", "delivered", "dead")
MAX_ERROR_LENGTH = 500

Sender = Callable[[str, bytes, dict[str, str], float], SendResult]


# -- endpoints ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointView:
    endpoint_id: str
    url: str
    event_types: tuple[str, ...]  # empty: every type
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class EndpointCreated:
    endpoint: EndpointView
    secret: str  # shown once


@dataclass(frozen=True)
class CreateEndpoint:
    program_id: str
    url: str
    event_types: tuple[str, ...] = ()


def _view(row: Any) -> EndpointView:
    return EndpointView(
        row.id, row.url, tuple(row.event_types or ()), bool(row.active), row.created_at
    )


def _audit(
    uow: Any,
    actor: Actor,
    action: str,
    program_id: str,
    endpoint_id: str,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    uow.audit.append(
        NewAuditRecord(
            actor=actor.name,
            acting_person=actor.acting_person,
            action=action,
            target_type="webhook_endpoint",
            target_id=endpoint_id,
            program_id=program_id,
            before=before,
            after=after,
        ),
        now,
    )


def _settings(view: EndpointView) -> dict[str, Any]:
    """What the audit log keeps of an endpoint (never its secret)."""
    return {"url": view.url, "event_types": list(view.event_types), "active": view.active}


def create_endpoint(ctx: Context, command: CreateEndpoint, actor: Actor) -> EndpointCreated:
    """Register an endpoint; its secret is in the answer, this once. Not idempotent, like API
    keys: a retried creation makes a second endpoint, which can be deactivated."""
    url = check_url(command.url)
    types = check_event_types(command.event_types, known_event_types())
    now = ctx.clock.now()
    secret = new_secret()
    with ctx.uow() as uow:
        program = uow.programs.get(command.program_id)
        endpoint_id = new_id("wh")
        uow.webhooks.add_endpoint(
            id=endpoint_id,
            program_id=program.id,
            url=url,
            secret=secret,
            event_types=list(types),
            active=True,
            created_at=now,
            cursor=uow.webhooks.newest_event_id(),
        )
        view = EndpointView(endpoint_id, url, types, True, now)
        _audit(uow, actor, "webhook.created", program.id, endpoint_id, now, after=_settings(view))
        uow.commit()
    return EndpointCreated(view, secret)


def list_endpoints(ctx: Context, program_id: str) -> list[EndpointView]:
    with ctx.uow(read_only=True) as uow:
        uow.programs.get(program_id)
        return [_view(row) for row in uow.webhooks.endpoints(program_id)]


def _endpoint(uow: Any, program_id: str, endpoint_id: str, *, lock: bool = False) -> Any:
    uow.programs.get(program_id)
    row = uow.webhooks.endpoint(program_id, endpoint_id, lock=lock)
    if row is None:
        raise WebhookNotFound(f"there is no webhook endpoint {endpoint_id!r} in this program")
    return row


def get_endpoint(ctx: Context, program_id: str, endpoint_id: str) -> EndpointView:
    with ctx.uow(read_only=True) as uow:
        return _view(_endpoint(uow, program_id, endpoint_id))


def update_endpoint(
    ctx: Context,
    program_id: str,
    endpoint_id: str,
    actor: Actor,
    *,
    url: str | None = None,
    event_types: tuple[str, ...] | None = None,
    active: bool | None = None,
) -> EndpointView:
    """Change an endpoint's URL, event types or state. A deactivated endpoint gets no
    deliveries for the events recorded meanwhile; its pending ones wait until it is active
    again."""
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = check_url(url)
    if event_types is not None:
        changes["event_types"] = list(check_event_types(event_types, known_event_types()))
    if active is not None:
        changes["active"] = active
    now = ctx.clock.now()
    with ctx.uow() as uow:
        before = _view(_endpoint(uow, program_id, endpoint_id, lock=True))
        if changes:
            uow.webhooks.update_endpoint(endpoint_id, **changes)
        after = _view(_endpoint(uow, program_id, endpoint_id))
        if after != before:
            action = (
                "webhook.deactivated" if before.active and not after.active else "webhook.updated"
            )
            _audit(
                uow,
                actor,
                action,
                program_id,
                endpoint_id,
                now,
                before=_settings(before),
                after=_settings(after),
            )
        uow.commit()
    return after


def deactivate_endpoint(
    ctx: Context, program_id: str, endpoint_id: str, actor: Actor
) -> EndpointView:
    """Stop sending to an endpoint (idempotent). It is kept, with its deliveries, for the
    record; ``update_endpoint(active=True)`` resumes it."""
    return update_endpoint(ctx, program_id, endpoint_id, actor, active=False)


# -- deliveries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryView:
    delivery_id: int
    message_id: str  # the webhook-id header: msg_<event id>
    event_type: str
    member_id: str | None
    status: str  # pending, delivered, dead
    attempts: int  # failed attempts (and the successful one)
    next_attempt_at: datetime | None  # pending only
    last_attempt_at: datetime | None
    last_status: int | None  # the HTTP status of the last answer, if there was one
    last_error: str | None
    delivered_at: datetime | None
    recorded_at: datetime  # when the event entered the outbox


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: tuple[DeliveryView, ...]
    next_cursor: str | None


def _delivery_view(record: Any) -> DeliveryView:
    return DeliveryView(
        record.id,
        message_id(record.event_id),
        record.type,
        record.member_id,
        record.status,
        record.attempts,
        record.next_attempt_at if record.status == "pending" else None,
        record.last_attempt_at,
        record.last_status,
        record.last_error,
        record.delivered_at,
        record.recorded_at,
    )


def list_deliveries(
    ctx: Context,
    program_id: str,
    endpoint_id: str,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> DeliveryPage:
    """An endpoint's deliveries, newest first, ``limit`` a page."""
    from loyalty.services.points import decode_cursor, encode_cursor

    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidRequest(f"status is one of {', '.join(DELIVERY_STATUSES)}", field="status")
    before_id = None
    if cursor is not None:
        before_id = decode_cursor(cursor)
        if before_id is None:
            raise InvalidRequest("this cursor was not given by this API", field="cursor")
    with ctx.uow(read_only=True) as uow:
        _endpoint(uow, program_id, endpoint_id)
        records = uow.webhooks.deliveries(
            endpoint_id, status=status, before_id=before_id, limit=limit + 1
        )
    page = records[:limit]
    return DeliveryPage(
        tuple(_delivery_view(r) for r in page),
        encode_cursor(page[-1].id) if len(records) > limit else None,
    )


@dataclass(frozen=True)
class Replayed:
    replayed: int


def replay_deliveries(
    ctx: Context,
    program_id: str,
    endpoint_id: str,
    actor: Actor,
    *,
    status: str = "dead",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Replayed:
    """Make the endpoint's ``dead`` (or ``delivered``) deliveries pending again, due now, with
    their attempts counted afresh; ``since``/``until`` (inclusive/exclusive) bound the events'
    ``recorded_at``. The next delivery run sends them, in order per member."""
    if status not in ("dead", "delivered"):
        raise InvalidRequest("replay dead or delivered deliveries", field="status")
    if since is not None and until is not None and until <= since:
        raise InvalidRequest("to comes after from", field="to")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        _endpoint(uow, program_id, endpoint_id)
        count = uow.webhooks.replay(endpoint_id, status=status, since=since, until=until, now=now)
        _audit(
            uow,
            actor,
            "webhook.replayed",
            program_id,
            endpoint_id,
            now,
            after={
                "status": status,
                "from": since.isoformat() if since else None,
                "to": until.isoformat() if until else None,
                "replayed": count,
            },
        )
        uow.commit()
    return Replayed(count)


def replay_delivery(
    ctx: Context, program_id: str, endpoint_id: str, delivery_id: int, actor: Actor
) -> DeliveryView:
    """Send one delivery again (dead, or delivered and lost by the receiver)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        _endpoint(uow, program_id, endpoint_id)
        record = uow.webhooks.delivery(endpoint_id, delivery_id)
        if record is None:
            raise DeliveryNotFound(f"there is no delivery {delivery_id} to this endpoint")
        if record.status == "pending":
            raise Conflict(
                "this delivery is still pending: it will be sent anyway", status_now="pending"
            )
        uow.webhooks.replay(
            endpoint_id,
            status=record.status,
            since=None,
            until=None,
            now=now,
            delivery_id=delivery_id,
        )
        _audit(
            uow,
            actor,
            "webhook.replayed",
            program_id,
            endpoint_id,
            now,
            after={"delivery": delivery_id, "status": record.status, "replayed": 1},
        )
        uow.commit()
        record = uow.webhooks.delivery(endpoint_id, delivery_id)
    return _delivery_view(record)


# -- the delivery job -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retries and timeouts (``LOYALTY_WEBHOOK_*`` settings)."""

    max_attempts: int = 8
    backoff_seconds: int = 30
    backoff_max_seconds: int = 6 * 3600
    timeout_seconds: float = 5.0

    @classmethod
    def of(cls, settings: Any) -> DeliveryPolicy:
        return cls(
            settings.webhook_max_attempts,
            settings.webhook_backoff_seconds,
            settings.webhook_backoff_max_seconds,
            settings.webhook_timeout_seconds,
        )

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is left to its sender before another job may take it:
        well beyond one request's timeout."""
        return timedelta(seconds=2 * self.timeout_seconds + 60)


@dataclass
class DeliveryReport:
    events: int = 0  # outbox events fanned out
    deliveries: int = 0  # deliveries those made
    delivered: int = 0
    failed: int = 0  # failed attempts that will be retried
    dead: int = 0  # failed attempts that were the last allowed

    @property
    def attempts(self) -> int:
        return self.delivered + self.failed + self.dead


def fan_out(ctx: Context, *, batch_size: int = 1000) -> tuple[int, int]:
    """Turn one batch of new outbox events into deliveries: (events, deliveries)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        events = uow.webhooks.events_to_fan_out(batch_size)
        if not events:
            return 0, 0
        endpoints = uow.webhooks.active_endpoints({program for _, program, _, _ in events})
        rows = [
            {
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "member_id": member_id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            }
            for event_id, program_id, member_id, type in events
            for endpoint_id, endpoint_program, types, cursor in endpoints
            if endpoint_program == program_id and event_id > cursor and (not types or type in types)
        ]
        uow.webhooks.add_deliveries(rows)
        uow.webhooks.mark_fanned_out([event_id for event_id, _, _, _ in events], now)
        uow.commit()
    return len(events), len(rows)


def deliver_webhooks(
    ctx: Context,
    *,
    send: Sender,
    policy: DeliveryPolicy = DeliveryPolicy(),
    limit: int | None = None,
    batch_size: int = 100,
) -> DeliveryReport:
    """Fan out new events and send every delivery due now (at most ``limit`` attempts), until
    nothing is left to do; safe to run in several places at once."""
    report = DeliveryReport()
    while True:
        events, created = fan_out(ctx)
        report.events += events
        report.deliveries += created
        room = batch_size if limit is None else min(batch_size, limit - report.attempts)
        due = _claim(ctx, policy, room) if room > 0 else []
        for delivery in due:
            _attempt(ctx, delivery, send, policy, report)
        if not events and not due:
            return report


def _claim(ctx: Context, policy: DeliveryPolicy, limit: int) -> list[Any]:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        due = uow.webhooks.claim_due(now, now + policy.lease, limit)
        uow.commit()
    return due


def _attempt(
    ctx: Context, delivery: Any, send: Sender, policy: DeliveryPolicy, report: DeliveryReport
) -> None:
    """Send one delivery (no transaction open meanwhile) and record how it went."""
    payload = body(
        delivery.type,
        delivery.occurred_at,
        {"program_id": delivery.program_id, "member_id": delivery.member_id, **delivery.payload},
    )
    message = message_id(delivery.event_id)
    sent_at = ctx.clock.now()
    try:
        result = send(
            delivery.url,
            payload,
            headers(delivery.secret, message, int(sent_at.timestamp()), payload),
            policy.timeout_seconds,
        )
    except Exception as error:  # a sender's own bug must not stop the other deliveries
        result = SendResult(None, f"{type(error).__name__}: {error}")
    now = ctx.clock.now()
    attempts = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status": result.status,
        "last_error": (result.error or "")[:MAX_ERROR_LENGTH] or None,
    }
    if result.ok:
        values.update(status="delivered", delivered_at=now, next_attempt_at=now)
        report.delivered += 1
    elif attempts >= policy.max_attempts:
        values.update(status="dead", next_attempt_at=now)
        report.dead += 1
    else:
        values["next_attempt_at"] = now + backoff(
            attempts, policy.backoff_seconds, policy.backoff_max_seconds
        )
        report.failed += 1
    with ctx.uow() as uow:
        uow.webhooks.record_attempt(delivery.id, **values)
        uow.commit()

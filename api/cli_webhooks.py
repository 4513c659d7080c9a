"""``loyalty webhooks create|list|replay`` and ``loyalty jobs deliver-webhooks``."""

from __future__ import annotations

import time
from datetime import UTC
from typing import Any

import click

from api.cli import _operator, _settings, jobs, main
from loyalty.services.bootstrap import bootstrap

_INSTANT = click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d"])


def _fail(error: Exception) -> None:
    from loyalty.domain.errors import LoyaltyError

    if isinstance(error, LoyaltyError):
        where = f"{error.field}: " if error.field else ""
        raise click.ClickException(f"{where}{error.detail}") from None
    raise error


def _utc(value: Any) -> Any:
    """A date or an instant from the command line; a date (no offset) is midnight UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@main.group()
def webhooks() -> None:
    """Webhook endpoints: create (the secret is shown once), list, replay dead deliveries."""


@webhooks.command("create")
@click.option("--program", "program_id", required=True)
@click.option("--url", required=True, help="http:// or https:// URL that receives the events")
@click.option(
    "--event-type",
    "event_types",
    multiple=True,
    help="an event type to send (repeat the option); none: every type",
)
@click.pass_context
def webhooks_create(
    ctx: click.Context, program_id: str, url: str, event_types: tuple[str, ...]
) -> None:
    """Register an endpoint; print its id and its signing secret (shown this once)."""
    from loyalty.domain.errors import LoyaltyError
    from loyalty.services.access import Actor
    from loyalty.services.webhooks import CreateEndpoint, create_endpoint

    try:
        created = create_endpoint(
            bootstrap(_settings(ctx)),
            CreateEndpoint(program_id, url, event_types),
            Actor(_operator()),
        )
    except LoyaltyError as error:
        _fail(error)
        return
    endpoint = created.endpoint
    click.echo(
        f"Created webhook endpoint {endpoint.endpoint_id} for {endpoint.url} ("
        + (", ".join(endpoint.event_types) or "every event type")
        + "). Keep its signing secret now; it is not shown again:"
    )
    click.echo(created.secret)


@webhooks.command("list")
@click.option("--program", "program_id", required=True)
@click.pass_context
def webhooks_list(ctx: click.Context, program_id: str) -> None:
    """List the program's endpoints (never their secrets)."""
    from loyalty.domain.errors import LoyaltyError
    from loyalty.services.webhooks import list_endpoints

    try:
        endpoints = list_endpoints(bootstrap(_settings(ctx)), program_id)
    except LoyaltyError as error:
        _fail(error)
        return
    for endpoint in endpoints:
        state = "active" if endpoint.active else "inactive"
        click.echo(
            f"{endpoint.endpoint_id}  {state:<8}  {endpoint.url}  "
            + (",".join(endpoint.event_types) or "*")
        )


@webhooks.command("replay")
@click.option("--program", "program_id", required=True)
@click.argument("endpoint_id")
@click.option(
    "--status", type=click.Choice(["dead", "delivered"]), default="dead", show_default=True
)
@click.option("--from", "since", type=_INSTANT, help="events recorded at or after (UTC date)")
@click.option("--to", "until", type=_INSTANT, help="events recorded before (UTC date)")
@click.option(
    "--delivery",
    "delivery_id",
    type=click.IntRange(1, 2**63 - 1),
    help="replay this one delivery only",
)
@click.pass_context
def webhooks_replay(
    ctx: click.Context,
    program_id: str,
    endpoint_id: str,
    status: str,
    since: Any,
    until: Any,
    delivery_id: int | None,
) -> None:
    """Make ENDPOINT_ID's dead (or delivered) deliveries pending again; the next
    `loyalty jobs deliver-webhooks` sends them."""
    from loyalty.domain.errors import LoyaltyError
    from loyalty.services.access import Actor
    from loyalty.services.webhooks import replay_deliveries, replay_delivery

    context, actor = bootstrap(_settings(ctx)), Actor(_operator())
    try:
        if delivery_id is not None:
            replay_delivery(context, program_id, endpoint_id, delivery_id, actor)
            count = 1
        else:
            count = replay_deliveries(
                context,
                program_id,
                endpoint_id,
                actor,
                status=status,
                since=_utc(since),
                until=_utc(until),
            ).replayed
    except LoyaltyError as error:
        _fail(error)
        return
    click.echo(f"Replaying {count} deliver{'y' if count == 1 else 'ies'} to {endpoint_id}.")


@jobs.command("deliver-webhooks")
@click.option(
    "--once", is_flag=True, help="send what is due now, then exit (default: keep running)"
)
@click.option("--limit", type=click.IntRange(1), help="at most N attempts per pass")
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 3600),
    default=5.0,
    show_default=True,
    help="seconds to wait, when idle, before looking again",
)
@click.pass_context
def jobs_deliver_webhooks(
    ctx: click.Context, once: bool, limit: int | None, interval: float
) -> None:
    """Send the outbox's events to the webhook endpoints: signed, retried with exponential
    backoff, dead-lettered after LOYALTY_WEBHOOK_MAX_ATTEMPTS failures. Several copies may
    run at once."""
    from loyalty.adapters.webhook_sender import send
    from loyalty.services.webhooks import DeliveryPolicy, deliver_webhooks

    settings = _settings(ctx)
    context, policy = bootstrap(settings), DeliveryPolicy.of(settings)
    while True:
        report = deliver_webhooks(context, send=send, policy=policy, limit=limit)
        if once or report.attempts or report.events:
            click.echo(
                f"Fanned out {report.events} event(s) into {report.deliveries} "
                f"deliveries; delivered {report.delivered}, failed {report.failed} "
                f"(to retry), dead {report.dead}."
            )
        if once:
            return
        if not report.attempts:
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return

"""``loyalty jobs notices``: find the proactive notices due now."""

from __future__ import annotations

import click

from api.cli import _settings, jobs
from loyalty.services.bootstrap import bootstrap


@jobs.command("notices")
@click.option("--program", "program_id", help="one program (default: every program)")
@click.pass_context
def jobs_notices(ctx: click.Context, program_id: str | None) -> None:
    """Find proactive notices (expiring points, next tier within reach, tier drops, lapsed
    members, birthdays, rewards back in stock): once per member and occasion."""
    from loyalty.domain.errors import LoyaltyError
    from loyalty.services.notices import find_notices

    try:
        found = find_notices(bootstrap(_settings(ctx)), program_id=program_id)
    except LoyaltyError as error:
        raise click.ClickException(error.detail) from None
    click.echo(
        f"Found {found.total} new notice(s): "
        + ", ".join(f"{kind.value} {count}" for kind, count in found.by_kind.items())
        + "."
    )

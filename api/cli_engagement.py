"""``loyalty jobs referrals``: qualify and complete referrals."""

from __future__ import annotations

import click

from api.cli import _settings, jobs
from loyalty.services.bootstrap import bootstrap


@jobs.command("referrals")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.pass_context
def jobs_referrals(ctx: click.Context, batch_size: int) -> None:
    """Qualify referrals on the referee's first qualifying purchase, and complete those whose
    purchase has cleared its return window (rewarding both through referral_completed rules)."""
    from loyalty.services.referral_jobs import complete_referrals

    report = complete_referrals(bootstrap(_settings(ctx)), batch_size=batch_size)
    click.echo(
        f"Referrals: {report.qualified} qualified, {report.completed} completed, "
        f"{report.referrer_unrewarded} completed without the referrer's reward, "
        f"{report.back_to_pending} back to pending (purchase returned), "
        f"{report.rejected} rejected."
    )

"""``loyalty demo generate``: a realistic data set for demos and benchmarks, straight into the
database or into a purchase file for ``loyalty import purchases``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from api.cli import PROJECT_ROOT, _fail, _operator, _settings, demo
from loyalty.services.bootstrap import bootstrap

FASHION = PROJECT_ROOT / "examples" / "fashion-retailer.yaml"


class _Progress:
    """A tqdm bar on a terminal; otherwise a line on stderr every ``every`` units."""

    def __init__(self, desc: str, total: int | None, unit: str, every: int) -> None:
        self.desc, self.unit, self.every, self.done, self.said = desc, unit, every, 0, 0
        self.bar = None
        if sys.stdout.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, desc=desc, dynamic_ncols=True)

    def to(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.done)
        elif done - self.said >= self.every:
            click.echo(f"{self.desc}: {done}{self.unit}", err=True)
            self.said = done
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@demo.command("generate")
@click.option("--program", "program_id", required=True, help="created if it does not exist")
@click.option(
    "--definition",
    "definition_file",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML or JSON definition for a new program  [default: the fashion-retailer example]",
)
@click.option("--name", help="a new program's name  [default: the program id]")
@click.option("--currency", help="a new program's currency  [default: the definition's, or EUR]")
@click.option("--time-zone", help="a new program's zone  [default: the definition's, or UTC]")
@click.option("--members", type=click.IntRange(1, 10_000_000), required=True)
@click.option("--purchases", type=click.IntRange(0, 100_000_000), required=True)
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=365,
    show_default=True,
    help="the purchases cover the last DAYS days, ending now",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**31 - 1),
    default=1,
    show_default=True,
    help="the same seed gives the same members and the same stream",
)
@click.option(
    "--lines",
    type=click.IntRange(1, 26),
    help="every basket has exactly LINES lines  [default: 1 to 5, mostly 1 or 2]",
)
@click.option(
    "--redemptions",
    type=click.IntRange(0, 100_000_000),
    help="redemptions after the purchases  [default: one per 50 purchases]",
)
@click.option(
    "--file",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    help="write the purchases and returns to OUT.jsonl or OUT.csv instead of recording them",
)
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.pass_context
def demo_generate(
    ctx: click.Context,
    program_id: str,
    definition_file: str | None,
    name: str | None,
    currency: str | None,
    time_zone: str | None,
    members: int,
    purchases: int,
    days: int,
    seed: int,
    lines: int | None,
    redemptions: int | None,
    out: str | None,
    batch_size: int,
) -> None:
    """Generate a realistic data set: members enrolled in bulk, purchases over the last DAYS
    days (a few heavy buyers and many occasional ones, weekly, daily and seasonal rhythms,
    several stores, the web shop and the app), about 5% of them returned some days later, and
    redemptions. With --file, the purchases and returns go to a file for `loyalty import
    purchases` (and there are no redemptions: the points are not there yet)."""
    import yaml

    from loyalty.domain.errors import InvalidDefinition, LoyaltyError
    from loyalty.services.demo_data import already_generated, enroll_members_bulk, ensure_program
    from loyalty.services.generator import GeneratorConfig, StreamCounts, basket_sizes

    file_format = None
    if out is not None:
        file_format = {".jsonl": "jsonl", ".csv": "csv"}.get(Path(out).suffix.lower())
        if file_format is None:
            raise click.BadParameter("the file's extension is .jsonl or .csv", param_hint="--file")
    path = Path(definition_file) if definition_file else FASHION
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise click.ClickException(f"{path} is not YAML or JSON: {error}") from None
    if not isinstance(document, dict):
        raise click.ClickException(f"{path}: a definition is a mapping of settings and rules")
    settings = document.get("settings") or {}
    context = bootstrap(_settings(ctx))
    started = time.perf_counter()
    try:
        program, created = ensure_program(
            context,
            program_id,
            name or program_id,
            currency or settings.get("currency") or "EUR",
            time_zone or settings.get("time_zone") or "UTC",
            document,
            _operator(),
        )
        config = GeneratorConfig(
            program.id,
            members,
            purchases,
            days,
            context.clock.now(),
            seed=seed,
            currency=program.currency,
            time_zone=program.time_zone,
            basket_sizes=basket_sizes(lines),
        )
        if out is None and already_generated(context, program.id, seed):
            raise click.ClickException(
                f"the purchases of seed {seed} are already in {program.id!r}; "
                "generate with another --seed"
            )
        click.echo(
            f"{'Created' if created else 'Using'} program {program.id!r} "
            f"({program.currency}, {program.time_zone})"
            + ("" if created or not definition_file else "; it exists, so --definition is not used")
            + "."
        )
        bar = _Progress("enrolling", members, " members", 50_000)
        enrolled = enroll_members_bulk(
            context, program.id, members, seed, enrolled_before=config.start, on_batch=bar.to
        )
        bar.close()
        click.echo(
            f"Members: {enrolled.enrolled} enrolled"
            + (f", {enrolled.already} already there" if enrolled.already else "")
            + "."
        )
        counts = StreamCounts()
        rejected = 0
        if out is not None:
            _to_file(config, counts, out, file_format or "jsonl")
        else:
            rejected = _to_database(
                context,
                config,
                counts,
                batch_size,
                purchases // 50 if redemptions is None else redemptions,
            )
    except InvalidDefinition as error:
        _fail(error)  # lists each mistake of the definition
    except LoyaltyError as error:
        raise click.ClickException(
            (f"{error.field}: " if error.field else "") + error.detail
        ) from None
    by_channel = ", ".join(
        f"{channel} {count}" for channel, count in sorted(counts.channels.items())
    )
    click.echo(
        f"Done in {time.perf_counter() - started:.1f} s: {counts.purchases} purchases "
        f"({by_channel}) over {days} days, {counts.returns} returns "
        f"({counts.returns_by_amount} by amount)."
    )
    if rejected:
        sys.exit(1)


def _to_file(config: Any, counts: Any, out: str, file_format: str) -> None:
    from loyalty.services.generator import generate, write_file

    bar = _Progress("writing", None, " items", 100_000)
    with open(out, "w", newline="", encoding="utf-8") as handle:
        report = write_file(
            counts.count(generate(config)),
            handle,
            file_format,
            config.currency,
            on_item=lambda _: bar.to(bar.done + 1),
        )
    bar.close()
    click.echo(
        f"Wrote {report.purchases} purchases and {report.returns} returns to {out} "
        f"({report.rows} rows). Import it with `loyalty import purchases --program "
        f"{config.program_id} {out}`."
    )


def _to_database(context: Any, config: Any, counts: Any, batch_size: int, redemptions: int) -> int:
    """Record the stream, then redeem; the number of purchases and returns rejected."""
    from loyalty.services.demo_data import load_generated, redeem_generated
    from loyalty.services.generator import generate

    bar = _Progress("recording", None, " items", 10_000)
    report = load_generated(
        context,
        config,
        batch_size=batch_size,
        items=counts.count(generate(config)),
        on_batch=lambda report: bar.to(report.rows),
    )
    bar.close()
    for line, problem in report.problems[:20]:
        click.echo(f"item {line}: {problem}", err=True)
    if len(report.problems) > 20:
        click.echo(f"... and {len(report.problems) - 20} more", err=True)
    click.echo(
        f"Recorded {report.imported - report.returns} purchases and {report.returns} "
        f"returns; {report.duplicates} duplicates, {report.rejected} rejected."
    )
    bar = _Progress("redeeming", redemptions, " redemptions", 1_000)
    redeemed = redeem_generated(context, config, redemptions, on_redemption=bar.to)
    bar.close()
    for problem in redeemed.problems[:20]:
        click.echo(f"redemption refused: {problem}", err=True)
    click.echo(
        f"Redemptions: {redeemed.rewards} rewards, {redeemed.burns} till purchases paid "
        f"partly with points ({redeemed.points} points), {redeemed.refused} refused"
        + (
            f"; the pending job released {redeemed.released} points first"
            if redeemed.released
            else ""
        )
        + "."
    )
    return report.rejected

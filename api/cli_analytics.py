"""``loyalty report``: the program's figures as a table in the terminal, JSON, or a standalone
HTML page with charts."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from api.cli import _fail, _settings, main
from loyalty.services.bootstrap import bootstrap


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    """Left-aligned first column, right-aligned numbers."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def terminal_report(report: Any) -> str:
    """The report as plain text: the figures (one column per group), the trend, the tiers and
    the rewards."""
    from api.analytics_text import SECTIONS, columns, heading, money, shown

    out = heading(report)
    groups = columns(report)
    header = ["figure", *(g.key for g in groups)]
    for section, figures in SECTIONS:
        out += ["", section.upper()]
        out += _table(
            [
                [label, *(shown(report, getattr(g, name), kind) for g in groups)]
                for name, label, kind in figures
            ],
            header,
        )
    out += ["", f"TREND (by {report.interval})"]
    out += _table(
        [
            [
                f"{t.start}" if t.start == t.end else f"{t.start} to {t.end}",
                f"{t.active_members:,}",
                f"{t.new_members:,}",
                f"{t.purchases:,}",
                money(report, t.revenue),
                f"{t.points_issued:,}",
                f"{t.points_redeemed:,}",
            ]
            for t in report.trend
        ],
        ["period", "active", "new", "purchases", "revenue", "issued", "redeemed"],
    )
    if report.tier_distribution:
        out += ["", "TIERS NOW"]
        out += _table(
            [[t.name or t.tier, f"{t.members:,}"] for t in report.tier_distribution],
            ["tier", "members"],
        )
    out += ["", f"TIER MOVES ({report.tier_moves_up} up, {report.tier_moves_down} down)"]
    out += _table(
        [
            [f"{m.from_tier or '-'} -> {m.to_tier}", m.direction, f"{m.moves:,}"]
            for m in report.tier_moves
        ],
        ["move", "direction", "moves"],
    )
    out += ["", "MOST REDEEMED REWARDS"]
    out += _table(
        [
            [f"{r.name} ({r.reward_id})", f"{r.redemptions:,}", f"{r.points:,}"]
            for r in report.rewards
        ],
        ["reward", "redemptions", "points"],
    )
    return "\n".join(out)


def _iso(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


@main.command("report")
@click.option("--program", "program_id", required=True)
@click.option(
    "--from",
    "start",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="first day, in the program's time zone",
)
@click.option(
    "--to", "end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="last day, included"
)
@click.option("--by", type=click.Choice(["channel", "tier"]), help="a breakdown")
@click.option(
    "--interval",
    type=click.Choice(["day", "week", "month"]),
    help="the trend's buckets (default: by the period's length)",
)
@click.option(
    "--top",
    default=10,
    show_default=True,
    type=click.IntRange(1, 100),
    help="rewards in the popularity list",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="also write a standalone HTML page with charts to this file",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of the table")
@click.pass_context
def report_command(
    ctx: click.Context,
    program_id: str,
    start: datetime,
    end: datetime,
    by: str | None,
    interval: str | None,
    top: int,
    html_file: Path | None,
    as_json: bool,
) -> None:
    """The program's figures for the days FROM to TO: members, purchases, surveys, points,
    liability, tiers and rewards (definitions in the README)."""
    from api.analytics_html import render_html
    from loyalty.domain.errors import LoyaltyError
    from loyalty.services.analytics import ReportRequest, analytics_report

    try:
        report = analytics_report(
            bootstrap(_settings(ctx)),
            ReportRequest(program_id, start.date(), end.date(), by=by, interval=interval, top=top),
        )
    except LoyaltyError as error:
        _fail(error)
        return
    if html_file is not None:
        html_file.write_text(render_html(report), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(report.document(), default=_iso, indent=2))
    else:
        click.echo(terminal_report(report))
    if html_file is not None:
        click.echo(f"Wrote {html_file}", err=True)

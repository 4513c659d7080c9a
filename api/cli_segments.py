"""``loyalty segments``: the program's segments, counted and listed from the database."""

from __future__ import annotations

import click

from api.cli import _fail, _settings, main
from loyalty.services.bootstrap import bootstrap


@main.group()
def segments() -> None:
    """Segments of a program's definition: counts and members."""


@segments.command("list")
@click.option("--program", "program_id", required=True)
@click.option("--version", type=click.IntRange(1), help="default: the version in force now")
@click.pass_context
def segments_list(ctx: click.Context, program_id: str, version: int | None) -> None:
    """Print each segment of the version with how many members belong to it now."""
    from loyalty.domain.errors import LoyaltyError
    from loyalty.services.segments import list_segments

    try:
        listed = list_segments(bootstrap(_settings(ctx)), program_id, version)
    except LoyaltyError as error:
        _fail(error)
        return
    click.echo(
        f"# {program_id} version {listed.version}, as of {listed.as_of:%Y-%m-%d %H:%M:%S} UTC"
    )
    if not listed.segments:
        click.echo("no segments")
    for segment in listed.segments:
        click.echo(f"{segment.id}\t{segment.members}\t{segment.name}")


@segments.command("members")
@click.option("--program", "program_id", required=True)
@click.option("--version", type=click.IntRange(1), help="default: the version in force now")
@click.option("--page-size", default=1000, show_default=True, type=click.IntRange(1, 10_000))
@click.argument("segment")
@click.pass_context
def segments_members(
    ctx: click.Context, program_id: str, version: int | None, page_size: int, segment: str
) -> None:
    """Print the members of SEGMENT now, one a line: member id, status, tier."""
    from loyalty.domain.errors import LoyaltyError
    from loyalty.services.segments import segment_members

    context = bootstrap(_settings(ctx))
    cursor = None
    while True:
        try:
            page = segment_members(
                context, program_id, segment, limit=page_size, cursor=cursor, version=version
            )
        except LoyaltyError as error:
            _fail(error)
            return
        for member in page.members:
            click.echo(f"{member.member_id}\t{member.status}\t{member.tier or '-'}")
        cursor = page.next_cursor
        if cursor is None:
            break

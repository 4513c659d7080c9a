"""The ``loyalty`` command line: database, server, ledger checks and scheduled jobs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from loyalty.config import Settings
from loyalty.services.bootstrap import bootstrap

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Loyalty engine: run `loyalty COMMAND --help` for each command."""
    ctx.obj = Settings()


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_root().obj


# -- database -----------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Schema migrations (Alembic)."""


def alembic_config(settings: Settings, *, configure_logging: bool = True) -> Any:
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["configure_logging"] = configure_logging
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


@db.command("upgrade")
@click.argument("revision", default="head")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Upgrade the database schema (default: to the latest revision)."""
    from alembic import command

    command.upgrade(alembic_config(_settings(ctx)), revision)


@db.command("downgrade")
@click.argument("revision")
@click.pass_context
def db_downgrade(ctx: click.Context, revision: str) -> None:
    """Downgrade the database schema to REVISION (``base`` empties it)."""
    from alembic import command

    command.downgrade(alembic_config(_settings(ctx)), revision)


# -- demo and programs --------------------------------------------------------------------


@main.group()
def demo() -> None:
    """The demo program."""


@demo.command("load")
@click.pass_context
def demo_load(ctx: click.Context) -> None:
    """Load the demo program and two members, if the database has no program yet."""
    from loyalty.services.demo import load_demo

    settings = _settings(ctx)
    loaded = load_demo(bootstrap(settings), settings.demo_program)
    if loaded is None:
        click.echo("The database already has a program; the demo was not loaded.")
        return
    click.echo(f"Loaded the demo program {loaded.program_id!r} with members:")
    for member_id, identity in loaded.members:
        click.echo(f"  {member_id}  ({identity})")


@main.group()
def programs() -> None:
    """Loyalty programs."""


@programs.command("create")
@click.option("--id", "program_id", required=True, help="slug, e.g. fashion-eu")
@click.option("--name", required=True)
@click.option("--currency", required=True, help="ISO 4217 code, e.g. EUR")
@click.option("--time-zone", required=True, help="IANA zone, e.g. Europe/Paris")
@click.option("--settings", "settings_file", type=click.File(), help="JSON file of settings")
@click.pass_context
def programs_create(
    ctx: click.Context,
    program_id: str,
    name: str,
    currency: str,
    time_zone: str,
    settings_file: Any,
) -> None:
    """Create a program."""
    from loyalty.domain.errors import LoyaltyError
    from loyalty.services.programs import CreateProgram, create_program

    program_settings = json.load(settings_file) if settings_file else {}
    try:
        program = create_program(
            bootstrap(_settings(ctx)),
            CreateProgram(program_id, name, currency, time_zone, program_settings),
        )
    except LoyaltyError as error:
        raise click.ClickException(error.detail) from None
    click.echo(f"Created program {program.id!r}.")


# -- server -------------------------------------------------------------------------------


@main.command()
@click.option("--host", help="default: LOYALTY_HOST (127.0.0.1)")
@click.option("--port", type=int, help="default: LOYALTY_PORT (8000)")
@click.option("--workers", type=int, help="default: LOYALTY_WORKERS (4)")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the API with gunicorn (a production WSGI server)."""
    from gunicorn.app.base import BaseApplication

    settings = _settings(ctx).model_copy(
        update={
            key: value
            for key, value in {"host": host, "port": port, "workers": workers}.items()
            if value is not None
        }
    )

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", settings.workers)
            self.cfg.set("accesslog", "-")
            self.cfg.set("loglevel", settings.log_level)

        def load(self) -> Any:
            from api.app import create_app

            return create_app(settings)

    base = f"http://{settings.host}:{settings.port}"
    click.echo(f"Serving the loyalty API on {base}")
    click.echo(f"  API docs (Swagger UI): {base}/docs")
    click.echo(f"  API docs (ReDoc):      {base}/redoc")
    click.echo(f"  OpenAPI document:      {base}/openapi.json")
    Server().run()


# -- ledger and jobs ----------------------------------------------------------------------


@main.group()
def ledger() -> None:
    """The points ledger."""


@ledger.command("verify")
@click.pass_context
def ledger_verify(ctx: click.Context) -> None:
    """Check every member's invariants; exit 1 and name each member on any breach."""
    from loyalty.services.verification import verify_ledger

    report = verify_ledger(bootstrap(_settings(ctx)))
    for breach in report.breaches:
        click.echo(f"BREACH member {breach.member_id}: {breach.problem}", err=True)
    if not report.ok:
        click.echo(
            f"{len(report.breaches)} breach(es) in {report.members_checked} members.", err=True
        )
        sys.exit(1)
    click.echo(f"Ledger verified: {report.members_checked} members, no breach.")


@main.group()
def jobs() -> None:
    """Scheduled jobs; each is idempotent and safe to run while the API takes traffic."""


@jobs.command("expire")
@click.pass_context
def jobs_expire(ctx: click.Context) -> None:
    """Expire the points left in lots past their expiry."""
    from loyalty.services.jobs import expire_points

    report = expire_points(bootstrap(_settings(ctx)))
    click.echo(
        f"Expired {report.points} points of {report.members} members ({report.entries} entries)."
    )


@jobs.command("release-pending")
@click.pass_context
def jobs_release_pending(ctx: click.Context) -> None:
    """Make pending points available once their return window has closed."""
    from loyalty.services.jobs import release_pending

    report = release_pending(bootstrap(_settings(ctx)))
    click.echo(
        f"Released {report.points} points of {report.members} members ({report.entries} entries)."
    )

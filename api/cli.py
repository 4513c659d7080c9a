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
@click.option("--keys-file", type=click.Path(dir_okay=False), default="demo-keys.env",
              show_default=True, help="where the demo keys are written, to source in a shell")
@click.pass_context
def demo_load(ctx: click.Context, keys_file: str) -> None:
    """Load the demo program, two members and a key per scope, if there is no program yet."""
    from loyalty.services.demo import load_demo

    settings = _settings(ctx)
    loaded = load_demo(bootstrap(settings), settings.demo_program)
    path = Path(keys_file)
    if loaded is None:
        click.echo("The database already has a program; the demo was not loaded again.")
        if path.exists():
            click.echo(f"The demo keys, from {path}:")
            click.echo(path.read_text().rstrip())
        return
    lines = [f"{scope.upper()}_KEY={key}" for scope, key in loaded.keys]
    path.write_text("# Demo API keys, one per scope: `source " + keys_file + "`\n"
                    + "\n".join(lines) + "\n")
    path.chmod(0o600)
    click.echo(f"Loaded the demo program {loaded.program_id!r} with members:")
    for member_id, identity in loaded.members:
        click.echo(f"  {member_id}  ({identity})")
    click.echo(f"Demo API keys, one per scope (also in {path}, to `source`):")
    click.echo("\n".join(lines))


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


# -- keys ---------------------------------------------------------------------------------


def _operator() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:operator"


@main.group()
def keys() -> None:
    """API keys: create (shown once), list, revoke."""


@keys.command("create")
@click.option("--program", "program_id", help="the program the key belongs to")
@click.option("--all-programs", is_flag=True, help="a key of every program instead")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(["checkout", "agent", "supervisor", "marketer", "admin"]))
@click.option("--name", required=True, help="who holds it, e.g. 'store tills, Paris'")
@click.pass_context
def keys_create(ctx: click.Context, program_id: str | None, all_programs: bool,
                scopes: tuple[str, ...], name: str) -> None:
    """Create an API key; the key is printed once and only its hash is stored."""
    from loyalty.domain.errors import LoyaltyError
    from loyalty.services.access import Actor, CreateKey, create_key

    try:
        created = create_key(bootstrap(_settings(ctx)),
                             CreateKey(name, scopes, program_id, all_programs),
                             Actor(_operator()))
    except LoyaltyError as error:
        raise click.ClickException(error.detail) from None
    click.echo(f"Created key {created.key.key_id} ({', '.join(created.key.scopes)}) for "
               f"{created.key.program_id or 'all programs'}. Keep it now; it is not shown again:")
    click.echo(created.secret)


@keys.command("list")
@click.pass_context
def keys_list(ctx: click.Context) -> None:
    """List keys (never their secrets)."""
    from loyalty.services.access import Actor, list_keys

    for key in list_keys(bootstrap(_settings(ctx)), Actor(_operator())):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        used = f"last used {key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never used"
        click.echo(f"{key.key_id}  {key.program_id or '*':<16} {','.join(key.scopes):<28} "
                   f"{state:<20} {used}  {key.name}")


@keys.command("revoke")
@click.argument("key_id")
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke a key (its member tokens stop working too)."""
    from loyalty.domain.errors import LoyaltyError
    from loyalty.services.access import Actor, revoke_key

    try:
        revoke_key(bootstrap(_settings(ctx)), key_id, Actor(_operator()))
    except LoyaltyError as error:
        raise click.ClickException(error.detail) from None
    click.echo(f"Revoked key {key_id}.")


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

"""Every command-line entry: run, shell, db."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from sqlalchemy import Engine, select

from bot import db
from bot.chat.console import ConsoleChat, ConsoleShell
from bot.config import Settings, load_settings
from bot.dispatch import CommandHandler
from bot.errors import ConfigError
from bot.models import Incident

SHELL_LOG_FILE = "incident-bot.log"


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)


def _engine(settings: Settings) -> Engine:
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    return engine


def _configure_logging(settings: Settings, log_file: str | None) -> None:
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    # Alembic announces every migration at INFO; only problems matter at start-up.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _default_user() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or "operator"


user_option = click.option(
    "--user", default=_default_user, show_default="$USER", help="Who is typing."
)


@click.group()
def main() -> None:
    """incident-bot: declare, coordinate and record incidents from chat."""


@main.command()
@user_option
@click.option("--host", default="0.0.0.0", show_default=True, help="HTTP mode: address to bind.")
@click.option("--port", default=3000, show_default=True, help="HTTP mode: port to listen on.")
def run(user: str, host: str, port: int) -> None:
    """Start the bot: Slack when credentials are set, else the terminal chat."""
    settings = _settings()
    if settings.slack_bot_token:
        _start_slack(settings, host, port)
        return
    click.echo(
        "No Slack credentials (SLACK_BOT_TOKEN) configured: starting the terminal chat on "
        f"{_shown_url(settings.database_url)}."
    )
    _start_shell(settings, user)


@main.command()
@user_option
def shell(user: str) -> None:
    """The terminal chat: type /incident commands and chat lines."""
    _start_shell(_settings(), user)


def _start_slack(settings: Settings, host: str, port: int) -> None:
    if not settings.slack_app_token and not settings.slack_signing_secret:
        click.echo(
            "error: SLACK_SIGNING_SECRET is needed to serve HTTP; set it, or set "
            "SLACK_APP_TOKEN to connect in Socket Mode.",
            err=True,
        )
        sys.exit(2)
    from bot.chat.slack import server  # Slack libraries load only when Slack is used

    _configure_logging(settings, settings.log_file or None)
    engine = _engine(settings)
    server.run(settings, db.make_session_factory(engine), host, port)


def _start_shell(settings: Settings, user: str) -> None:
    _configure_logging(settings, settings.log_file or SHELL_LOG_FILE)
    engine = _engine(settings)
    interactive = sys.stdout.isatty()
    console = Console(
        highlight=False, width=None if interactive else 120, force_terminal=interactive
    )
    chat = ConsoleChat(console)
    session_factory = db.make_session_factory(engine)
    handler = CommandHandler(settings=settings, session_factory=session_factory, chat=chat)
    with session_factory() as session:
        channels = session.execute(
            select(Incident.channel_id, Incident.channel_name).where(
                Incident.channel_id.is_not(None)
            )
        ).all()
    ConsoleShell(
        handler=handler,
        chat=chat,
        user=user,
        incident_channels=[(str(cid), str(name)) for cid, name in channels],
    ).run()


def _shown_url(url: str) -> str:
    """The database URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


@main.group(name="db")
def db_group() -> None:
    """Database schema: upgrade, downgrade, current revision."""


def _with_engine(action: Callable[[Engine], Any]) -> None:
    settings = _settings()
    _configure_logging(settings, settings.log_file or None)
    engine = db.make_engine(settings.database_url)
    action(engine)


@db_group.command()
def upgrade() -> None:
    """Bring the schema to the newest revision."""
    _with_engine(db.upgrade)
    click.echo("Database is up to date.")


@db_group.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Take the schema back to REVISION (`base` drops every table)."""
    _with_engine(lambda engine: db.downgrade(engine, revision))
    click.echo(f"Database is at {revision}.")


@db_group.command()
def current() -> None:
    """Print the schema revision the database is at."""
    _with_engine(lambda engine: click.echo(db.current_revision(engine) or "empty database"))

"""Every command-line entry: run, shell, db, runbooks, postmortem, export, import."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import Application
from bot.chat.console.chat import ConsoleChat
from bot.chat.console.shell import ConsoleShell
from bot.config import Settings, load_settings
from bot.errors import ConfigError
from bot.runbooks.discovery import discover
from bot.storage import database, locks
from bot.storage.models import Incident

SHELL_LOG_FILE = "incident-bot.log"


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)


def _open_database(settings: Settings) -> Engine:
    """The engine on DATABASE_URL, connected once; one line and exit 2 when it cannot be."""
    try:
        return database.open_database(settings.database_url)
    except ConfigError as problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)


def _engine(settings: Settings) -> Engine:
    engine = _open_database(settings)
    database.upgrade(engine)
    return engine


@contextmanager
def _config_errors_exit() -> Iterator[None]:
    """A setting the bot cannot use ends the command with its one line and exit code 2."""
    try:
        yield
    except ConfigError as problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)


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
    with _config_errors_exit(), locks.single_process(engine):
        server.run(settings, database.make_session_factory(engine), host, port)


def _start_shell(settings: Settings, user: str) -> None:
    _configure_logging(settings, settings.log_file or SHELL_LOG_FILE)
    engine = _engine(settings)
    with _config_errors_exit(), locks.single_process(engine):
        _run_shell(settings, user, database.make_session_factory(engine))


def _run_shell(settings: Settings, user: str, session_factory: sessionmaker[Session]) -> None:
    interactive = sys.stdout.isatty()
    # A pipe has no width: COLUMNS sets it, else 120 keeps tables readable in logs.
    width = None if interactive or "COLUMNS" in os.environ else 120
    console = Console(highlight=False, width=width, force_terminal=interactive)
    chat = ConsoleChat(console, groups=settings.terminal_groups)
    application = Application(settings, session_factory=session_factory, chat=chat)
    with session_factory() as session:
        channels = session.execute(
            select(Incident.channel_id, Incident.channel_name).where(
                Incident.channel_id.is_not(None)
            )
        ).all()
    application.start(replay_now=True)
    try:
        ConsoleShell(
            handler=application.handler,
            capture=application.capture,
            chat=chat,
            user=user,
            command_name=settings.command_name,
            wait_until_idle=application.runbooks.wait_until_idle,
            incident_channels=[(str(cid), str(name)) for cid, name in channels],
        ).run()
    finally:
        application.runbooks.wait_until_idle()
        application.stop()


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
    engine = _open_database(settings)
    action(engine)


@db_group.command()
def upgrade() -> None:
    """Bring the schema to the newest revision."""
    _with_engine(database.upgrade)
    click.echo("Database is up to date.")


@db_group.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Take the schema back to REVISION (`base` drops every table)."""
    _with_engine(lambda engine: database.downgrade(engine, revision))
    click.echo(f"Database is at {revision}.")


@db_group.command()
def current() -> None:
    """Print the schema revision the database is at."""
    _with_engine(lambda engine: click.echo(database.current_revision(engine) or "empty database"))


@main.group(name="runbooks")
def runbooks_group() -> None:
    """Runbooks: list them, check their files (reading a runbook never runs it)."""


dir_option = click.option(
    "--dir",
    "dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to load runbooks from (repeatable). Default: RUNBOOK_DIRS.",
)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@runbooks_group.command(name="list")
@dir_option
def list_runbooks(dirs: tuple[Path, ...]) -> None:
    """The runbooks found: name, summary, parameters, triggers, file."""
    catalog = discover(dirs or _settings().runbook_dirs)
    table = Table("Name", "Summary", "Parameters", "Triggers", "File")
    for spec in catalog.runbooks.values():
        table.add_row(
            spec.name,
            spec.summary,
            "\n".join(param.describe() for param in spec.params),
            "\n".join(trigger.describe() for trigger in spec.triggers),
            f"{spec.path}:{spec.line}",
        )
    if catalog.runbooks:
        Console(highlight=False, width=None if sys.stdout.isatty() else 160).print(table)
    else:
        click.echo("No runbooks found.")
    if catalog.problems:
        click.echo(
            f"{_plural(len(catalog.problems), 'problem')} in runbook files: "
            "`incident-bot runbooks check` lists them."
        )


@runbooks_group.command()
@dir_option
def check(dirs: tuple[Path, ...]) -> None:
    """Validate every runbook file without running it; exit 1 if any has a problem."""
    catalog = discover(dirs or _settings().runbook_dirs)
    for problem in catalog.problems:
        click.echo(str(problem))
    click.echo(
        f"{_plural(len(catalog.runbooks), 'runbook')} OK, "
        f"{_plural(len(catalog.problems), 'problem')}"
    )
    sys.exit(1 if catalog.problems else 0)


class PostmortemGroup(click.Group):
    """`postmortem INC-12 ...` means `postmortem generate INC-12 ...`; other words are commands."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and re.match(r"^INC-\d+$", args[0], re.IGNORECASE):
            generate = self.get_command(ctx, "generate")
            if generate is not None:
                return "generate", generate, args
        return super().resolve_command(ctx, args)


@main.group(name="postmortem", cls=PostmortemGroup)
def postmortem_group() -> None:
    """Postmortem drafts: `postmortem INC-n` writes one, `lint FILE` checks one for blame."""


@postmortem_group.command(name="lint")
@click.argument("file", type=click.Path())
@click.option("--language", default="en", show_default=True, help="Rules language.")
def postmortem_lint(file: str, language: str) -> None:
    """Flag blaming and hindsight phrases in FILE; exit 1 when there are any."""
    from bot.errors import UsageError
    from bot.postmortems import blameless

    try:
        with open(file, encoding="utf-8", errors="replace") as draft:
            findings = blameless.lint(draft.read(), language=language)
    except OSError as problem:
        click.echo(f"error: cannot read {file}: {problem.strerror or problem}", err=True)
        sys.exit(2)
    except (UsageError, ConfigError) as problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    if findings:
        click.echo(blameless.format_findings(findings))
        sys.exit(1)
    click.echo("No blaming or hindsight language found.")


@postmortem_group.command(name="generate")
@click.argument("reference", metavar="INC-n")
@click.option(
    "--format",
    "fmt",
    metavar="md|html",
    help="Markdown or a standalone HTML page. Default: html for an -o file ending in "
    ".html, else md.",
)
@click.option(
    "--template",
    default="postmortem",
    show_default=True,
    help="postmortem, executive, or a template of yours (POSTMORTEM_TEMPLATES_DIR).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the draft to this file (and print its path) instead of standard output.",
)
def postmortem_generate(
    reference: str, fmt: str | None, template: str, output: Path | None
) -> None:
    """Draft the postmortem of INC-n (`postmortem INC-n` is short for this)."""
    from bot.clock import utc_now
    from bot.errors import IncidentBotError
    from bot.incidents.lifecycle import get_incident
    from bot.postmortems import drafts

    settings = _settings()
    if fmt is None:
        fmt = "html" if output is not None and output.suffix.lower() in (".html", ".htm") else "md"
    engine = _engine(settings)
    try:
        with database.make_session_factory(engine)() as session:
            incident = get_incident(session, reference)
            result = drafts.draft(
                session, incident, settings, now=utc_now(), template=template, fmt=fmt
            )
            session.commit()
    except IncidentBotError as problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    finally:
        engine.dispose()
    _write_out(result.content, output)


def _write_out(content: str, output: Path | None) -> None:
    """UTF-8 text to standard output, or to the file `output` (then its path is printed)."""
    data = content.encode("utf-8")
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as problem:
        click.echo(f"error: cannot write {output}: {problem.strerror or problem}", err=True)
        sys.exit(2)
    click.echo(str(output))


@main.command(name="export")
@click.argument("reference", metavar="INC-n")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the incident to this file (and print its path) instead of standard output.",
)
def export_incident(reference: str, output: Path | None) -> None:
    """Write INC-n and everything recorded about it as JSON (schemas/incident.schema.json)."""
    from bot.errors import IncidentBotError
    from bot.incidents import exchange
    from bot.incidents.lifecycle import get_incident

    engine = _engine(_settings())
    try:
        with database.make_session_factory(engine)() as session:
            incident = get_incident(session, reference)
            content = exchange.dumps(exchange.document_of(session, incident))
    except IncidentBotError as problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    finally:
        engine.dispose()
    _write_out(content, output)


@main.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def import_incidents(files: tuple[Path, ...]) -> None:
    """Import incidents from FILEs written by `export`: all of them, or none if any is wrong.

    Each incident gets the next INC number here and keeps its id from where it came
    from, so importing a file again changes nothing. No channel is opened.
    """
    from sqlalchemy.exc import IntegrityError

    from bot.clock import utc_now
    from bot.incidents.importing import ImportRefused, import_files

    settings = _settings()
    engine = _engine(settings)
    try:
        with database.make_session_factory(engine)() as session:
            imported = import_files(session, files, settings=settings, now=utc_now())
            session.commit()
    except ImportRefused as refused:
        for line in refused.problems:
            click.echo(line, err=True)
        click.echo(f"Nothing was imported ({_plural(len(refused.problems), 'problem')}).", err=True)
        sys.exit(2)
    except IntegrityError:
        click.echo(
            "error: another import wrote one of these incidents at the same time; "
            "nothing was imported: run this import again.",
            err=True,
        )
        sys.exit(2)
    finally:
        engine.dispose()
    for outcome in imported:
        click.echo(str(outcome))

"""Engine and session factory, and the Alembic migrations that build the schema."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot import resources
from bot.errors import ConfigError
from bot.storage.locks import MIGRATIONS_LOCK, advisory_lock

ALEMBIC_DIR = resources.migrations()
SQLITE_BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_SECONDS = 10
"""How long a PostgreSQL connection may take unless the URL says (`?connect_timeout=`)."""


# Connections a process keeps, and may open beyond them at busy times: enough for its
# request, listener and delivery threads (about forty) to rarely wait, while three
# replicas stay within PostgreSQL's default max_connections of 100.
POOL_SIZE = 10
POOL_OVERFLOW = 20


def normalise_url(url: str) -> str:
    """Plain PostgreSQL URLs would pick psycopg2, which is not installed; use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str | URL, **engine_options: Any) -> Engine:
    """Create an engine with the per-database settings the bot relies on."""
    url = make_url(normalise_url(str(url)) if isinstance(url, str) else url)
    if url.get_backend_name() != "sqlite":
        if "connect_timeout" not in url.query:
            # A server that never answers must not hang start-up (libpq waits forever).
            connect_args = engine_options.pop("connect_args", {})
            engine_options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
            engine_options["connect_args"].update(connect_args)
        engine_options.setdefault("pool_size", POOL_SIZE)
        engine_options.setdefault("max_overflow", POOL_OVERFLOW)
        return create_engine(url, pool_pre_ping=True, **engine_options)

    engine = create_engine(url, **engine_options)

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # Take the write lock up front: concurrent writers then wait on the busy
        # timeout instead of failing with "database is locked" mid-transaction.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def open_database(url: str) -> Engine:
    """An engine on `url` that has connected once, or ConfigError saying why it cannot.

    The message is one line naming DATABASE_URL, never with the password.
    """
    try:
        engine = make_engine(url)
    except (ArgumentError, ValueError):
        # The parser's message would quote the URL, password and all.
        raise ConfigError(
            f"DATABASE_URL: {_without_password(url)} is not a database URL the bot can read"
        ) from None
    try:
        with engine.connect():
            pass
    except DBAPIError as error:
        engine.dispose()
        raise connection_problem(engine.url, error) from None
    return engine


def connection_problem(url: URL, error: BaseException) -> ConfigError:
    """The driver's error on connecting to `url` as one clean line naming DATABASE_URL."""
    message = str(getattr(error, "orig", None) or error).strip()
    if url.password:
        message = message.replace(str(url.password), "***")
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        reason = _sqlite_reason(path, message)
        return ConfigError(f"DATABASE_URL: cannot open the SQLite database {path} ({reason})")
    where = f"{url.host}:{url.port or 5432}" if url.host else "the local PostgreSQL server"
    who = f" as {url.username}" if url.username else ""
    reason = _postgres_reason(message)
    return ConfigError(f"DATABASE_URL: cannot connect to {where}{who} ({reason})")


def _postgres_reason(message: str) -> str:
    """`connection to server at "h", port 1 failed: Connection refused` -> `connection refused`."""
    first = message.splitlines()[0] if message else ""
    reason = first.rsplit(" failed: ", 1)[-1]
    reason = re.sub(r"^(?:FATAL|ERROR):\s+", "", reason).strip()
    unknown_host = re.match(r"failed to resolve host '([^']*)'", reason)
    if unknown_host:
        return f"unknown host {unknown_host.group(1)}"
    if reason == "connection timeout expired":
        return "no answer before the connection timeout"
    if len(reason) > 1 and reason[1].islower():  # "Connection refused", not "SSL ..."
        reason = reason[0].lower() + reason[1:]
    return reason or "the server refused the connection"


def _sqlite_reason(path: str, message: str) -> str:
    """Why SQLite cannot use the file at `path`, in words a person can act on."""
    target = Path(path)
    folder = target.parent
    if not folder.exists():
        return f"the folder {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if target.is_dir():
        return "that is a folder"
    if target.exists() and not os.access(target, os.W_OK):
        return "no permission to write the file"
    if not os.access(folder, os.W_OK):
        return f"no permission to write in {folder}"
    if "file is not a database" in message:
        return "the file is not a SQLite database"
    return message or "unable to open the file"


def _without_password(url: str) -> str:
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to `engine`, with no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (default: the newest).

    Replicas that start together on one PostgreSQL database migrate one at a time;
    the ones that wait find the schema current and change nothing.
    """
    with advisory_lock(engine, MIGRATIONS_LOCK):
        command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to `revision` (`base` removes every table)."""
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

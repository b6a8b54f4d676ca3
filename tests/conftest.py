"""Shared fixtures: real databases (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
a settable clock, and a command handler wired to a recording chat."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.port import Context
from bot.commands.handler import CommandHandler
from bot.config import Settings
from bot.storage import database
from bot.storage.models import Base
from tests.chat_double import RecordingChat

START = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class FakeClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@contextmanager
def _scratch_postgres(url: str) -> Iterator[Engine]:
    """A database of its own on the server of `url`, dropped afterwards.

    Each run gets its own, so parallel runs never see each other's tables.
    """
    admin = database.make_engine(url, isolation_level="AUTOCOMMIT")
    name = f"incident_bot_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = database.make_engine(admin.url.set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One migrated database per backend for the whole run."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "test.db"
        engine = database.make_engine(f"sqlite:///{path}")
        database.upgrade(engine)
        yield engine
        engine.dispose()
        return
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set")
    with _scratch_postgres(url) as engine:
        database.upgrade(engine)
        yield engine


def _empty_tables(engine: Engine) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
        connection.execute(text("INSERT INTO incident_sequence (id, last_number) VALUES (1, 0)"))


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    """A migrated database that is emptied after each test."""
    yield migrated_engine
    _empty_tables(migrated_engine)


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return database.make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(engine: Engine, tmp_path: Path) -> Settings:
    """Default settings on the test database, with no runbooks unless a test adds some."""
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        runbook_dirs=(),
        runbook_artifacts_dir=str(tmp_path / "runbook-artifacts"),
    )


@pytest.fixture
def chat() -> RecordingChat:
    return RecordingChat()


@pytest.fixture
def handler(
    settings: Settings,
    session_factory: sessionmaker[Session],
    chat: RecordingChat,
    clock: FakeClock,
) -> CommandHandler:
    return CommandHandler(
        settings=settings, session_factory=session_factory, chat=chat, clock=clock
    )


class Person:
    """Someone typing commands in one channel, as a test would describe them."""

    def __init__(self, handler: CommandHandler, name: str, channel_id: str | None = None) -> None:
        self.handler = handler
        self.name = name
        self.channel_id = channel_id

    def says(self, text: str):
        reply = self.handler.handle(text, Context(actor=self.name, channel_id=self.channel_id))
        if reply is not None and reply.open_channel is not None:
            self.channel_id = reply.open_channel.id
        return reply


@pytest.fixture
def alice(handler: CommandHandler) -> Person:
    return Person(handler, "alice", channel_id="C-GENERAL")


@pytest.fixture
def bob(handler: CommandHandler) -> Person:
    return Person(handler, "bob", channel_id="C-GENERAL")


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent

"""Shared fixtures: real databases (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
a settable clock, and a command handler wired to a recording chat.

Without TEST_DATABASE_URL every test marked `postgres` (the PostgreSQL variant of each
database fixture, and the tests that need a server of their own) is deselected, so the
summary counts them as deselected rather than skipped. The helpers behind the fixtures
live in `tests.support`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.app import Application
from bot.commands.handler import CommandHandler
from bot.config import Settings
from bot.storage import database
from tests.support.chat_double import RecordingChat
from tests.support.clock import FakeClock
from tests.support.databases import BACKENDS, empty_tables, postgres_url, scratch_postgres
from tests.support.people import Person


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every PostgreSQL variant `postgres`; deselect them all when there is no server."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("migrated_engine") == "postgres"
        if on_postgres and item.get_closest_marker("postgres") is None:
            item.add_marker(pytest.mark.postgres)
    if postgres_url():
        return
    deselected = [item for item in items if item.get_closest_marker("postgres")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.get_closest_marker("postgres") is None]


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
    url = postgres_url()
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set")
    with scratch_postgres(url) as engine:
        database.upgrade(engine)
        yield engine


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    """A migrated database that is emptied after each test."""
    yield migrated_engine
    empty_tables(migrated_engine)


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
def application(
    settings: Settings,
    session_factory: sessionmaker[Session],
    chat: RecordingChat,
    clock: FakeClock,
) -> Application:
    return Application(settings, session_factory=session_factory, chat=chat, clock=clock)


@pytest.fixture
def handler(application: Application) -> CommandHandler:
    return application.handler


@pytest.fixture
def alice(handler: CommandHandler) -> Person:
    return Person(handler, "alice", channel_id="C-GENERAL")


@pytest.fixture
def bob(handler: CommandHandler) -> Person:
    return Person(handler, "bob", channel_id="C-GENERAL")

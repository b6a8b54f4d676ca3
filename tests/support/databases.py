"""The test databases: which backends run, a scratch PostgreSQL database, emptying tables.

SQLite always runs; the PostgreSQL variant is marked `postgres` and only runs when
TEST_DATABASE_URL points at a server (the top conftest deselects it otherwise).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, text

from bot.storage import database
from bot.storage.models import Base

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_url() -> str | None:
    """The server the PostgreSQL variants run on, if one is configured."""
    return os.environ.get("TEST_DATABASE_URL") or None


@contextmanager
def scratch_postgres(url: str) -> Iterator[Engine]:
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


def empty_tables(engine: Engine) -> None:
    """Delete every row and restart the incident numbers, keeping the schema."""
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
        connection.execute(text("INSERT INTO incident_sequence (id, last_number) VALUES (1, 0)"))

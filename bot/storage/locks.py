"""Work that must happen once however many bot processes run: decided by the database.

On PostgreSQL, once-only work (migrating at start-up, and later the scheduler)
runs under a session advisory lock, so replicas started together take turns. A
SQLite file serves exactly one bot process: a second one is refused at start,
with a line that says why, instead of two processes sharing one file.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, text

from bot.errors import ConfigError

# Advisory lock keys: fixed 64-bit numbers, one per kind of once-only work.
MIGRATIONS_LOCK = 0x494E_4342_4D49_4752  # "INCBMIGR"


@contextmanager
def advisory_lock(engine: Engine, key: int) -> Iterator[None]:
    """Hold PostgreSQL's session advisory lock `key` for the block; other dialects pass.

    The lock lives on a connection of its own, held (and waited for) outside any
    transaction the work itself opens, and is released even when the work fails.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            connection.commit()


@contextmanager
def single_process(engine: Engine) -> Iterator[None]:
    """Refuse a second bot process on the same SQLite file (PostgreSQL takes many)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock_path = Path(f"{database}.lock")
    with lock_path.open("a+") as lock_file:
        _take(lock_file, database)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _take(lock_file: IO[str], database: str) -> None:
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.seek(0)
        holder = lock_file.read().strip()
        who = f"incident-bot process {holder}" if holder else "another incident-bot process"
        raise ConfigError(
            f"DATABASE_URL: {database} is in use by {who}; a SQLite file serves one bot "
            "process. Stop that one, or use PostgreSQL for several."
        ) from None
    lock_file.seek(0)
    lock_file.truncate()
    lock_file.write(str(os.getpid()))
    lock_file.flush()

"""Once-only work across processes: replicas migrate one at a time; SQLite serves one bot."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from bot.storage import database
from bot.storage.locks import MIGRATIONS_LOCK, advisory_lock
from tests.support.databases import postgres_url, scratch_postgres
from tests.support.shell import run_shell
from tests.support.waiting import eventually


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(database.alembic_config(engine)).get_current_head()


def bot_command(*args: str, database_url: str, cwd: Path, **popen: object) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "INCIDENT_"))}
    environment["DATABASE_URL"] = database_url
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[call-overload]
    )


@pytest.fixture
def empty_postgres() -> Iterator[Engine]:
    url = postgres_url()
    assert url is not None
    with scratch_postgres(url) as engine:
        yield engine


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.mark.postgres
def test_three_replicas_started_together_on_an_empty_database_all_come_up(
    empty_postgres: Engine, tmp_path: Path
):
    processes = [
        bot_command("db", "upgrade", database_url=_url(empty_postgres), cwd=tmp_path)
        for _ in range(3)
    ]
    outcomes = [process.communicate(timeout=120) for process in processes]

    for process, (out, err) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, err
        assert "Traceback" not in out + err
    assert database.current_revision(empty_postgres) == head_revision(empty_postgres)


@pytest.mark.postgres
def test_a_migration_waits_for_the_replica_that_holds_the_lock(
    empty_postgres: Engine, tmp_path: Path
):
    def waiting_for_the_lock() -> bool:
        with empty_postgres.connect() as connection:
            waiting = connection.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            )
            return waiting.scalar_one() == 1

    with advisory_lock(empty_postgres, MIGRATIONS_LOCK):
        replica = bot_command("db", "upgrade", database_url=_url(empty_postgres), cwd=tmp_path)
        eventually(waiting_for_the_lock, 30, "the second replica waits for the migration lock")
        assert replica.poll() is None
        assert database.current_revision(empty_postgres) is None

    _, err = replica.communicate(timeout=60)
    assert replica.returncode == 0, err
    assert database.current_revision(empty_postgres) == head_revision(empty_postgres)


def test_a_second_bot_process_on_one_sqlite_file_is_refused_with_one_line(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    first = bot_command(
        "shell", "--user", "alice", database_url=url, cwd=tmp_path, stdin=subprocess.PIPE
    )
    lock_file = tmp_path / "bot.db.lock"
    try:
        eventually(
            lambda: lock_file.exists() and lock_file.read_text() == str(first.pid),
            30,
            "the first bot holds the database",
        )

        second = run_shell(tmp_path, ["/incident list"], "shell", "--user", "bob")

        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"error: DATABASE_URL: {tmp_path / 'bot.db'} is in use by incident-bot process "
            f"{first.pid}; a SQLite file serves one bot process. Stop that one, or use "
            "PostgreSQL for several."
        ]
    finally:
        out, err = first.communicate(input="/incident declare sev3 Still works\n", timeout=60)
    assert first.returncode == 0, err
    assert "Declared INC-1" in out

    after = run_shell(tmp_path, ["/incident list"], "shell", "--user", "bob")
    assert after.returncode == 0, after.stderr
    assert "INC-1" in after.stdout

"""A DATABASE_URL the bot cannot use: one line naming it and the problem, never a traceback.

Each case runs the real command line (`incident-bot db upgrade`, `db current`, `run`
and `shell`) in subprocesses, started together, from an empty folder.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import make_url

from bot.config import SETTINGS

COMMANDS = (("db", "upgrade"), ("db", "current"), ("run",), ("shell",))
TIMEOUT = 90


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "incident-bot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


@dataclass(frozen=True)
class Outcome:
    command: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"incident-bot {' '.join(self.command)} -> {self.returncode}\n"
            f"-- out:\n{self.stdout}\n-- err:\n{self.stderr}"
        )


def run_all(tmp_path: Path, url: str, commands=COMMANDS) -> list[Outcome]:
    """Every command on `url`, started at once, each in an empty folder of its own."""
    base_env = {
        key: value
        for key, value in os.environ.items()
        if key not in {setting.env for setting in SETTINGS.values()} and key != "PYTHONPATH"
    }
    started = []
    for index, command in enumerate(commands):
        workdir = tmp_path / f"run-{index}"
        workdir.mkdir()
        env = {
            **base_env,
            "DATABASE_URL": url,
            "LOG_FILE": str(workdir / "bot.log"),
            "HOME": str(workdir),
        }
        process = subprocess.Popen(
            [*_cli(), *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=workdir,
            env=env,
        )
        started.append((command, process, workdir))
    outcomes = []
    for command, process, workdir in started:
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        log = workdir / "bot.log"
        if log.exists():  # what the bot logged counts as what it said
            stderr += log.read_text("utf-8")
        outcomes.append(Outcome(command, process.returncode, stdout, stderr))
    return outcomes


def check(outcomes: list[Outcome], line: str, *, password: str | None = None) -> None:
    """Each exited 2, said `error: <line>` as its one error line, no traceback or password."""
    pattern = re.compile(r"error: " + line)
    for outcome in outcomes:
        assert outcome.returncode == 2, outcome
        assert "Traceback" not in outcome.stdout + outcome.stderr, outcome
        errors = [text for text in outcome.stderr.splitlines() if text.strip()]
        assert len(errors) == 1 and pattern.fullmatch(errors[0]), outcome
        if password:
            assert password not in outcome.stdout + outcome.stderr, outcome


def _postgres_server() -> tuple[str, int]:
    """The PostgreSQL server the suite uses (TEST_DATABASE_URL), else the usual local one."""
    url = make_url(os.environ.get("TEST_DATABASE_URL") or "postgresql://127.0.0.1:5432/")
    return url.host or "127.0.0.1", url.port or 5432


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_server_that_refuses_the_connection(tmp_path: Path):
    port = _free_port()
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/x"
    check(
        run_all(tmp_path, url),
        rf"DATABASE_URL: cannot connect to 127\.0\.0\.1:{port} as postgres \(connection refused\)",
        password="hunter2",
    )


def test_a_user_the_server_does_not_know(tmp_path: Path):
    host, port = _postgres_server()
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        pytest.skip(f"no PostgreSQL server at {host}:{port}")
    url = f"postgresql://nobody:secret@{host}:{port}/postgres"
    check(
        run_all(tmp_path, url),
        rf"DATABASE_URL: cannot connect to {re.escape(host)}:{port} as nobody "
        r'\((?:role "nobody" does not exist|password authentication failed for user "nobody")\)',
        password="secret",
    )


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield int(server.getsockname()[1])


def test_a_server_that_never_answers_times_out(tmp_path: Path, silent_server: int):
    url = f"postgresql://postgres:hunter2@127.0.0.1:{silent_server}/x?connect_timeout=2"
    check(
        run_all(tmp_path, url, commands=(("db", "current"),)),
        rf"DATABASE_URL: cannot connect to 127\.0\.0\.1:{silent_server} as postgres "
        r"\(no answer before the connection timeout\)",
        password="hunter2",
    )


def test_an_unknown_host(tmp_path: Path):
    check(
        run_all(tmp_path, "postgresql://u:hunter2@db.invalid/x", commands=(("db", "upgrade"),)),
        r"DATABASE_URL: cannot connect to db\.invalid:5432 as u \(unknown host db\.invalid\)",
        password="hunter2",
    )


def test_a_url_that_does_not_parse_is_shown_without_its_password(tmp_path: Path):
    check(
        run_all(tmp_path, "postgresql://u:hunter2@db:port/x", commands=(("db", "current"),)),
        r"DATABASE_URL: postgresql://u:\*\*\*@db:port/x is not a database URL the bot can read",
        password="hunter2",
    )


def test_a_sqlite_file_in_a_folder_that_does_not_exist(tmp_path: Path):
    check(
        run_all(tmp_path, "sqlite:////proc/nope/x.db"),
        r"DATABASE_URL: cannot open the SQLite database /proc/nope/x\.db "
        r"\(the folder /proc/nope does not exist\)",
    )


def test_a_sqlite_file_under_a_file(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", "utf-8")
    path = blocker / "x.db"
    check(
        run_all(tmp_path, f"sqlite:///{path}", commands=(("db", "upgrade"), ("shell",))),
        rf"DATABASE_URL: cannot open the SQLite database {re.escape(str(path))} "
        rf"\({re.escape(str(blocker))} is not a folder\)",
    )


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write in any folder"
)
def test_a_sqlite_file_in_a_folder_without_write_permission(tmp_path: Path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        check(
            run_all(tmp_path, f"sqlite:///{folder / 'x.db'}"),
            rf"DATABASE_URL: cannot open the SQLite database {re.escape(str(folder / 'x.db'))} "
            rf"\(no permission to write in {re.escape(str(folder))}\)",
        )
    finally:
        folder.chmod(0o755)

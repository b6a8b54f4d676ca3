"""Real `incident-bot run` processes in HTTP mode on one database: replicas behind a balancer.

Each replica is `python -m bot run` on a port of its own on 127.0.0.1, with every setting
given in its environment (it starts in a folder of its own, so no `.env` is read) and its
output in a log file that a failing test shows. A replica is up once `/readyz` answers 200;
it can be killed (SIGKILL) and started again on the same port, as an orchestrator would.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from bot.config import SETTINGS, Settings, load_settings
from tests.support import health
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_requests import LOOPBACK
from tests.support.waiting import eventually

READY_SECONDS = 60.0  # a cold start imports Slack's libraries and may run the migrations
STOP_SECONDS = 15.0
LOG_TAIL_CHARACTERS = 4000
# Never inherited from the test's own environment: a replica runs on what the test gives it.
SETTING_VARIABLES = frozenset(setting.env for setting in SETTINGS.values())


def free_port() -> int:
    """A port nobody listens on now (the replica binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def slack_environment(
    *, database_url: str, double: SlackApiDouble, signing_secret: str, folder: Path
) -> dict[str, str]:
    """The settings of a replica serving Slack over HTTP, its Web API being the double."""
    runbooks = folder / "runbooks"  # none: no trigger starts work the tests do not count
    runbooks.mkdir(parents=True, exist_ok=True)
    return {
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": double.token,
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_API_URL": double.base_url,
        "RUNBOOK_DIRS": str(runbooks),
        "RUNBOOK_ARTIFACTS_DIR": str(folder / "artifacts"),
    }


class Replica:
    """One bot process, started (and started again) on one port under one name."""

    def __init__(self, name: str, folder: Path, environment: Mapping[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = folder / f"{name}.log"
        self._folder = folder
        self._environment = {**environment, "REPLICA_ID": name}
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Replica:
        """Start the process (again, after a kill); returns at once, see `wait_ready`."""
        assert not self.alive, f"{self.name} is already running"
        self._close_log()
        self._log = self.log_path.open("ab")
        command = [sys.executable, "-m", "bot", "run", "--host", LOOPBACK, "--port", str(self.port)]
        self._process = subprocess.Popen(
            command,
            cwd=self._folder,
            env=self._environment,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        """Wait until `/readyz` answers 200; a process that exits meanwhile fails at once."""

        def ready() -> bool:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited with {self.exit_code}:\n{self.log_tail()}")
            return self._readyz() == 200

        try:
            eventually(ready, timeout, f"{self.name} ready")
        except AssertionError:
            raise AssertionError(
                f"{self.name} was not ready within {timeout} s:\n{self.log_tail()}"
            ) from None

    def _readyz(self) -> int:
        try:
            status, _ = health.get(self.port, "/readyz")
        except (OSError, http.client.HTTPException):  # not listening yet
            return 0
        return status

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine dies."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=STOP_SECONDS)
        self._close_log()

    def terminate(self) -> int:
        """SIGTERM, as a deploy stops a process; returns its exit code."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        code = self._process.wait(timeout=STOP_SECONDS)
        self._close_log()
        return code

    def interrupt(self) -> None:
        """Ask the process to stop as Ctrl-C does (it gives its leases up)."""
        if self.alive:
            assert self._process is not None
            self._process.send_signal(signal.SIGINT)

    def stop(self) -> None:
        """Interrupt and wait; kill if it does not stop in time."""
        self.interrupt()
        if self._process is not None:
            try:
                self._process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def log_tail(self) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return text[-LOG_TAIL_CHARACTERS:]

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class Replicas:
    """The replicas of one test, on one environment; all stopped on leaving."""

    def __init__(self, folder: Path, environment: Mapping[str, str]) -> None:
        inherited = {key: val for key, val in os.environ.items() if key not in SETTING_VARIABLES}
        self.environment = {**inherited, "PYTHONUNBUFFERED": "1", **environment}
        self._folder = folder
        self._started: list[Replica] = []

    @property
    def settings(self) -> Settings:
        """The settings the replicas run with, read as they read them."""
        return load_settings(self.environment, env_file=None)

    def start(
        self, count: int, *, ready: bool = True, overrides: Mapping[str, str] | None = None
    ) -> list[Replica]:
        """Start `count` replicas at once, then (unless told not to) wait until all are ready."""
        environment = {**self.environment, **(overrides or {})}
        first = len(self._started) + 1
        started = [
            Replica(f"replica-{first + index}", self._folder, environment).start()
            for index in range(count)
        ]
        self._started += started
        if ready:
            for replica in started:
                replica.wait_ready()
        return started

    def __iter__(self) -> Iterator[Replica]:
        return iter(self._started)

    def stop(self) -> None:
        """Interrupt every replica at once, then wait for each."""
        for replica in self._started:
            replica.interrupt()
        for replica in self._started:
            replica.stop()

    def __enter__(self) -> Replicas:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

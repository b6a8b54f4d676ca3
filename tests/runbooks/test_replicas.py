"""Runbook runs across replicas: real `incident-bot shell` processes on one PostgreSQL database.

Each step appends a line to a file (so the test counts how often it ran) and then
waits for a `go` file the test writes, so nothing depends on how long a step takes.
Leases are short here (2 s, a sweep every second) to keep the tests quick.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.storage import database
from bot.storage.models import RunbookRun
from tests.support.databases import postgres_url, scratch_postgres
from tests.support.runbooks import runs
from tests.support.waiting import eventually

pytestmark = pytest.mark.postgres

LEASE_SECONDS = 2

RUNBOOKS = """
import os
import pathlib
import time

from bot.runbooks.sdk import Approval, runbook, step


def work(folder):
    with open(os.path.join(folder, "ran"), "a") as ran:
        ran.write(f"{os.getpid()}\\n")
    go = pathlib.Path(folder, "go")
    while not go.exists():
        time.sleep(0.02)


@runbook(name="again", summary="Safe to run twice", allowed=["anyone"])
class Again:
    @step(idempotent=True)
    def first(self, ctx):
        work(FOLDER)


@runbook(name="once", summary="Not safe to run twice", allowed=["anyone"])
class Once:
    @step
    def first(self, ctx):
        work(FOLDER)


@runbook(name="gated", summary="Changes a system after an approval", allowed=["anyone"])
class Gated:
    @step(approval=Approval(roles=["commander"]))
    def change(self, ctx):
        work(FOLDER)
"""


class Replica:
    """One bot process: the terminal chat as `user`, commands written to its standard input."""

    def __init__(self, workdir: Path, environment: dict[str, str], user: str) -> None:
        self.output = workdir / f"replica-{user}-{os.urandom(3).hex()}.out"
        with self.output.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "shell", "--user", user],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=environment,
                text=True,
            )

    @property
    def prefix(self) -> str:
        """How its replica id begins (host and pid), as runs record their owner."""
        return f"{os.uname().nodename}:{self.process.pid}:"

    def says(self, *lines: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("".join(f"/incident {line}\n" for line in lines))
        self.process.stdin.flush()

    def printed(self) -> str:
        return self.output.read_text(encoding="utf-8")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
                raise


@pytest.fixture
def database_url() -> Iterator[str]:
    url = postgres_url()
    assert url is not None
    with scratch_postgres(url) as engine:
        yield engine.url.render_as_string(hide_password=False)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    body = RUNBOOKS.replace("FOLDER", repr(str(tmp_path)))
    (folder / "replicated.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return tmp_path


@pytest.fixture
def start(workdir: Path, database_url: str) -> Iterator:
    """Starts replicas on the test's database; every one left is stopped afterwards."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "INCIDENT_"))},
        "DATABASE_URL": database_url,
        "RUNBOOK_DIRS": str(workdir / "runbooks"),
        "RUNBOOK_ARTIFACTS_DIR": str(workdir / "artifacts"),
        "RUNBOOK_LEASE_SECONDS": str(LEASE_SECONDS),
        "RUNBOOK_RECOVERY_SECONDS": "1",
        "RUNBOOK_APPROVERS": "bob",
        "COLUMNS": "200",
    }
    started: list[Replica] = []

    def replica(user: str = "alice") -> Replica:
        started.append(Replica(workdir, environment, user))
        return started[-1]

    yield replica
    for one in started:
        one.stop()


@pytest.fixture
def shared(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = database.make_engine(database_url)
    yield database.make_session_factory(engine)
    engine.dispose()


def ready(replica: Replica) -> None:
    """Wait until the replica answered a command, so its start-up recovery is behind it."""
    replica.says("runbook status")
    eventually(lambda: "run" in replica.printed().lower(), timeout=30, message="no answer")


def ran(workdir: Path) -> int:
    """How many times a step began, in any process."""
    path = workdir / "ran"
    return len(path.read_text().splitlines()) if path.exists() else 0


def the_run(shared: sessionmaker[Session]) -> RunbookRun:
    found = runs(shared)
    assert len(found) == 1, f"runs: {found}"
    return found[0]


def test_a_killed_replicas_idempotent_step_is_run_again_by_a_survivor(start, workdir, shared):
    doomed, survivor = start(), start()
    ready(survivor)
    doomed.says("declare sev2 Queue backlog", "runbook run again")
    eventually(lambda: ran(workdir) == 1, timeout=30, message="the step never started")
    assert the_run(shared).owner.startswith(doomed.prefix)

    doomed.kill()

    eventually(lambda: ran(workdir) == 2, timeout=30, message="no survivor ran the step again")
    run = the_run(shared)
    assert run.owner.startswith(survivor.prefix)
    (workdir / "go").touch()
    eventually(lambda: the_run(shared).status == "succeeded", timeout=30)
    assert ran(workdir) == 2


def test_a_killed_replicas_unsafe_step_is_marked_interrupted_by_a_survivor(start, workdir, shared):
    doomed, survivor = start(), start()
    ready(survivor)
    doomed.says("declare sev2 Queue backlog", "runbook run once")
    eventually(lambda: ran(workdir) == 1, timeout=30, message="the step never started")

    doomed.kill()

    run = eventually(
        lambda: (found := the_run(shared)).status == "interrupted" and found,
        timeout=30,
    )
    assert run.steps[0].status == "interrupted"
    assert "step first was running and is not safe to run again" in (run.error or "")
    assert run.owner.startswith(survivor.prefix)
    assert ran(workdir) == 1


def test_a_replica_that_starts_mid_run_leaves_the_run_alone(start, workdir, shared):
    executing = start()
    executing.says("declare sev2 Queue backlog", "runbook run once")
    eventually(lambda: ran(workdir) == 1, timeout=30, message="the step never started")

    newcomer = start()
    ready(newcomer)
    joined = datetime.now(UTC)
    # The executing replica keeps renewing while the newcomer sweeps every second.
    eventually(
        lambda: the_run(shared).lease_until.timestamp() > joined.timestamp() + 2 * LEASE_SECONDS,
        timeout=30,
        message="the lease was not renewed",
    )
    run = the_run(shared)
    assert (run.status, run.steps[0].status) == ("running", "running")
    assert run.owner.startswith(executing.prefix)

    (workdir / "go").touch()
    eventually(lambda: the_run(shared).status == "succeeded", timeout=30)
    executing.stop()
    newcomer.stop()
    assert ran(workdir) == 1
    assert the_run(shared).owner.startswith(executing.prefix)


def test_an_approved_step_runs_once_with_two_replicas(start, workdir, shared):
    """Bob's replica starts while the run waits, so its start-up recovery sees the run too."""
    requesting = start("alice")
    ready(requesting)
    requesting.says("declare sev2 Queue backlog", "runbook run gated")
    eventually(lambda: the_run(shared).status == "waiting_approval", timeout=30)
    approving = start("bob")
    ready(approving)

    approving.says("approve 1")

    eventually(lambda: ran(workdir) == 1, timeout=30, message="the approved step never ran")
    (workdir / "go").touch()
    eventually(lambda: the_run(shared).status == "succeeded", timeout=30)
    requesting.stop()
    approving.stop()
    run = the_run(shared)
    assert run.steps[0].approved_by == "bob"
    assert run.owner.startswith(requesting.prefix)
    assert ran(workdir) == 1


def test_a_run_cancelled_through_another_replica_is_stopped_where_it_runs(start, workdir, shared):
    executing = start()
    ready(executing)
    executing.says("declare sev2 Queue backlog", "runbook run once")
    eventually(lambda: ran(workdir) == 1, timeout=30, message="the step never started")
    other = start()
    ready(other)

    other.says("runbook cancel 1")

    run = eventually(lambda: (found := the_run(shared)).status == "cancelled" and found, timeout=30)
    assert run.steps[0].status == "cancelled"  # its process was stopped by its own replica
    assert run.owner.startswith(executing.prefix)
    executing.stop()
    other.stop()
    assert ran(workdir) == 1

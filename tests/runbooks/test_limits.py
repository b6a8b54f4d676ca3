"""Every step's worker has a memory limit and a CPU time limit, from the settings.

Runs started from chat, through the real engine and real worker processes: a step
that goes over a limit fails with a clear error on the run, and the bot (and the
next run) carry on.
"""

from __future__ import annotations

import textwrap
import time
from dataclasses import replace

import pytest

from bot.runbooks.limits import CPU_GRACE_SECONDS
from tests.support.db_reads import events
from tests.support.people import Person
from tests.support.runbooks import commanding, runbook_application, runs, settle

BOOKS = """
from bot.runbooks.sdk import runbook, step


@runbook(name="hog", summary="Wants far more memory than a step may have", allowed="anyone")
class Hog:
    @step(timeout="30s")
    def grab(self, ctx):
        hoard = []
        while True:
            hoard.append(bytearray(64 * 1024 * 1024))


@runbook(name="spin", summary="Never stops computing", allowed="anyone")
class Spin:
    @step(timeout="60s")
    def compute(self, ctx):
        while True:
            pass


@runbook(name="limits", summary="Says what its process may use", allowed="anyone")
class Limits:
    @step(timeout="30s")
    def show(self, ctx):
        import resource

        shell = ctx.run(["sh", "-c", "ulimit -v; ulimit -t"], timeout=10).stdout.split()
        return {
            "address_space": resource.getrlimit(resource.RLIMIT_AS)[0],
            "cpu_soft": resource.getrlimit(resource.RLIMIT_CPU)[0],
            "command": shell,
        }
"""


@pytest.fixture
def application(settings, session_factory, chat, clock, tmp_path):
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "books.py").write_text(textwrap.dedent(BOOKS), encoding="utf-8")
    limited = replace(settings, runbook_memory_limit_mb=256, runbook_cpu_seconds=2)
    application = runbook_application(
        limited, session_factory, chat, clock, folder=folder, artifacts=tmp_path / "artifacts"
    )
    yield application
    application.runbooks.shutdown()


@pytest.fixture
def in_incident(alice: Person) -> Person:
    return commanding(alice)


def test_a_step_wanting_far_more_memory_than_the_limit_fails_and_the_run_says_so(
    in_incident, handler, session_factory
):
    in_incident.says("runbook run hog")
    settle(handler)

    (run,) = runs(session_factory)
    assert run.status == "failed"
    (grab,) = run.steps
    assert grab.status == "failed"
    assert grab.error == (
        "MemoryError: the step needed more than the 256 MB of memory a step may use "
        "(RUNBOOK_MEMORY_LIMIT_MB)"
    )
    assert any(grab.error in event.text for event in events(session_factory))

    in_incident.says("runbook run limits")  # the bot, and the next run, carry on
    settle(handler)
    assert runs(session_factory)[-1].status == "succeeded"


def test_a_step_that_never_stops_computing_is_stopped_by_its_cpu_time(
    in_incident, handler, session_factory
):
    started = time.monotonic()
    in_incident.says("runbook run spin")
    settle(handler)
    took = time.monotonic() - started

    (run,) = runs(session_factory)
    assert run.status == "failed"
    (compute,) = run.steps
    assert compute.error == (
        "CpuTimeExceeded: the step used its 2 s of CPU time (RUNBOOK_CPU_SECONDS)"
    )
    assert took < 20  # stopped by its CPU time, not by its 60 s time-out


def test_the_configured_limits_reach_the_step_and_its_commands(
    in_incident, handler, session_factory
):
    in_incident.says("runbook run limits")
    settle(handler)

    (run,) = runs(session_factory)
    assert run.status == "succeeded", run.steps[0].error
    shown = run.steps[0].result  # the CPU soft limit counts from the worker's start
    assert shown["address_space"] == 256 * 2**20
    assert 2 + CPU_GRACE_SECONDS <= shown["cpu_soft"] <= 2 + CPU_GRACE_SECONDS + 3
    assert shown["command"][0] == str(256 * 1024)  # ulimit -v: KB
    assert int(shown["command"][1]) == shown["cpu_soft"]  # ulimit -t: seconds

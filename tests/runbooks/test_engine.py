"""Runbooks run from chat, through the real engine and real worker processes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.storage.models import Incident, RunbookRun, RunbookStepRun
from tests.support.db_reads import events
from tests.support.people import Person
from tests.support.runbooks import commanding, runbook_application, runs, settle

HEADER = (
    "from bot.runbooks.sdk import Approval, Param, Retry, on_declare, on_failure, runbook, step\n"
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "runbooks"
    path.mkdir()
    return path


@pytest.fixture
def application(settings, session_factory, chat, clock, folder, tmp_path):
    application = runbook_application(
        settings, session_factory, chat, clock, folder=folder, artifacts=tmp_path / "artifacts"
    )
    yield application
    application.runbooks.shutdown()


def write(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(HEADER + textwrap.dedent(body), encoding="utf-8")


def kinds(session_factory) -> list[str]:
    return [event.kind for event in events(session_factory)]


@pytest.fixture
def in_incident(alice: Person) -> Person:
    return commanding(alice)


@pytest.fixture
def gatekeeper(alice: Person, handler) -> Person:
    """Alice declares INC-1 and Dana makes her the commander, so her approvals count."""
    alice.says("declare sev2 Checkout API returns 500s service:checkout")
    Person(handler, "dana", alice.channel_id).says("role commander @alice")
    return alice


@pytest.fixture
def requester(gatekeeper: Person, bob: Person) -> Person:
    """Bob, a responder of INC-1 (he took the scribe role), who starts the runs."""
    bob.channel_id = gatekeeper.channel_id
    bob.says("role scribe @me")
    return bob


SIMPLE = """
@runbook(name="simple", summary="Two steps", params={"count": Param(int, default=2, min=1)},
         allowed=["anyone"])
class Simple:
    @step
    def first(self, ctx):
        ctx.log("first says hello")
        return {"count": ctx.params.count}

    @step
    def second(self, ctx):
        ctx.log(f"second got {ctx.outputs['first']['count']}")
        return "done"
"""


def test_a_run_goes_step_by_step_and_is_recorded(
    in_incident, handler, folder, session_factory, chat
):
    write(folder, "simple", SIMPLE)

    reply = in_incident.says("runbook run simple count=3")
    settle(handler)

    assert reply.message.text == "Started simple for INC-1 (run #1)."
    (run,) = runs(session_factory)
    assert run.status == "succeeded"
    assert [(s.name, s.status) for s in run.steps] == [
        ("first", "succeeded"),
        ("second", "succeeded"),
    ]
    assert "first says hello" in run.steps[0].output
    assert run.steps[1].result == "done"
    texts = [e.text for e in events(session_factory) if e.kind.startswith("runbook")]
    assert texts[0] == "Runbook simple started with count=3"
    assert texts[-1].startswith("Runbook simple (run #1) succeeded")
    assert any("step first succeeded" in text for text in texts)
    report = chat.texts_in("C0001")
    assert any(text.startswith("Runbook simple, run #1") for text in report)


def test_bad_parameters_get_the_usage_and_start_nothing(
    in_incident, handler, folder, session_factory
):
    write(folder, "simple", SIMPLE)

    reply = in_incident.says("runbook run simple count=zero")

    assert reply.message.tone == "error"
    assert "Usage: `runbook run simple" in reply.message.text
    assert runs(session_factory) == []


def test_an_unknown_runbook_lists_the_known_ones(in_incident, handler, folder):
    write(folder, "simple", SIMPLE)
    reply = in_incident.says("runbook run nope")
    assert reply.message.text == "There is no runbook `nope`. Runbooks: simple."


def test_who_may_run_is_checked_and_a_refusal_is_recorded(
    in_incident, bob, handler, folder, session_factory
):
    write(
        folder,
        "guarded",
        SIMPLE.replace('name="simple"', 'name="guarded"').replace(
            'allowed=["anyone"]', 'allowed=["role:operations"]'
        ),
    )
    bob.channel_id = in_incident.channel_id
    bob.says("role scribe @me")  # a responder, but not the operations

    reply = bob.says("runbook run guarded")

    assert reply.message.text == (
        "Only an operations appointed by someone else (nobody yet) may run guarded."
    )
    assert runs(session_factory) == []
    assert "runbook_refused" in kinds(session_factory)


APPROVAL = """
@runbook(name="gated", summary="Needs approval", allowed=["anyone"])
class Gated:
    @step(approval=Approval(roles=["commander"], not_requester=True, ttl="{ttl}"))
    def act(self, ctx):
        ctx.log("acted")
        return "acted"
"""


def test_an_approval_gate_waits_for_the_right_person(
    gatekeeper, requester, handler, folder, session_factory, clock
):
    write(folder, "gated", APPROVAL.format(ttl="10m"))
    requester.says("runbook run gated")
    settle(handler)
    (run,) = runs(session_factory)
    assert (run.status, run.steps[0].status) == ("waiting_approval", "waiting_approval")

    refused = requester.says(f"approve {run.id}")  # bob asked for it, and he is not the commander
    assert refused.message.text == (
        "You started this run, so someone else must approve it. "
        "Only a commander appointed by someone else (@alice) may approve step act of run #1."
    )

    approved = gatekeeper.says(f"approve {run.id}")
    assert approved.message.tone == "success"
    again = gatekeeper.says(f"approve {run.id}")
    assert again.message.tone == "error"
    settle(handler)
    (run,) = runs(session_factory)
    assert run.status == "succeeded"
    assert run.steps[0].approved_by == "alice"
    assert "acted" in run.steps[0].output


def test_a_denied_step_ends_the_run(gatekeeper, requester, handler, folder, session_factory):
    write(folder, "gated", APPROVAL.format(ttl="10m"))
    requester.says("runbook run gated")
    settle(handler)
    gatekeeper.says("deny 1")
    settle(handler)
    (run,) = runs(session_factory)
    assert run.status == "failed"
    assert run.steps[0].status == "failed"
    assert run.steps[0].output == ""


def test_an_expired_approval_cannot_be_given(
    gatekeeper, requester, handler, folder, session_factory, clock
):
    write(folder, "gated", APPROVAL.format(ttl="1m"))
    requester.says("runbook run gated")
    settle(handler)
    clock.advance(minutes=2)

    reply = gatekeeper.says("approve 1")

    assert reply.message.text == "The approval of step act has expired."
    handler.runbooks.wake(1)
    settle(handler)
    assert runs(session_factory)[0].status == "failed"


def test_an_approval_after_cancel_does_nothing(
    gatekeeper, requester, handler, folder, session_factory
):
    write(folder, "gated", APPROVAL.format(ttl="10m"))
    requester.says("runbook run gated")
    settle(handler)
    requester.says("runbook cancel 1")
    settle(handler)

    reply = gatekeeper.says("approve 1")

    assert reply.message.text == "Run #1 is cancelled; there is nothing to decide."
    (run,) = runs(session_factory)
    assert run.status == "cancelled"
    assert run.steps[0].output == ""


FLAKY = """
@runbook(name="flaky", summary="Retries then rolls back", allowed=["anyone"])
class Flaky:
    @step(timeout="1s", retry=Retry(attempts=3, delay="0s"))
    def wait_ready(self, ctx):
        import time
        ctx.log("waiting")
        time.sleep(30)

    @on_failure
    def rollback(self, ctx, failed_step, error):
        ctx.note("rolled back after " + failed_step)
        ROLLBACK
"""


def test_timeouts_feed_retries_and_exhausted_retries_roll_back(
    in_incident, handler, folder, session_factory
):
    write(folder, "flaky", FLAKY.replace("ROLLBACK", "return 'ok'"))
    in_incident.says("runbook run flaky")
    settle(handler)
    (run,) = runs(session_factory)
    assert run.status == "timed_out"
    assert run.steps[0].attempts == 3
    texts = [e.text for e in events(session_factory)]
    assert "rolled back after wait_ready" in texts
    assert any(t.startswith("Rollback rollback of flaky succeeded") for t in texts)


def test_a_failing_rollback_reports_both_errors(in_incident, handler, folder, session_factory):
    write(folder, "flaky", FLAKY.replace("ROLLBACK", "raise RuntimeError('rollback broke')"))
    in_incident.says("runbook run flaky")
    settle(handler)
    rollback = next(e for e in events(session_factory) if e.kind == "runbook_rollback")
    assert "also failed: RuntimeError: rollback broke" in rollback.text
    assert "wait_ready" in rollback.text


def test_cancel_during_a_step_kills_it(in_incident, handler, folder, session_factory):
    write(
        folder,
        "slow",
        """
@runbook(name="slow", summary="Sleeps", allowed=["anyone"])
class Slow:
    @step
    def sleep(self, ctx):
        import time
        ctx.log("sleeping")
        time.sleep(60)
""",
    )
    in_incident.says("runbook run slow")
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if runs(session_factory)[0].steps[0].status == "running":
            break
        time.sleep(0.05)
    in_incident.says("runbook cancel 1")
    settle(handler)
    (run,) = runs(session_factory)
    assert (run.status, run.cancelled_by) == ("cancelled", "alice")


SECRET = "hunter2-very-secret"
LEAKY = """
@runbook(name="leaky", summary="Leaks", params={"token": Param(str, secret=True)},
         allowed=["anyone"])
class Leaky:
    @step
    def leak(self, ctx):
        token = ctx.secret("token")
        ctx.log(f"token is {token}")
        print("printed", token)
        ctx.note(f"note with {token}")
        return {"token": token}

    @step
    def crash(self, ctx):
        raise RuntimeError("failed with " + ctx.secret("token"))
"""


def test_a_secret_never_reaches_chat_timeline_database_or_logs(
    in_incident, handler, application, folder, session_factory, chat, caplog, engine
):
    write(folder, "leaky", LEAKY)
    in_incident.says(f"runbook run leaky token={SECRET}")
    settle(handler)
    application.deliverer.deliver_pending()

    (run,) = runs(session_factory)
    assert run.status == "failed"
    with engine.connect() as connection:
        from sqlalchemy import text

        for table in ("runbook_runs", "runbook_step_runs", "timeline_events", "outbox"):
            rows = connection.execute(text(f"select * from {table}")).fetchall()
            assert SECRET not in repr(rows), table
    assert SECRET not in repr(chat.calls)
    assert SECRET not in caplog.text
    assert "••••••" in run.steps[0].output


def test_dry_run_has_no_side_effect(in_incident, handler, folder, session_factory, tmp_path):
    marker = tmp_path / "touched"
    write(
        folder,
        "toucher",
        f"""
@runbook(name="toucher", summary="Touches a file", allowed=["anyone"])
class Toucher:
    @step
    def touch(self, ctx):
        ctx.run(["touch", "{marker}"])
""",
    )
    in_incident.says("runbook run toucher --dry-run")
    settle(handler)
    (run,) = runs(session_factory)
    assert run.dry_run and run.status == "succeeded"
    assert not marker.exists()
    assert "would run: touch" in run.steps[0].output


TRIGGERED = """
@runbook(name="sev1-helper", summary="Starts on SEV1 checkout", allowed=["role:commander"],
         triggers=[on_declare(severity=["SEV1"], service="checkout", mode="start")])
class Helper:
    @step
    def hello(self, ctx):
        ctx.log("triggered")
"""


def test_a_trigger_starts_a_runbook_exactly_once(alice, handler, folder, session_factory):
    write(folder, "helper", TRIGGERED)
    alice.says("declare sev2 Checkout is slow service:checkout")
    settle(handler)
    assert runs(session_factory) == []

    alice.says("sev 1")
    settle(handler)
    alice.says("sev 2")
    alice.says("sev 1")
    settle(handler)

    (run,) = runs(session_factory)
    assert (run.runbook, run.requested_by, run.status) == (
        "sev1-helper",
        "incident-bot",
        "succeeded",
    )


def test_an_offered_runbook_comes_with_a_button(alice, handler, folder, session_factory, chat):
    write(folder, "helper", TRIGGERED.replace('mode="start"', 'mode="offer"'))
    alice.says("declare sev1 Checkout down service:checkout")
    settle(handler)
    assert runs(session_factory) == []
    offer = next(m for _, m in chat.posts if "matches this incident" in m.text)
    assert [a.command for a in offer.actions] == [
        "runbook run INC-1 sev1-helper",
        "runbook run INC-1 sev1-helper --dry-run",
    ]


def _orphan(session_factory, clock, runbook: str) -> None:
    """A run as a killed bot leaves it: its first step still marked running."""
    with session_factory() as session:
        incident = session.scalars(select(Incident)).one()
        run = RunbookRun(
            incident=incident,
            runbook=runbook,
            requested_by="alice",
            params={"count": 1},
            status="running",
            created_at=clock(),
            started_at=clock(),
        )
        session.add(run)
        session.add(RunbookStepRun(run=run, position=0, name="first", status="running", attempts=1))
        session.add(
            RunbookStepRun(run=run, position=1, name="second", status="pending", attempts=0)
        )
        session.commit()


def test_a_restart_resumes_idempotent_steps_and_interrupts_the_others(
    in_incident, handler, folder, session_factory, clock
):
    write(
        folder,
        "again",
        SIMPLE.replace('name="simple"', 'name="again"').replace(
            "    @step\n    def first", "    @step(idempotent=True)\n    def first"
        ),
    )
    write(folder, "once", SIMPLE.replace('name="simple"', 'name="once"'))
    _orphan(session_factory, clock, "again")
    _orphan(session_factory, clock, "once")

    resumed = handler.runbooks.recover()
    settle(handler)

    again, once = runs(session_factory)
    assert resumed == [again.id]
    assert (again.status, [s.status for s in again.steps]) == ("succeeded", ["succeeded"] * 2)
    assert once.status == "interrupted"
    assert once.steps[0].status == "interrupted"
    assert "step first was running and is not safe to run again" in once.error


RESUMABLE = """
import pathlib
import time


@runbook(name="resumable", summary="Survives a restart", allowed=["anyone"])
class Resumable:
    @step(idempotent=True)
    def first(self, ctx):
        marker = pathlib.Path(MARKER)
        if not marker.exists():
            marker.write_text(str(__import__("os").getpid()))
            time.sleep(60)  # the bot is killed while this runs
        ctx.log("first finished")

    @step
    def second(self, ctx):
        ctx.log("second finished")
"""


def test_a_bot_killed_mid_run_resumes_an_idempotent_step_after_restart(tmp_path):
    """A real `kill -9` of the bot while a step runs; the next start finishes the run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from bot.storage import database

    folder = tmp_path / "runbooks"
    folder.mkdir()
    marker = tmp_path / "first-started"
    write(folder, "resumable", RESUMABLE.replace("MARKER", repr(str(marker))))
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "INCIDENT_"))},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "RUNBOOK_DIRS": str(folder),
        "RUNBOOK_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
    }
    command = [sys.executable, "-m", "bot", "shell", "--user", "alice"]
    first_bot = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        env=environment,
        text=True,
    )
    assert first_bot.stdin is not None
    first_bot.stdin.write("/incident declare sev2 Queue backlog\n/incident runbook run resumable\n")
    first_bot.stdin.flush()
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the step never started"
    worker_pid = int(marker.read_text())

    first_bot.send_signal(signal.SIGKILL)
    first_bot.wait(timeout=10)

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the step's process dies with the bot
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the step's process outlived the bot")

    engine = database.make_engine(environment["DATABASE_URL"])
    factory = database.make_session_factory(engine)
    (orphan,) = runs(factory)
    assert (orphan.status, orphan.steps[0].status) == ("running", "running")

    second_bot = subprocess.run(
        command,
        input="/incident runbook status\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=60,
        check=False,
    )
    assert second_bot.returncode == 0, second_bot.stderr
    (finished,) = runs(factory)
    assert finished.status == "succeeded"
    assert "first finished" in finished.steps[0].output
    assert finished.steps[1].status == "succeeded"
    engine.dispose()


MANUAL = """
@runbook(name="checked", summary="A person confirms", allowed=["anyone"])
class Checked:
    @step(manual=True, prompt="Confirm the error rate is back to baseline")
    def verify(self, ctx):
        pass

    @step
    def after(self, ctx):
        ctx.log("after the check")
"""


@pytest.mark.parametrize(("answer", "status"), [("done", "succeeded"), ("failed", "failed")])
def test_a_manual_step_waits_for_a_person_to_mark_it(
    in_incident, handler, folder, session_factory, answer, status
):
    write(folder, "checked", MANUAL)
    in_incident.says("runbook run checked")
    settle(handler)
    assert in_incident.says("approve 1").message.text == (
        "Step verify of run #1 waits for `runbook done` or `runbook failed`."
    )
    waiting = [e.text for e in events(session_factory) if e.kind == "runbook_waiting"]
    assert waiting == [
        "checked (run #1) waits at step verify: Confirm the error rate is back to baseline"
    ]

    in_incident.says(f"runbook {answer} 1")
    settle(handler)

    (run,) = runs(session_factory)
    assert run.status == status
    assert run.steps[0].decided_by == "alice"


def test_status_lists_the_runs_and_shows_one(in_incident, handler, folder):
    write(folder, "simple", SIMPLE)
    in_incident.says("runbook run simple")
    settle(handler)

    listing = in_incident.says("runbook status").message
    assert listing.table.rows == (("#1", "simple", "succeeded", "alice", "2026-11-25 14:00"),)
    one = in_incident.says("runbook status 1").message
    assert one.title == "Runbook simple, run #1: succeeded"
    assert "✓ first: succeeded in 0.0 s" in one.lines
    assert in_incident.says("runbook status 7").message.text == "INC-1 has no runbook run #7."
    assert "simple" in in_incident.says("runbook list").message.table.rows[0]

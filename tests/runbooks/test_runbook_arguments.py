"""Hostile arguments to the shipped runbooks, as a workspace member would type them.

Each is refused when the runbook is started (nothing recorded, no command run, no
file read), through chat and the real engine; the legitimate use next to it still
works. What a step reads is checked again in the worker, in case the file changed.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import UsageError
from bot.runbooks.params import parse_arguments
from bot.runbooks.process import StepOutcome, StepRequest, run_step
from tests.support.db_reads import events
from tests.support.people import Person
from tests.support.runbooks import commanding, runbook_application, runs, settle
from tests.support.shipped_runbooks import (
    DEFAULTS,
    INCIDENT,
    RUNBOOKS,
    FakeSystemctl,
    run_runbook,
    shipped,
    shown,
)

UNIT_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.:-]*(@[A-Za-z0-9_.:-]+)?\.(service|socket|timer)"


@pytest.fixture
def systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSystemctl:
    return FakeSystemctl.on_path(tmp_path / "fake-bin", monkeypatch)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


@pytest.fixture
def bot_home(tmp_path: Path) -> Path:
    """Where the bot's own secrets would be: its .env and its database file."""
    home = tmp_path / "bot"
    home.mkdir()
    (home / ".env").write_text("SLACK_BOT_TOKEN=xoxb-secret-token-1234\n", encoding="utf-8")
    (home / "incident-bot.db").write_bytes(b"SQLite format 3\x00 secret rows")
    return home


@pytest.fixture
def application(settings, session_factory, chat, clock, tmp_path, log_dir):
    """The bot on the shipped runbooks: it may restart api.service and read `log_dir`."""
    configured = replace(
        settings, runbook_systemd_units=("api.service",), runbook_log_dirs=(log_dir,)
    )
    application = runbook_application(
        configured, session_factory, chat, clock, folder=RUNBOOKS, artifacts=tmp_path / "artifacts"
    )
    yield application
    application.runbooks.shutdown()


@pytest.fixture
def crew(alice: Person, bob: Person, handler) -> tuple[Person, Person, Person]:
    """alice declared and commands; bob is operations and carol commander, both appointed by her.

    alice hands the commander role to carol last, so carol is the independent approver.
    """
    commanding(alice)
    alice.says("role operations @bob")
    carol = Person(handler, "carol", channel_id=alice.channel_id)
    bob.channel_id = alice.channel_id
    return alice, bob, carol


def refused_at_start(person: Person, command: str, session_factory) -> str:
    """`command` is refused with one line and records no run; returns the line."""
    reply = person.says(command)
    assert reply.message.tone == "error", reply.message.text
    assert "\n" not in reply.message.text
    assert "Traceback" not in reply.message.text
    assert runs(session_factory) == []
    return reply.message.text


# -- restarting a unit -----------------------------------------------------------------------


@pytest.mark.parametrize("runbook", ["restart-systemd-service", "api-first-response"])
def test_a_unit_that_is_an_option_never_reaches_systemctl(
    runbook, crew, session_factory, systemctl
):
    _, bob, _ = crew
    text = refused_at_start(
        bob, f"runbook run {runbook} unit=--host=root@10.9.9.9 confirm=true", session_factory
    )
    assert text.startswith(f"unit must match `{UNIT_PATTERN}`, not `--host=root@10.9.9.9` (")
    assert systemctl.calls == []


@pytest.mark.parametrize("runbook", ["restart-systemd-service", "api-first-response"])
def test_a_target_is_refused(runbook, crew, session_factory, systemctl):
    _, bob, _ = crew
    text = refused_at_start(
        bob, f"runbook run {runbook} unit=reboot.target confirm=true", session_factory
    )
    assert text.startswith(f"unit must match `{UNIT_PATTERN}`, not `reboot.target` (")
    assert "not a target" in text
    assert systemctl.calls == []


def test_a_target_is_refused_even_when_every_unit_is_allowed():
    anything = Settings(runbook_systemd_units=("*",))
    spec = shipped()["restart-systemd-service"]
    with pytest.raises(UsageError, match=re.escape("not `reboot.target`")):
        parse_arguments(spec, ["unit=reboot.target"], anything)
    assert parse_arguments(spec, ["unit=worker@3.service"], anything)["unit"] == "worker@3.service"


def test_a_unit_outside_the_allow_list_is_refused(crew, session_factory, systemctl):
    _, bob, _ = crew
    text = refused_at_start(
        bob, "runbook run restart-systemd-service unit=sshd.service confirm=true", session_factory
    )
    assert text.startswith(
        "unit `sshd.service` is not allowed: RUNBOOK_SYSTEMD_UNITS lists api.service. Usage: "
    )
    assert systemctl.calls == []


def test_on_default_settings_no_unit_may_be_restarted():
    for runbook, words in [
        ("restart-systemd-service", ["unit=api.service"]),
        ("api-first-response", []),  # its default unit is checked too
    ]:
        with pytest.raises(UsageError) as raised:
            parse_arguments(shipped()[runbook], words, DEFAULTS)
        assert "RUNBOOK_SYSTEMD_UNITS is empty, so no unit is" in str(raised.value)


def test_the_allow_list_takes_wildcards():
    settings = Settings(runbook_systemd_units=("api.service", "worker@*.service"))
    spec = shipped()["restart-systemd-service"]
    assert parse_arguments(spec, ["unit=worker@eu-1.service"], settings)["unit"] == (
        "worker@eu-1.service"
    )
    with pytest.raises(UsageError, match=re.escape("lists api.service, worker@*.service")):
        parse_arguments(spec, ["unit=worker.service"], settings)


def test_an_allowed_unit_restarts_after_an_independent_approval(
    crew, handler, session_factory, systemctl
):
    alice, bob, carol = crew
    reply = bob.says("runbook run restart-systemd-service unit=api.service confirm=true")
    assert reply.message.tone == "success", reply.message.text
    settle(handler)
    (run,) = runs(session_factory)
    assert run.status == "waiting_approval"
    assert systemctl.calls == ["is-active -- api.service"]  # nothing changed yet

    assert bob.says(f"approve {run.id}").message.tone == "error"  # the requester
    alice.says("role commander @carol")
    approved = carol.says(f"approve {run.id}")
    assert approved.message.tone == "success", approved.message.text
    settle(handler)

    (run,) = runs(session_factory)
    assert run.status == "succeeded"
    assert run.steps[1].approved_by == "carol"
    assert run.steps[1].result == {"restarted": True}
    assert systemctl.calls == [
        "is-active -- api.service",
        "restart -- api.service",
        "is-active -- api.service",
    ]


def test_the_first_response_restart_needs_someone_else_to_approve(
    crew, handler, session_factory, systemctl
):
    alice, bob, carol = crew
    alice.says("role commander @carol")
    reply = carol.says("runbook run api-first-response confirm=true")
    assert reply.message.tone == "success", reply.message.text
    settle(handler)
    (run,) = runs(session_factory)
    assert [step.status for step in run.steps] == ["succeeded", "waiting_approval"]

    refused = carol.says(f"approve {run.id}")  # a commander, but the one who started it
    assert refused.message.tone == "error"
    assert "started this run, so someone else must approve it." in refused.message.text
    assert systemctl.calls == []
    assert bob.says(f"approve {run.id}").message.tone == "error"  # not a commander
    settle(handler)
    assert systemctl.calls == []


# -- collecting log files --------------------------------------------------------------------


HOSTILE_PATHS = {
    "the shadow file": lambda logs, home: "/etc/shadow",
    "the bot's .env": lambda logs, home: str(home / ".env"),
    "the bot's database": lambda logs, home: str(home / "incident-bot.db"),
    "traversal": lambda logs, home: f"{logs}/../bot/.env",
    "a symlink out": lambda logs, home: str(logs / "app.log"),  # made a symlink to .env below
    "a device": lambda logs, home: "/dev/zero",
    "the bot's environment": lambda logs, home: f"/proc/{os.getpid()}/environ",
    "a relative path": lambda logs, home: "logs/app.log",
    "one bad among good": lambda logs, home: f"{logs}/good.log,/etc/shadow",
}


@pytest.mark.parametrize("path", HOSTILE_PATHS.values(), ids=HOSTILE_PATHS.keys())
def test_diagnostics_refuses_anything_but_files_in_the_log_folders(
    path, crew, log_dir, bot_home, tmp_path, session_factory
):
    alice, _, _ = crew
    (log_dir / "good.log").write_text("fine\n", encoding="utf-8")
    (log_dir / "app.log").symlink_to(bot_home / ".env")
    typed = path(log_dir, bot_home)

    text = refused_at_start(alice, f"runbook run diagnostics-bundle paths={typed}", session_factory)
    assert text.startswith("paths: `")
    assert any(
        reason in text
        for reason in (
            f"is not inside the folders runbooks may read (RUNBOOK_LOG_DIRS: {log_dir})",
            "goes up a folder with `..`",
            "is not an absolute path",
        )
    ), text
    assert not (tmp_path / "artifacts").exists()  # nothing was copied anywhere


def test_diagnostics_refuses_a_fifo_and_a_folder_inside_the_log_folders(
    crew, log_dir, session_factory
):
    alice, _, _ = crew
    os.mkfifo(log_dir / "pipe")
    (log_dir / "archive").mkdir()
    for name in ("pipe", "archive"):
        text = refused_at_start(
            alice, f"runbook run diagnostics-bundle paths={log_dir / name}", session_factory
        )
        assert text.startswith(f"paths: `{log_dir / name}` is not a regular file. Usage: ")


def test_a_responder_collects_a_log_file_from_an_allowed_folder(
    crew, handler, log_dir, tmp_path, session_factory
):
    alice, _, _ = crew
    app = log_dir / "app.log"
    app.write_text("".join(f"request {n} ok\n" for n in range(1, 20_001)), encoding="utf-8")
    assert app.stat().st_size > 300_000

    reply = alice.says(f"runbook run diagnostics-bundle paths={app} max_kb=2 lines=5000")
    assert reply.message.tone == "success", reply.message.text
    settle(handler)

    (run,) = runs(session_factory)
    assert run.status == "succeeded", run.steps[0].error
    bundle = Path(run.steps[0].result["path"])
    assert bundle.parent.is_relative_to(tmp_path / "artifacts")
    text = bundle.read_text(encoding="utf-8")
    assert text.startswith(f"==> {app} <==\nrequest ")
    assert text.endswith("request 20000 ok\n")
    body = text.split("\n", 1)[1]
    assert len(body.encode()) <= 2 * 1024  # the last 2 KB, cut at a line start
    assert body.split("\n", 1)[0] in {f"request {n} ok" for n in range(19_800, 20_000)}
    assert f"{app}: " in run.steps[0].output and "lines (the last 2 KB)" in run.steps[0].output
    assert any(e.text == f"Diagnostics bundle attached: {bundle}" for e in events(session_factory))


def test_someone_with_no_part_in_the_incident_cannot_collect_logs(
    alice, bob, log_dir, session_factory
):
    commanding(alice)
    bob.channel_id = alice.channel_id
    (log_dir / "app.log").write_text("line\n", encoding="utf-8")
    refused_at_start(
        bob, f"runbook run diagnostics-bundle paths={log_dir / 'app.log'}", session_factory
    )


# -- in the worker: the file read is the file checked ----------------------------------------


def test_a_file_swapped_for_a_symlink_after_the_check_is_not_followed(log_dir, bot_home, tmp_path):
    app = log_dir / "app.log"
    app.write_text("app line\n", encoding="utf-8")
    settings = Settings(runbook_log_dirs=(log_dir,))
    values = parse_arguments(shipped()["diagnostics-bundle"], [f"paths={app}"], settings)
    assert values["paths"] == [str(app)]
    app.unlink()
    app.symlink_to(bot_home / ".env")  # after the check, before the step reads it

    outcome = _collect(values, tmp_path)
    assert outcome.status == "succeeded", shown(outcome)
    bundle = Path(outcome.result["path"]).read_text(encoding="utf-8")
    assert "(could not read: it is a symbolic link, which is not followed)" in bundle
    assert "xoxb-secret" not in bundle + shown(outcome)


def test_a_file_swapped_for_a_fifo_after_the_check_does_not_block(log_dir, tmp_path):
    app = log_dir / "app.log"
    app.write_text("app line\n", encoding="utf-8")
    values = parse_arguments(
        shipped()["diagnostics-bundle"], [f"paths={app}"], Settings(runbook_log_dirs=(log_dir,))
    )
    app.unlink()
    os.mkfifo(app)

    outcome = _collect(values, tmp_path)
    assert outcome.status == "succeeded", shown(outcome)
    bundle = Path(outcome.result["path"]).read_text(encoding="utf-8")
    assert bundle == f"==> {app} <==\n(could not read: it is not a regular file)\n"


def test_a_huge_log_is_read_only_up_to_the_limit(log_dir, tmp_path):
    huge = log_dir / "huge.log"
    with huge.open("wb") as file:
        file.truncate(3 * 2**30)  # 3 GB, sparse: far more than the worker may hold
        file.seek(0, os.SEEK_END)
        file.write(b"\nthe last line\n")

    outcomes = run_runbook(
        "diagnostics-bundle",
        {"paths": str(huge), "lines": 10_000},
        artifacts_dir=tmp_path / "artifacts",
        settings=Settings(runbook_log_dirs=(log_dir,)),
    )
    (collect,) = outcomes.values()
    assert collect.status == "succeeded", shown(collect)
    bundle = Path(collect.result["path"])
    assert bundle.stat().st_size < 256 * 1024 + 200  # the default max_kb, and the header
    assert bundle.read_text(encoding="utf-8").endswith("the last line\n")


def _collect(values: dict[str, object], tmp_path: Path) -> StepOutcome:
    """The diagnostics bundle's step, with already checked values, in a real worker."""
    spec = shipped()["diagnostics-bundle"]
    return run_step(
        StepRequest(
            path=spec.path,
            class_name=spec.class_name,
            method="collect",
            params=values,
            incident=INCIDENT,
            artifacts_dir=tmp_path / "artifacts",
        ),
        timeout=10,
        secrets={},
        cancel=threading.Event(),
        on_message=lambda message: None,
    )

"""The terminal chat, driven the way a person scripts it: lines on standard input."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from tests.support.paths import repo_root
from tests.support.shell import run_shell


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def test_the_readme_walkthrough_prints_a_complete_ordered_timeline(workdir):
    result = run_shell(
        workdir,
        [
            "/incident declare sev2 Checkout API returns 500s",
            "/incident status identified",
            "/incident role commander @me",
            "/incident note rolled back to v41",
            "/incident resolve Rollback fixed it",
            "/incident timeline",
        ],
        "run",
        "--user",
        "alice",
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in out + result.stderr
    assert out.splitlines()[0].startswith("No Slack credentials")
    assert "Declared INC-1 (SEV2): Checkout API returns 500s" in out
    timeline = out[out.index("Timeline of INC-1") :]
    expected_order = [
        "Declared SEV2: Checkout API returns 500s",
        "Status changed from investigating to identified",
        "alice is now commander",
        "rolled back to v41",
        "Resolved: Rollback fixed it",
    ]
    positions = [timeline.index(text) for text in expected_order]
    assert positions == sorted(positions)


def test_declaring_moves_you_into_the_channel_and_join_moves_back(workdir):
    result = run_shell(
        workdir,
        [
            "/incident declare sev1 Payments down",
            "/join #general",
            "/incident note from the wrong place",
            "/join #inc-1-payments-down",
            "/incident note from the right place",
            "/join #nope",
        ],
        "shell",
        "--user",
        "bob",
    )
    out = result.stdout
    assert "You are now in #inc-1-payments-down." in out
    assert "You are now in #general." in out
    assert "/incident note INC-1 from the wrong place" in out
    assert "from the right place (#" in out
    assert "There is no channel `#nope`" in out


def test_pin_puts_the_last_chat_message_on_the_timeline(workdir):
    result = run_shell(
        workdir,
        [
            "/incident declare 결제 오류 🔥",
            "db primary is at 100% cpu | <b>bold</b> [red]",
            "/pin",
            "/incident timeline",
        ],
        "shell",
        "--user",
        "carol",
    )
    out = result.stdout
    assert "Declared INC-1 (SEV3): 결제 오류 🔥 in #inc-1." in out
    assert "@carol: db primary is at 100% cpu | <b>bold</b> [red]" in out


def test_pin_without_a_message_and_unknown_terminal_commands_are_explained(workdir):
    result = run_shell(workdir, ["/pin", "/frobnicate", "/incident sev 2"], "shell")
    out = result.stdout
    assert "There is no message to pin yet" in out
    assert "Unknown terminal command `/frobnicate`" in out
    assert "This is not an incident channel" in out
    assert result.returncode == 0


def test_incident_channels_survive_a_restart(workdir):
    run_shell(workdir, ["/incident declare Disk full on db-3"], "shell")
    result = run_shell(workdir, ["/join #inc-1-disk-full-on-db-3", "/incident show"], "shell")
    assert "You are now in #inc-1-disk-full-on-db-3." in result.stdout
    assert "INC-1: Disk full on db-3" in result.stdout


def test_an_invalid_setting_stops_start_up_with_one_line(workdir):
    result = run_shell(workdir, [], "run", INCIDENT_TIMEZONE="Mars/Olympus")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: INCIDENT_TIMEZONE='Mars/Olympus' is not valid: "
        "expected an IANA time zone name such as UTC or Europe/Berlin"
    ]


def test_db_upgrade_and_current(workdir):
    upgraded = run_shell(workdir, [], "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    current = run_shell(workdir, [], "db", "current")
    head = ScriptDirectory(str(repo_root() / "alembic")).get_current_head()
    assert current.stdout.strip() == head


def test_a_sev1_on_the_api_starts_its_runbook_and_a_step_is_approved(workdir):
    runbooks = repo_root() / "runbooks"
    result = run_shell(
        workdir,
        [
            "/incident declare sev1 API returns 502s service:api",
            "/user dana",  # an approval counts from a commander someone else appointed
            "/incident role commander @alice",
            "/user alice",
            "/incident approve 1",
            "/incident timeline",
        ],
        "shell",
        "--user",
        "alice",
        RUNBOOK_DIRS=str(runbooks),
        RUNBOOK_ARTIFACTS_DIR=str(workdir / "artifacts"),
        RUNBOOK_SYSTEMD_UNITS="api.service",  # none may be restarted by default
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Runbook api-first-response, run #1: waiting_approval" in out
    assert "Step approved for api-first-response (run #1)." in out
    assert "would run: systemctl restart -- api.service" in out
    assert "Runbook api-first-response, run #1: succeeded" in out
    timeline = out[out.index("Timeline of INC-1") :]
    expected = [
        "Runbook api-first-response started",
        "waits at step restart: approval",
        "alice approved step restart of api-first-response",
        "step restart succeeded",
        "Runbook api-first-response (run #1) succeeded",
    ]
    positions = [timeline.index(text) for text in expected]
    assert positions == sorted(positions)

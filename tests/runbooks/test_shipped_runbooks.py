"""The runbooks shipped in `runbooks/`, each run against something real on loopback.

Every step runs in a real worker process (`run_runbook`), in order, each step's
result passed on in `outputs` as the engine does; the approval gates and the SEV1
trigger are tested through chat commands and the real engine. Hostile arguments
are tried in `test_runbook_arguments.py`.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import Settings
from bot.runbooks.discovery import discover
from bot.runbooks.process import StepRequest, run_step
from tests.support.db_reads import events
from tests.support.paths import repo_root
from tests.support.people import Person
from tests.support.runbooks import commanding, runbook_application, runs, settle
from tests.support.shipped_runbooks import (
    INCIDENT,
    RUNBOOKS,
    UNITS,
    FakeSystemctl,
    run_runbook,
    shipped,
    shown,
    statuses,
)

SHIPPED = {
    "api-first-response",
    "diagnostics-bundle",
    "host-snapshot",
    "http-health-check",
    "postgres-health",
    "restart-systemd-service",
    "tls-certificate-expiry",
}


# -- helpers -------------------------------------------------------------------------------


def wait_for(condition: Callable[[], object], what: str, within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def closed_port() -> int:
    """A loopback port nothing listens on (bound for a moment, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- discovery -------------------------------------------------------------------------------


def test_every_shipped_runbook_loads_without_problems(monkeypatch):
    monkeypatch.chdir(repo_root())
    catalog = discover([Path("runbooks")])

    assert catalog.problems == []
    assert set(catalog.runbooks) == SHIPPED
    for spec in catalog.runbooks.values():
        assert spec.steps, spec.name
        assert spec.path.resolve().parent == RUNBOOKS


def test_the_check_command_passes_on_the_shipped_runbooks(monkeypatch):
    monkeypatch.chdir(repo_root())
    result = CliRunner().invoke(main, ["runbooks", "check", "--dir", "runbooks"])

    assert result.exit_code == 0, result.output
    assert result.output == f"{len(SHIPPED)} runbooks OK, 0 problems\n"


def test_every_shipped_step_that_changes_a_system_needs_an_independent_approver():
    gated = {
        (spec.name, step.name): step.approval
        for spec in shipped().values()
        for step in spec.steps
        if step.approval is not None
    }
    assert set(gated) == {("restart-systemd-service", "restart"), ("api-first-response", "restart")}
    assert all(approval.not_requester for approval in gated.values())


# -- http-health-check -----------------------------------------------------------------------


class HealthServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    requests: list[str]


class HealthHandler(http.server.BaseHTTPRequestHandler):
    """`/ok` answers 200, `/slow` 200 after 0.4 s, anything else 503."""

    server: HealthServer

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        if self.path == "/slow":
            time.sleep(0.4)
        status = 200 if self.path in ("/ok", "/slow") else 503
        body = b"ok\n" if status == 200 else b"unavailable\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[HealthServer]:
    server = HealthServer(("127.0.0.1", 0), HealthHandler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def url(server: HealthServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


LOOPBACK_ALLOWED = ("127.0.0.1",)
"""The health server is on loopback, which ctx.http reaches only when it is allowed."""


def test_http_health_check_succeeds_on_the_expected_status(health_server):
    outcomes = run_runbook(
        "http-health-check", {"url": url(health_server, "/ok")}, http_allow=LOOPBACK_ALLOWED
    )

    (check,) = outcomes.values()
    assert check.status == "succeeded", shown(check)
    assert check.result["status"] == 200
    assert 0 <= check.result["elapsed_ms"] < 1000
    assert f"{url(health_server, '/ok')} answered 200" in check.output
    assert health_server.requests == ["/ok"]


def test_http_health_check_fails_on_a_wrong_status(health_server):
    outcomes = run_runbook(
        "http-health-check", {"url": url(health_server, "/down")}, http_allow=LOOPBACK_ALLOWED
    )

    (check,) = outcomes.values()
    assert check.status == "failed"
    assert check.error == "RuntimeError: expected status 200, got 503"
    assert health_server.requests == ["/down"]


def test_http_health_check_fails_on_a_slow_answer(health_server):
    outcomes = run_runbook(
        "http-health-check",
        {"url": url(health_server, "/slow"), "max_latency_ms": 100},
        http_allow=LOOPBACK_ALLOWED,
    )

    (check,) = outcomes.values()
    assert check.status == "failed"
    assert check.error is not None
    assert check.error.startswith("RuntimeError: answer took ")
    assert check.error.endswith(" ms, over 100 ms")
    assert int(check.error.split()[3]) >= 400


def test_http_health_check_fails_clearly_when_nothing_answers():
    target = f"http://127.0.0.1:{closed_port()}/healthz"
    outcomes = run_runbook("http-health-check", {"url": target}, http_allow=LOOPBACK_ALLOWED)

    (check,) = outcomes.values()
    assert check.status == "failed"
    assert check.error is not None
    assert check.error.startswith(f"HttpFailed: GET {target} failed: ")
    assert "refused" in check.error.lower()


def test_http_health_check_dry_run_sends_no_request(health_server):
    outcomes = run_runbook("http-health-check", {"url": url(health_server, "/ok")}, dry_run=True)

    (check,) = outcomes.values()
    assert check.status == "succeeded", shown(check)
    assert check.result == {"dry_run": True}
    assert f"would GET {url(health_server, '/ok')}" in check.output
    assert health_server.requests == []


# -- tls-certificate-expiry ------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, valid for 10 days."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "k.pem", folder / "c.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "10",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.fixture
def tls_port(certificate: tuple[Path, Path]) -> Iterator[int]:
    """A TLS server on 127.0.0.1 that completes handshakes and hangs up."""
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(5)
            with contextlib.suppress(OSError), context.wrap_socket(raw, server_side=True):
                pass

    thread = threading.Thread(target=serve)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def tls_params(port: int, cert: Path, **more: object) -> dict[str, object]:
    return {"host": "localhost", "port": port, "ca_file": str(cert), **more}


def test_tls_certificate_expiry_reports_the_days_left(tls_port, certificate):
    outcomes = run_runbook(
        "tls-certificate-expiry", tls_params(tls_port, certificate[0], warn_days=5)
    )

    (check,) = outcomes.values()
    assert check.status == "succeeded", shown(check)
    assert check.result["days_left"] in (9, 10)
    assert check.result["not_after"].endswith(" GMT")
    assert f"localhost:{tls_port} certificate expires" in check.output


def test_tls_certificate_expiry_warns_inside_the_limit(tls_port, certificate):
    outcomes = run_runbook(
        "tls-certificate-expiry", tls_params(tls_port, certificate[0], warn_days=30)
    )

    (check,) = outcomes.values()
    assert check.status == "failed"
    assert check.error is not None
    assert check.error in {
        f"RuntimeError: the certificate expires in {days} days, within 30" for days in (9, 10)
    }


def test_tls_certificate_expiry_fails_clearly_on_a_plain_port(health_server, certificate):
    port = health_server.server_address[1]
    outcomes = run_runbook("tls-certificate-expiry", tls_params(port, certificate[0]))

    (check,) = outcomes.values()
    assert check.status == "failed"
    assert check.error is not None
    assert check.error.startswith(
        f"RuntimeError: localhost:{port} did not complete a TLS handshake (is it a TLS port?): "
    )


def test_tls_certificate_expiry_fails_clearly_when_nothing_listens(certificate):
    port = closed_port()
    outcomes = run_runbook("tls-certificate-expiry", tls_params(port, certificate[0]))

    (check,) = outcomes.values()
    assert check.status == "failed"
    assert check.error is not None
    assert check.error.startswith(f"RuntimeError: cannot connect to localhost:{port}: ")
    assert "refused" in check.error.lower()


def test_tls_certificate_expiry_dry_run_connects_nowhere():
    outcomes = run_runbook("tls-certificate-expiry", {"host": "localhost"}, dry_run=True)

    (check,) = outcomes.values()
    assert check.status == "succeeded", shown(check)
    assert check.result == {"dry_run": True}
    assert "would connect to localhost:443 and read its certificate" in check.output


def test_tls_certificate_expiry_does_not_trust_an_unknown_certificate(tls_port):
    outcomes = run_runbook("tls-certificate-expiry", {"host": "localhost", "port": tls_port})

    (check,) = outcomes.values()
    assert check.status == "failed"
    assert check.error is not None
    assert check.error.startswith("SSLCertVerificationError: ")
    assert "self-signed certificate" in check.error or "self signed certificate" in check.error


# -- host-snapshot ---------------------------------------------------------------------------


def test_host_snapshot_describes_this_host():
    outcomes = run_runbook("host-snapshot", {"top": 3})

    assert statuses(outcomes) == {
        "disk": "succeeded",
        "memory_and_load": "succeeded",
        "top_processes": "succeeded",
    }, {name: shown(outcome) for name, outcome in outcomes.items()}
    disk = outcomes["disk"].result
    assert set(disk) == {"used_percent", "free_bytes"}
    assert 0 <= disk["used_percent"] <= 100
    assert isinstance(disk["free_bytes"], int) and disk["free_bytes"] > 0
    assert "/: " in outcomes["disk"].output and "% used" in outcomes["disk"].output

    memory = outcomes["memory_and_load"].result
    assert set(memory) == {"memory_available_percent", "load"}
    assert 0 < memory["memory_available_percent"] <= 100
    assert len(memory["load"]) == 3 and all(value >= 0 for value in memory["load"])

    top = outcomes["top_processes"].result["top"]
    assert 2 <= len(top) <= 4
    assert top[0].split() == ["PID", "COMMAND", "%CPU", "%MEM"]
    assert all(line.split()[0].isdigit() for line in top[1:])


def test_host_snapshot_of_a_missing_path_fails_clearly(tmp_path):
    outcomes = run_runbook("host-snapshot", {"path": str(tmp_path / "nowhere")})

    assert statuses(outcomes) == {"disk": "failed"}
    assert outcomes["disk"].error is not None
    assert outcomes["disk"].error.startswith("FileNotFoundError: ")


# -- postgres-health -------------------------------------------------------------------------


@pytest.fixture
def pg_url() -> str:
    raw = os.environ.get("TEST_DATABASE_URL")
    if not raw:
        pytest.skip("TEST_DATABASE_URL is not set")
    from sqlalchemy.engine import make_url

    return make_url(raw).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def scratch_table(pg_url: str) -> Iterator[str]:
    """A table in a schema of its own, dropped afterwards."""
    import psycopg

    schema = f"shipped_runbooks_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(f"create schema {schema}")
        connection.execute(f"create table {schema}.jobs (id int primary key)")
    yield f"{schema}.jobs"
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute("set lock_timeout = '5s'")
        connection.execute(f"drop schema {schema} cascade")


@pytest.mark.postgres
def test_postgres_health_connects_and_reports_the_server(pg_url):
    import psycopg

    with psycopg.connect(pg_url) as connection:
        version = connection.execute("show server_version").fetchone()[0]
    outcomes = run_runbook("postgres-health", {"dsn": pg_url})

    assert statuses(outcomes) == dict.fromkeys(("connect", "activity", "replication"), "succeeded")
    assert outcomes["connect"].result == {"version": version, "role": "primary"}
    assert f"connected: PostgreSQL {version}, primary" in outcomes["connect"].output
    assert isinstance(outcomes["replication"].result["standbys"], list)
    for outcome in outcomes.values():
        assert pg_url not in shown(outcome)


@pytest.mark.postgres
def test_postgres_health_finds_long_queries_and_lock_waits(pg_url, scratch_table):
    import psycopg

    holder = psycopg.connect(pg_url)
    waiter = psycopg.connect(pg_url, autocommit=True)
    sleeper = psycopg.connect(pg_url, autocommit=True)
    waiter_pid, sleeper_pid = waiter.info.backend_pid, sleeper.info.backend_pid
    threads: list[threading.Thread] = []
    try:
        holder.execute(f"lock table {scratch_table} in access exclusive mode")
        waiter.execute("set statement_timeout = '10s'")
        sleeper.execute("set statement_timeout = '10s'")

        def query(connection: psycopg.Connection[Any], sql: str) -> None:
            with contextlib.suppress(psycopg.Error):
                connection.execute(sql)

        for connection, sql in [
            (waiter, f"select count(*) from {scratch_table}"),
            (sleeper, "select pg_sleep(10)"),
        ]:
            threads.append(threading.Thread(target=query, args=(connection, sql)))
            threads[-1].start()
        with psycopg.connect(pg_url, autocommit=True) as watcher:

            def running_long() -> bool:
                row = watcher.execute(
                    "select count(*) from pg_stat_activity where pid = any(%s) and state = 'active'"
                    " and now() - query_start > interval '1 second'",
                    ([waiter_pid, sleeper_pid],),
                ).fetchone()
                return row is not None and row[0] == 2

            wait_for(running_long, "the waiting and sleeping queries to run over a second")

        outcomes = run_runbook("postgres-health", {"dsn": pg_url, "long_query_seconds": 1})
    finally:
        with contextlib.suppress(psycopg.Error):
            sleeper.cancel_safe()
        holder.rollback()
        for thread in threads:
            thread.join(5)
        for connection in (holder, waiter, sleeper):
            connection.close()

    assert statuses(outcomes) == dict.fromkeys(("connect", "activity", "replication"), "succeeded")
    activity = outcomes["activity"]
    assert activity.result["long_queries"] >= 2
    assert activity.result["lock_waits"] >= 1
    assert f"long query: pid {sleeper_pid} " in activity.output
    assert "select pg_sleep(10)" in activity.output
    assert (
        f"lock wait: pid {waiter_pid} wants AccessShareLock on {scratch_table}: " in activity.output
    )
    assert isinstance(outcomes["replication"].result["standbys"], list)
    for outcome in outcomes.values():
        assert pg_url not in shown(outcome)


@pytest.mark.postgres
def test_postgres_health_fails_clearly_and_hides_the_password(pg_url):
    from sqlalchemy.engine import make_url

    password = "Wr0ng-Passw0rd-77"
    bad = (
        make_url(pg_url)
        .set(password=password, port=closed_port())
        .render_as_string(hide_password=False)
    )
    outcomes = run_runbook("postgres-health", {"dsn": bad})

    assert statuses(outcomes) == {"connect": "failed"}
    connect = outcomes["connect"]
    assert connect.error is not None
    assert connect.error.startswith("CannotConnect: could not connect (OperationalError): ")
    assert "refused" in connect.error.lower()
    assert password not in shown(connect)
    assert bad not in shown(connect)


def test_postgres_health_names_where_it_could_not_connect_and_nothing_else_of_the_dsn():
    port = closed_port()
    dsn = f"postgresql://app:Hidden-Pw-991@127.0.0.1:{port}/orders?sslmode=disable"
    outcomes = run_runbook("postgres-health", {"dsn": dsn})

    error = outcomes["connect"].error
    assert error is not None
    assert error.startswith("CannotConnect: could not connect (OperationalError): ")
    assert f'connection to server at "127.0.0.1", port {port} failed: Connection refused' in error
    assert "\n" not in error
    assert "Hidden-Pw-991" not in shown(outcomes["connect"])


def test_postgres_health_leaves_out_what_libpq_quotes_of_an_unreadable_dsn():
    outcomes = run_runbook(
        "postgres-health", {"dsn": "postgresql://app:Quoted-Pw-77@127.0.0.1/app?sslmode=Pw-77"}
    )

    error = outcomes["connect"].error
    assert error == (
        "CannotConnect: could not connect (OperationalError): connection is bad: invalid sslmode "
        'value: "…"'
    )
    assert "Pw-77" not in shown(outcomes["connect"])


def test_postgres_health_dry_run_connects_nowhere():
    dsn = f"postgresql://someone:Dry-Run-Passw0rd@127.0.0.1:{closed_port()}/app"
    outcomes = run_runbook("postgres-health", {"dsn": dsn}, dry_run=True)

    assert statuses(outcomes) == dict.fromkeys(("connect", "activity", "replication"), "succeeded")
    assert all(outcome.result == {"dry_run": True} for outcome in outcomes.values())
    assert "would connect to the database" in outcomes["connect"].output


# -- restart-systemd-service -----------------------------------------------------------------


@pytest.fixture
def systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSystemctl:
    return FakeSystemctl.on_path(tmp_path / "fake-bin", monkeypatch)


def test_restart_without_confirm_only_says_what_it_would_do(systemctl):
    outcomes = run_runbook("restart-systemd-service", {"unit": "api.service"}, settings=UNITS)

    assert statuses(outcomes) == dict.fromkeys(
        ("status_before", "restart", "status_after"), "succeeded"
    )
    assert outcomes["status_before"].result == {"active": "active"}
    assert outcomes["restart"].result == {"restarted": False}
    assert "would run: systemctl restart -- api.service" in outcomes["restart"].output
    assert outcomes["status_after"].result == {"active": "active"}
    assert systemctl.calls == ["is-active -- api.service", "is-active -- api.service"]


def test_restart_with_confirm_restarts_the_unit(systemctl):
    outcomes = run_runbook(
        "restart-systemd-service", {"unit": "api.service", "confirm": True}, settings=UNITS
    )

    assert statuses(outcomes) == dict.fromkeys(
        ("status_before", "restart", "status_after"), "succeeded"
    )
    assert outcomes["restart"].result == {"restarted": True}
    assert "$ systemctl restart -- api.service" in outcomes["restart"].output
    assert systemctl.calls == [
        "is-active -- api.service",
        "restart -- api.service",
        "is-active -- api.service",
    ]


def test_restart_dry_run_with_confirm_calls_nothing_that_acts(systemctl):
    outcomes = run_runbook(
        "restart-systemd-service",
        {"unit": "api.service", "confirm": True},
        dry_run=True,
        settings=UNITS,
    )

    assert set(statuses(outcomes).values()) == {"succeeded"}
    assert "would run: systemctl restart -- api.service" in outcomes["restart"].output
    assert outcomes["restart"].result == {"restarted": False}
    assert systemctl.calls == []


def test_api_first_response_dry_run_with_confirm_restarts_nothing(systemctl):
    messages: list[dict[str, Any]] = []
    outcomes = run_runbook(
        "api-first-response", {"confirm": True}, dry_run=True, messages=messages, settings=UNITS
    )

    assert statuses(outcomes) == {"snapshot": "succeeded", "restart": "succeeded"}
    assert len(outcomes["snapshot"].result["load"]) == 3
    assert any(
        message["type"] == "note" and message["text"].startswith("INC-42: load ")
        for message in messages
    )
    assert outcomes["restart"].result == {"restarted": False}
    assert "would run: systemctl restart -- api.service" in outcomes["restart"].output
    assert systemctl.calls == []


def test_a_unit_that_is_not_active_after_the_restart_fails_the_run(systemctl):
    spec = shipped()["restart-systemd-service"]
    systemctl.state = "failed"
    messages: list[dict[str, Any]] = []
    outcomes = run_runbook(
        "restart-systemd-service",
        {"unit": "api.service", "confirm": True},
        messages=messages,
        settings=UNITS,
    )

    assert statuses(outcomes) == {
        "status_before": "succeeded",
        "restart": "succeeded",
        "status_after": "failed",
    }
    assert outcomes["status_before"].result == {"active": "failed"}
    error = outcomes["status_after"].error
    assert error == "RuntimeError: api.service is failed after the restart"
    assert systemctl.calls == [
        "is-active -- api.service",
        "restart -- api.service",
        "is-active -- api.service",
    ]

    # The engine then calls the on_failure method: it notes the unit's state.
    report = run_step(
        StepRequest(
            path=spec.path,
            class_name=spec.class_name,
            method="report",
            params={"unit": "api.service", "confirm": True},
            incident=INCIDENT,
            failure={"step": "status_after", "error": error},
        ),
        timeout=10,
        secrets={},
        cancel=threading.Event(),
        on_message=messages.append,
    )
    assert report.status == "succeeded", shown(report)
    note = f"restart of api.service failed at status_after: {error}"
    assert {"type": "note", "text": note} in messages


def test_without_confirm_a_failed_unit_does_not_fail_the_dry_restart(systemctl):
    systemctl.state = "failed"
    outcomes = run_runbook("restart-systemd-service", {"unit": "api.service"}, settings=UNITS)

    assert set(statuses(outcomes).values()) == {"succeeded"}
    assert outcomes["status_after"].result == {"active": "failed"}
    assert "restart -- api.service" not in systemctl.calls


# -- diagnostics-bundle ----------------------------------------------------------------------


@pytest.fixture
def logs(tmp_path: Path) -> list[Path]:
    app = tmp_path / "app.log"
    app.write_text("".join(f"app line {n}\n" for n in range(1, 6)), encoding="utf-8")
    binary = tmp_path / "binary.log"
    binary.write_bytes(b"first\nsecond \xff\xfe bytes\nthird\n")
    return [app, binary, tmp_path / "missing.log"]


def test_diagnostics_bundle_attaches_the_tails(logs, tmp_path):
    artifacts = tmp_path / "artifacts"
    messages: list[dict[str, Any]] = []
    outcomes = run_runbook(
        "diagnostics-bundle",
        {"paths": ", ".join(map(str, logs)), "lines": 2},
        artifacts_dir=artifacts,
        messages=messages,
        settings=Settings(runbook_log_dirs=(tmp_path,)),
    )

    (collect,) = outcomes.values()
    assert collect.status == "succeeded", shown(collect)
    bundle = artifacts.resolve() / "diagnostics.txt"
    assert collect.result == {"files": 3, "path": str(bundle)}
    assert collect.artifacts == [str(bundle)]
    app, binary, missing = logs
    assert bundle.read_text(encoding="utf-8") == (
        f"==> {app} <==\napp line 4\napp line 5\n\n"
        f"==> {binary} <==\nsecond \ufffd\ufffd bytes\nthird\n\n"
        f"==> {missing} <==\n(could not read: No such file or directory)\n"
    )
    assert f"{app}: 2 lines" in collect.output
    assert f"{missing}: could not read (No such file or directory)" in collect.output
    assert {"type": "note", "text": f"Diagnostics bundle attached: {bundle}"} in messages


def test_diagnostics_bundle_dry_run_writes_nothing(logs, tmp_path):
    artifacts = tmp_path / "artifacts"
    outcomes = run_runbook(
        "diagnostics-bundle",
        {"paths": ",".join(map(str, logs))},
        dry_run=True,
        artifacts_dir=artifacts,
        settings=Settings(runbook_log_dirs=(tmp_path,)),
    )

    (collect,) = outcomes.values()
    assert collect.status == "succeeded", shown(collect)
    assert collect.result == {"files": 3}
    assert collect.artifacts == []
    assert "would attach the bundle to the incident" in collect.output
    assert not artifacts.exists()


# -- through chat and the engine -------------------------------------------------------------


@pytest.fixture
def application(settings, session_factory, chat, clock, tmp_path):
    """The bot on the shipped runbooks, allowed to restart api.service (RUNBOOK_SYSTEMD_UNITS)."""
    application = runbook_application(
        replace(settings, runbook_systemd_units=UNITS.runbook_systemd_units),
        session_factory,
        chat,
        clock,
        folder=RUNBOOKS,
        artifacts=tmp_path / "artifacts",
    )
    yield application
    application.runbooks.shutdown()


@pytest.fixture
def in_incident(alice: Person) -> Person:
    return commanding(alice)


@pytest.fixture
def carol(handler) -> Person:
    return Person(handler, "carol", channel_id="C-GENERAL")


def test_a_restart_from_chat_waits_for_another_commander(
    in_incident, bob, carol, handler, session_factory, systemctl
):
    in_incident.says("role operations @bob")  # given by the commander, not taken
    bob.channel_id = carol.channel_id = in_incident.channel_id
    reply = bob.says("runbook run restart-systemd-service unit=api.service")
    settle(handler)

    assert reply.message.text == "Started restart-systemd-service for INC-1 (run #1)."
    (run,) = runs(session_factory)
    assert run.status == "waiting_approval"
    assert [(step.name, step.status) for step in run.steps] == [
        ("status_before", "succeeded"),
        ("restart", "waiting_approval"),
        ("status_after", "pending"),
    ]
    assert run.steps[0].result == {"active": "active"}

    refused = bob.says("approve 1")
    assert refused.message.tone == "error"
    assert "started this run, so someone else must approve it." in refused.message.text
    assert carol.says("approve 1").message.tone == "error"  # not the commander
    in_incident.says("role commander @carol")  # the commander hands the role over
    approved = carol.says("approve 1")
    assert approved.message.tone == "success", approved.message.text
    settle(handler)

    (run,) = runs(session_factory)
    assert run.status == "succeeded"
    assert [step.status for step in run.steps] == ["succeeded"] * 3
    assert run.steps[1].approved_by == "carol"
    assert run.steps[1].result == {"restarted": False}
    assert "would run: systemctl restart -- api.service" in run.steps[1].output
    assert systemctl.calls == ["is-active -- api.service", "is-active -- api.service"]


def test_a_sev1_on_the_api_starts_the_first_response(
    alice, carol, handler, session_factory, systemctl
):
    alice.says("declare sev1 API down service:api")
    settle(handler)

    (run,) = runs(session_factory)
    assert (run.runbook, run.requested_by, run.status) == (
        "api-first-response",
        "incident-bot",
        "waiting_approval",
    )
    snapshot, restart = run.steps
    assert snapshot.status == "succeeded"
    assert len(snapshot.result["load"]) == 3
    assert "load averages: " in snapshot.output
    assert any(
        event.text.startswith("INC-1: load ") and event.text.endswith(" at first response")
        for event in events(session_factory)
    )
    assert restart.status == "waiting_approval"

    alice.says("role commander @carol")  # a commander someone else appointed
    carol.channel_id = alice.channel_id
    approved = carol.says(f"approve {run.id}")
    assert approved.message.tone == "success", approved.message.text
    settle(handler)

    (run,) = runs(session_factory)
    assert run.status == "succeeded"
    assert run.steps[1].approved_by == "carol"
    assert run.steps[1].result == {"restarted": False}
    assert "would run: systemctl restart -- api.service" in run.steps[1].output
    assert systemctl.calls == []


def test_on_default_settings_a_sev1_says_why_the_first_response_did_not_start(
    settings, session_factory, chat, clock, tmp_path, systemctl
):
    application = runbook_application(
        settings, session_factory, chat, clock, folder=RUNBOOKS, artifacts=tmp_path / "artifacts"
    )
    try:
        alice = Person(application.handler, "alice", channel_id="C-GENERAL")
        alice.says("declare sev1 API down service:api")
        settle(application.handler)
    finally:
        application.runbooks.shutdown()

    assert runs(session_factory) == []
    assert systemctl.calls == []
    refusals = [e.text for e in events(session_factory) if "api-first-response" in e.text]
    assert refusals == [
        "Runbook api-first-response matches but could not start by itself: unit `api.service` "
        "(its default) is not allowed: RUNBOOK_SYSTEMD_UNITS is empty, so no unit is (an "
        "administrator lists the allowed ones there). Usage: "
        f"`{shipped()['api-first-response'].usage()}`"
    ]


def test_a_sev2_on_the_api_starts_nothing(alice, handler, session_factory):
    alice.says("declare sev2 API slow service:api")
    settle(handler)
    assert runs(session_factory) == []

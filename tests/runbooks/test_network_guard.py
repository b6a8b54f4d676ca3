"""`ctx.http` cannot be pointed inward: hostile URLs given to the shipped http-health-check.

Every request runs in a real worker process. A `sitecustomize` put on the worker's
PYTHONPATH records every TCP connection the worker opens and blocks any that would
leave loopback, so "refused before connecting" is asserted on what the worker did,
and no test sends traffic anywhere but this host. It also answers DNS for test host
names, one answer after the other, to try a rebinding.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import ssl
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import pytest

from bot.chat.run_messages import run_report
from bot.config import SETTINGS, load_settings
from bot.errors import ConfigError
from bot.runbooks.discovery import discover
from bot.runbooks.process import StepOutcome, StepRequest, run_step
from bot.storage.models import RunbookRun
from tests.support.paths import repo_root
from tests.support.runbooks import commanding, runbook_application, runs, settle

ALLOW = SETTINGS["runbook_http_allow"].env

SITECUSTOMIZE = """
import json, os, socket, sys

_LOG = os.environ.get("NETWORK_GUARD_LOG")
_ANSWERS = json.loads(os.environ.get("NETWORK_GUARD_DNS") or "{}")


def _write(line):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(line + "\\n")


def _hook(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple):
        host, port = args[1][:2]
        _write(f"connect {host} {port}")
        if not (host.startswith("127.") or host == "::1"):
            raise PermissionError(f"the test lets no connection leave loopback ({host})")


_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, port, *args, **kwargs):
    answers = _ANSWERS.get(host)
    if not answers:
        return _real_getaddrinfo(host, port, *args, **kwargs)
    _write(f"resolve {host}")
    answer = answers.pop(0) if len(answers) > 1 else answers[0]
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]


if _LOG:
    sys.addaudithook(_hook)
    socket.getaddrinfo = _getaddrinfo
"""


class Worker:
    """What the worker processes did on the network, read from the hook's log."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []

    def connects(self) -> list[str]:
        return [line.removeprefix("connect ") for line in self.lines() if line.startswith("conn")]

    def lookups(self, host: str) -> int:
        return self.lines().count(f"resolve {host}")


@pytest.fixture
def worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Worker:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("NETWORK_GUARD_LOG", str(tmp_path / "network.log"))
    return Worker(tmp_path / "network.log")


class Web(http.server.ThreadingHTTPServer):
    daemon_threads = True
    requests: list[tuple[str, dict[str, str]]]
    redirects: dict[str, tuple[int, str]]

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


class WebHandler(http.server.BaseHTTPRequestHandler):
    """`/ok` answers 200; a path in `server.redirects` redirects; anything else is 404."""

    server: Web

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers.items())))
        if self.path in self.server.redirects:
            status, location = self.server.redirects[self.path]
            self.send_response(status)
            self.send_header("Location", location)
        else:
            self.send_response(200 if self.path == "/ok" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(host: str = "127.0.0.1", port: int = 0) -> Web:
    server = Web((host, port), WebHandler)
    server.requests, server.redirects = [], {}
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    return server


@pytest.fixture
def web() -> Iterator[Web]:
    server = serve()
    yield server
    server.shutdown()
    server.server_close()


class Listener:
    """A TCP port on loopback that only counts who connected (nothing is accepted until asked)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.socket = socket.create_server((host, port))
        self.socket.setblocking(False)
        self.port = self.socket.getsockname()[1]

    def was_connected(self) -> bool:
        """Whether a connection came (the kernel queues it whether accepted or not)."""
        try:
            connection, _ = self.socket.accept()
        except BlockingIOError:
            return False
        connection.close()
        return True


@pytest.fixture
def listener() -> Iterator[Listener]:
    port = Listener()
    yield port
    port.socket.close()


def health_check(url: str, allow: tuple[str, ...] = (), *, dry_run: bool = False) -> StepOutcome:
    """The shipped http-health-check's one step, once, in a real worker."""
    spec = discover([repo_root() / "runbooks"]).runbooks["http-health-check"]
    request = StepRequest(
        path=spec.path,
        class_name=spec.class_name,
        method="check",
        params={"url": url, "expect_status": 200, "max_latency_ms": 5000},
        dry_run=dry_run,
        http_allow=allow,
    )
    return run_step(
        request, timeout=20, secrets={}, cancel=threading.Event(), on_message=lambda m: None
    )


def refused(outcome: StepOutcome, url: str) -> str:
    """The refusal's reason, after checking the step failed with one."""
    assert outcome.status == "failed", outcome
    assert outcome.error is not None
    prefix = f"HttpRefused: GET {url} refused: "
    assert outcome.error.startswith(prefix), outcome.error
    return outcome.error.removeprefix(prefix)


# -- refused by default --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("[fd00:ec2::254]", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("10.20.30.40", "a private address"),
        ("192.168.1.1", "a private address"),
        ("172.16.0.9", "a private address"),
        ("[fd12:3456::1]", "a private address"),
        ("169.254.10.1", "a link-local address"),
        ("[fe80::1]", "a link-local address"),
        ("0.0.0.0", "the unspecified address"),
        ("[::]", "the unspecified address"),
        ("100.64.0.1", "not a public address"),
    ],
)
def test_internal_addresses_are_refused_before_connecting(worker, address, reason):
    url = f"http://{address}/latest/meta-data/"
    outcome = health_check(url)

    host = address.strip("[]")
    assert refused(outcome, url) == (
        f"{host} is {reason}; runbooks reach internal hosts only when {ALLOW} lists the host "
        f"or its network (e.g. {ALLOW}={host})"
    )
    assert worker.connects() == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "[::1]", "[::ffff:127.0.0.1]"])
def test_loopback_is_refused_by_default(worker, web, host):
    url = f"http://{host}:{web.server_address[1]}/ok"
    outcome = health_check(url)

    assert "is a loopback address; runbooks reach internal hosts only when" in refused(outcome, url)
    assert worker.connects() == []
    assert web.requests == []


def test_a_host_name_that_resolves_to_loopback_is_refused(worker, web):
    url = f"http://localhost:{web.server_address[1]}/ok"
    outcome = health_check(url)

    assert refused(outcome, url).startswith("localhost (127.0.0.1) is a loopback address; ")
    assert worker.connects() == []
    assert web.requests == []


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/pub", "file:///etc/passwd", "gopher://127.0.0.1:70/", "dict://x:11/"]
)
def test_only_http_and_https_urls_are_requested(worker, url):
    for dry_run in (False, True):
        outcome = health_check(url, ("127.0.0.1",), dry_run=dry_run)

        assert refused(outcome, url) == "only http:// and https:// URLs can be requested"
    assert worker.connects() == []


# -- redirects -----------------------------------------------------------------------------


def test_a_redirect_to_ftp_is_refused_and_the_ftp_port_gets_no_connection(worker, web, listener):
    web.redirects["/health"] = (302, f"ftp://127.0.0.1:{listener.port}/pub/file")
    url = f"{web.base}/health"
    outcome = health_check(url, ("127.0.0.1",))

    assert refused(outcome, url) == (
        f"it redirects to ftp://127.0.0.1:{listener.port}/pub/file: "
        "only http:// and https:// URLs can be requested"
    )
    assert web.paths() == ["/health"]
    assert not listener.was_connected()
    assert worker.connects() == [f"127.0.0.1 {web.server_address[1]}"]


def test_a_redirect_from_an_allowed_host_to_a_metadata_address_is_refused(worker, web):
    web.redirects["/health"] = (307, "http://169.254.169.254/latest/meta-data/iam/")
    url = f"{web.base}/health"
    outcome = health_check(url, ("127.0.0.1",))

    assert refused(outcome, url).startswith(
        "it redirects to http://169.254.169.254/latest/meta-data/iam/: "
        "169.254.169.254 is a cloud metadata address; "
    )
    assert worker.connects() == [f"127.0.0.1 {web.server_address[1]}"]


def test_a_redirect_to_an_internal_host_that_is_not_allowed_is_refused(worker, web, listener):
    web.redirects["/health"] = (301, f"http://127.0.0.2:{listener.port}/admin")
    url = f"{web.base}/health"
    outcome = health_check(url, ("127.0.0.1",))

    assert refused(outcome, url).startswith(
        f"it redirects to http://127.0.0.2:{listener.port}/admin: 127.0.0.2 is a loopback address"
    )
    assert not listener.was_connected()


def test_redirects_within_the_allowed_hosts_are_followed(worker, web):
    web.redirects["/healthz"] = (301, "/v2/healthz")
    web.redirects["/v2/healthz"] = (302, f"{web.base}/ok")
    outcome = health_check(f"{web.base}/healthz", ("127.0.0.1",))

    assert outcome.status == "succeeded", outcome
    assert outcome.result["status"] == 200
    assert web.paths() == ["/healthz", "/v2/healthz", "/ok"]


def test_redirects_end_after_five(worker, web):
    web.redirects["/loop"] = (302, "/loop")
    url = f"{web.base}/loop"
    outcome = health_check(url, ("127.0.0.1",))

    assert outcome.status == "failed"
    assert outcome.error == f"HttpFailed: GET {url} failed: more than 5 redirects"
    assert web.paths() == ["/loop"] * 6


def test_credentials_go_no_further_than_the_host_they_were_given_to(tmp_path, web):
    other = serve("127.0.0.2")
    try:
        web.redirects["/api"] = (307, f"http://127.0.0.2:{other.server_address[1]}/ok")
        book = tmp_path / "book.py"
        book.write_text(
            textwrap.dedent(
                f"""
                from bot.runbooks.sdk import runbook, step

                @runbook(name="call", summary="Calls an API")
                class Call:
                    @step
                    def go(self, ctx):
                        headers = {{"Authorization": "Bearer t0ken", "X-Trace": "kept"}}
                        return ctx.http("GET", "{web.base}/api", headers=headers).status
                """
            ),
            encoding="utf-8",
        )
        outcome = run_step(
            StepRequest(book, "Call", "go", http_allow=("127.0.0.0/8",)),
            timeout=20,
            secrets={},
            cancel=threading.Event(),
            on_message=lambda m: None,
        )
    finally:
        other.shutdown()
        other.server_close()

    assert outcome.status == "succeeded", outcome
    assert outcome.result == 200
    (_, first), (_, second) = web.requests + other.requests
    assert first["Authorization"] == "Bearer t0ken"
    assert "Authorization" not in second
    assert second["X-Trace"] == "kept"
    assert second["Host"] == f"127.0.0.2:{other.server_address[1]}"


# -- allowed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allow"),
    [
        ("127.0.0.1", ("127.0.0.1",)),
        ("127.0.0.1", ("10.0.0.0/8", "127.0.0.0/8")),
        ("localhost", ("localhost",)),
        ("LocalHost", ("api.internal", "LOCALHOST.")),
    ],
)
def test_an_allowed_internal_host_is_checked(worker, web, host, allow):
    outcome = health_check(f"http://{host}:{web.server_address[1]}/ok", allow)

    assert outcome.status == "succeeded", outcome
    assert outcome.result["status"] == 200
    assert web.paths() == ["/ok"]
    assert web.requests[0][1]["Host"] == f"{host.lower()}:{web.server_address[1]}"
    assert worker.connects() == [f"127.0.0.1 {web.server_address[1]}"]


def test_the_address_checked_is_the_address_connected_to(worker, monkeypatch):
    """DNS rebinding: the second answer for the name would be an address that is not allowed."""
    allowed = serve("127.0.0.2")
    port = allowed.server_address[1]
    rebound = Listener("127.0.0.3", port)
    monkeypatch.setenv("NETWORK_GUARD_DNS", json.dumps({"status.test": ["127.0.0.2", "127.0.0.3"]}))
    try:
        outcome = health_check(f"http://status.test:{port}/ok", ("127.0.0.2",))
    finally:
        allowed.shutdown()
        allowed.server_close()

    assert outcome.status == "succeeded", outcome
    assert allowed.paths() == ["/ok"]
    assert allowed.requests[0][1]["Host"] == f"status.test:{port}"
    assert not rebound.was_connected()
    assert worker.lookups("status.test") == 1
    assert worker.connects() == [f"127.0.0.2 {port}"]
    rebound.socket.close()


@pytest.fixture
def tls_web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Web, list[str]]]:
    """An HTTPS server on 127.0.0.2 whose certificate names only `status.test` (trusted by
    the worker through SSL_CERT_FILE), and the server names its clients asked for (SNI)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=status.test", "-addext", "subjectAltName=DNS:status.test"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    asked: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: asked.append(str(name))
    server = Web(("127.0.0.2", 0), WebHandler, bind_and_activate=False)
    server.requests, server.redirects = [], {}
    server.server_bind()
    server.server_activate()
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    yield server, asked
    server.shutdown()
    server.server_close()


def test_https_to_an_allowed_host_checks_its_certificate_by_name(worker, tls_web, monkeypatch):
    server, asked = tls_web
    port = server.server_address[1]
    monkeypatch.setenv("NETWORK_GUARD_DNS", json.dumps({"status.test": ["127.0.0.2"]}))
    outcome = health_check(f"https://status.test:{port}/ok", ("status.test",))

    assert outcome.status == "succeeded", outcome
    assert asked == ["status.test"]
    assert server.requests[0][1]["Host"] == f"status.test:{port}"
    assert worker.connects() == [f"127.0.0.2 {port}"]

    by_address = f"https://127.0.0.2:{port}/ok"  # the certificate does not name the address
    outcome = health_check(by_address, ("127.0.0.2",))

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith(f"HttpFailed: GET {by_address} failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.error
    assert server.paths() == ["/ok"]


# -- the setting ---------------------------------------------------------------------------


def test_the_allow_list_setting_takes_host_names_and_networks():
    settings = load_settings({ALLOW: " Api.Internal. ,10.0.0.7, 10.20.0.0/16,fd00::/8,"}, None)

    assert settings.runbook_http_allow == (
        "api.internal",
        "10.0.0.7/32",
        "10.20.0.0/16",
        "fd00::/8",
    )
    assert load_settings({}, None).runbook_http_allow == ()


@pytest.mark.parametrize("value", ["http://api.internal", "10.0.0.0/33", "api internal", "a@b"])
def test_a_bad_allow_list_stops_start_up_with_one_line(value):
    with pytest.raises(ConfigError) as raised:
        load_settings({ALLOW: value}, None)

    assert str(raised.value) == (
        f"{ALLOW}={value!r} is not valid: expected host names and CIDR networks separated by ','"
    )


# -- through chat and the engine -----------------------------------------------------------


@pytest.fixture
def http_allow() -> tuple[str, ...]:
    """The RUNBOOK_HTTP_ALLOW setting of the application (a test parametrizes it to change it)."""
    return ()


@pytest.fixture
def application(settings, session_factory, chat, clock, tmp_path, http_allow):
    application = runbook_application(
        replace(settings, runbook_http_allow=http_allow),
        session_factory,
        chat,
        clock,
        folder=repo_root() / "runbooks",
        artifacts=tmp_path / "artifacts",
    )
    yield application
    application.runbooks.shutdown()


def title(run: RunbookRun) -> str:
    return f"Runbook {run.runbook}, run #{run.id}: {run.status}"


@pytest.mark.parametrize("http_allow", [("127.0.0.1",)])
def test_from_chat_a_health_check_of_an_allowed_internal_host_succeeds(
    alice, handler, session_factory, web, worker
):
    commanding(alice).says(f"runbook run http-health-check url={web.base}/ok")
    settle(handler)

    (run,) = runs(session_factory)
    assert run.status == "succeeded", run.error
    assert run.steps[0].result["status"] == 200
    assert web.paths() == ["/ok"]
    assert worker.connects() == [f"127.0.0.1 {web.server_address[1]}"]


def test_from_chat_an_internal_url_is_refused_with_what_to_configure(
    alice, handler, application, session_factory, chat, web, worker
):
    url = f"{web.base}/ok"
    commanding(alice).says(f"runbook run http-health-check url={url}")
    settle(handler)
    application.deliverer.deliver_pending()

    (run,) = runs(session_factory)
    assert run.status == "failed"
    error = run.steps[0].error
    assert error is not None
    assert error.startswith(f"HttpRefused: GET {url} refused: 127.0.0.1 is a loopback address; ")
    assert error.endswith(f"lists the host or its network (e.g. {ALLOW}=127.0.0.1)")
    method, (_, ref, text) = chat.calls[-1]
    assert (method, ref, text) == ("update", run.message_ref, title(run))
    shown = "\n".join(run_report(run, UTC).lines)  # what that update shows under its title
    assert f"127.0.0.1 is a loopback address; runbooks reach internal hosts only when {ALLOW}" in (
        shown
    )
    assert web.requests == []
    assert worker.connects() == []

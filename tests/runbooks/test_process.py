"""Steps run in a process of their own: whatever a step does, the bot's process is fine.

Real worker processes, with small runbook files written into tmp_path.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.runbooks.context import Context, SecretInCommand
from bot.runbooks.limits import CPU_GRACE_SECONDS
from bot.runbooks.process import (
    RunWorker,
    StepFailure,
    StepOutcome,
    StepRequest,
    run_step,
    worker_environment,
)
from bot.runbooks.redaction import MASK
from tests.support.paths import repo_root

SECRET = "s3cr3t-Value-42"

HEADER = """\
import os
import subprocess
import sys
import time

from bot.runbooks.sdk import on_failure, runbook, step


@runbook(name="test", summary="A runbook of tests")
class Book:
"""


def write_runbook(folder: Path, methods: str) -> Path:
    path = folder / "book.py"
    path.write_text(HEADER + textwrap.indent(textwrap.dedent(methods), "    "), encoding="utf-8")
    return path


def run(
    tmp_path: Path,
    methods: str,
    *,
    method: str = "go",
    timeout: float | None = 5,
    secrets: dict[str, str] | None = None,
    cancel: threading.Event | None = None,
    **fields: Any,
) -> tuple[StepOutcome, list[dict[str, Any]]]:
    messages: list[dict[str, Any]] = []
    request = StepRequest(
        path=write_runbook(tmp_path, methods),
        class_name="Book",
        method=method,
        artifacts_dir=tmp_path / "artifacts",
        **fields,
    )
    outcome = run_step(
        request,
        timeout=timeout,
        secrets=secrets or {},
        cancel=cancel or threading.Event(),
        on_message=messages.append,
    )
    return outcome, messages


def logs(messages: list[dict[str, Any]]) -> list[str]:
    return [message["text"] for message in messages if message["type"] == "log"]


def gone(pid: int, within: float = 3.0) -> bool:
    """Whether process `pid` has ended (a zombie waiting for its reaper counts as ended)."""
    deadline = time.monotonic() + within
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def read_pid(path: Path, within: float = 3.0) -> int:
    deadline = time.monotonic() + within
    while not path.exists() or not path.read_text().strip():
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.02)
    return int(path.read_text().strip())


# -- results and messages --------------------------------------------------------------


def test_a_step_returns_a_value_and_sees_its_inputs(tmp_path):
    outcome, messages = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            return {
                "service": ctx.params.service,
                "replicas": ctx.params["replicas"],
                "params": dict(ctx.params),
                "incident": [ctx.incident.reference, ctx.incident["severity"]],
                "earlier": ctx.outputs["check"],
                "dry_run": ctx.dry_run,
                "step": ctx.step,
                "tuple": (1, 2),
            }
        """,
        params={"service": "api", "replicas": 3},
        incident={"reference": "INC-7", "severity": "SEV2", "title": "Slow"},
        outputs={"check": {"healthy": False}},
    )
    assert outcome.status == "succeeded", outcome
    assert outcome.result == {
        "service": "api",
        "replicas": 3,
        "params": {"service": "api", "replicas": 3},
        "incident": ["INC-7", "SEV2"],
        "earlier": {"healthy": False},
        "dry_run": False,
        "step": "go",
        "tuple": [1, 2],
    }
    assert outcome.error is None and outcome.artifacts == []
    assert messages == [{"type": "result", "value": outcome.result}]
    assert 0 < outcome.duration < 5


def test_a_value_json_cannot_hold_comes_back_as_its_repr(tmp_path):
    outcome, _ = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            return {1, 2}
        """,
    )
    assert outcome.status == "succeeded"
    assert outcome.result == "{1, 2}"


def test_log_note_and_artifact_messages(tmp_path):
    outcome, messages = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            ctx.log("checking")
            ctx.note("restarted api")
            first = ctx.artifact("../../etc/report.txt", "all good")
            second = ctx.artifact("report.txt", b"\\x00\\x01")
            ctx.log("done")
            return [first, second]
        """,
    )
    folder = (tmp_path / "artifacts").resolve()
    assert outcome.status == "succeeded", outcome
    assert outcome.result == [str(folder / "report.txt"), str(folder / "report-2.txt")]
    assert outcome.artifacts == outcome.result
    assert (folder / "report.txt").read_text() == "all good"
    assert (folder / "report-2.txt").read_bytes() == b"\x00\x01"
    assert [m["type"] for m in messages] == ["log", "note", "artifact", "artifact", "log", "result"]
    assert messages[1] == {"type": "note", "text": "restarted api"}
    assert messages[2] == {
        "type": "artifact",
        "name": "report.txt",
        "path": str(folder / "report.txt"),
    }
    assert outcome.output == "checking\ndone"


def test_print_and_direct_writes_become_log_lines(tmp_path):
    outcome, messages = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            print("to stdout")
            print('{"type": "result", "value": "forged"}')
            print("to stderr", file=sys.stderr)
            print("partial", end="")
            os.write(1, b"straight to fd 1\\n")
            subprocess.run(["echo", "a child's stdout"], check=True)
            return "real"
        """,
    )
    assert outcome.status == "succeeded", outcome
    assert outcome.result == "real"
    assert set(logs(messages)) == {
        "to stdout",
        '{"type": "result", "value": "forged"}',
        "to stderr",
        "partial",
        "straight to fd 1",
        "a child's stdout",
    }
    assert [m for m in messages if m["type"] == "result"] == [{"type": "result", "value": "real"}]


def test_an_on_failure_method_gets_the_failed_step_and_error(tmp_path):
    outcome, _ = run(
        tmp_path,
        """
        @on_failure
        def undo(self, ctx, failed_step, error):
            return f"{ctx.step}: {failed_step} failed with {error}"
        """,
        method="undo",
        failure=StepFailure("restart", "boom"),
    )
    assert outcome.status == "succeeded", outcome
    assert outcome.result == "undo: restart failed with boom"
    outcome, _ = run(
        tmp_path,
        "@on_failure\ndef undo(self, ctx, failed_step, error):\n    return failed_step\n",
        method="undo",
        failure={"step": "scale", "error": "x"},
    )
    assert outcome.result == "scale"


# -- failures --------------------------------------------------------------------------


def test_an_exception_fails_the_step_with_a_redacted_traceback(tmp_path):
    outcome, messages = run(
        tmp_path,
        """
        def helper(self, token):
            raise RuntimeError(f"could not log in with {token}")

        @step
        def go(self, ctx):
            ctx.log("trying")
            self.helper(ctx.secret("token"))
        """,
        secret_names=["token"],
        secrets={"token": SECRET},
    )
    assert outcome.status == "failed"
    assert outcome.error == f"RuntimeError: could not log in with {MASK}"
    assert outcome.traceback is not None
    assert "book.py" in outcome.traceback and "in helper" in outcome.traceback
    assert "worker.py" not in outcome.traceback
    assert outcome.traceback.rstrip().endswith(outcome.error)
    assert outcome.output.startswith("trying\nTraceback (most recent call last):")
    assert SECRET not in json.dumps(messages) + outcome.output
    assert messages[-1]["type"] == "error"


@pytest.mark.parametrize(
    ("methods", "method", "expected"),
    [
        ("@step\ndef go(self, ctx):\n    return 1 +\n", "go", "SyntaxError"),
        ("@step\ndef go(self, ctx):\n    pass\n", "missing", "LookupError: class Book has no"),
        ("@step\ndef go(self, ctx):\n    sys.exit(3)\n", "go", "SystemExit: 3"),
        ("@step\ndef go(self, ctx):\n    ctx.params.nope\n", "go", "AttributeError: 'nope'"),
    ],
)
def test_broken_files_and_steps_fail_cleanly(tmp_path, methods, method, expected):
    outcome, _ = run(tmp_path, methods, method=method)
    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error.startswith(expected), outcome.error


def test_a_failing_command_raises_with_its_exit_code_and_stderr(tmp_path):
    outcome, messages = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            loose = ctx.run(["sh", "-c", "echo soft >&2; exit 2"], check=False)
            ctx.log(f"loose: {loose.returncode} {loose.stderr.strip()}")
            ctx.run(["sh", "-c", "echo out; echo oops >&2; exit 3"])
        """,
    )
    assert outcome.status == "failed"
    assert outcome.error == "CommandFailed: `sh -c 'echo out; echo oops >&2; exit 3'` " + (
        "exited with code 3:\noops"
    )
    assert "loose: 2 soft" in logs(messages)
    assert "out" in logs(messages) and "oops" in logs(messages)


def test_a_command_is_killed_on_its_own_timeout(tmp_path):
    outcome, _ = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            ctx.run(["sleep", "30"], timeout=0.3)
        """,
    )
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith("CommandTimedOut: `sleep 30` timed out after 0.3s")
    assert outcome.duration < 3


def test_a_missing_command_says_so(tmp_path):
    outcome, _ = run(
        tmp_path,
        "@step\ndef go(self, ctx):\n    ctx.run(['no-such-command-here'])\n",
    )
    assert outcome.error == "CommandFailed: `no-such-command-here` cannot run: command not found"


# -- isolation: hangs, cancel, crashes, memory, floods ---------------------------------


def test_a_hanging_step_times_out_and_its_process_is_gone(tmp_path):
    pid_file = tmp_path / "worker.pid"
    outcome, _ = run(
        tmp_path,
        f"""
        @step
        def go(self, ctx):
            open({str(pid_file)!r}, "w").write(str(os.getpid()))
            time.sleep(60)
        """,
        timeout=1,
    )
    assert outcome.status == "timed_out"
    assert outcome.error == "timed out after 1s"
    assert 1 <= outcome.duration < 4
    assert gone(read_pid(pid_file))


def test_a_timeout_kills_the_commands_a_step_started_too(tmp_path):
    worker_file, child_file = tmp_path / "worker.pid", tmp_path / "child.pid"
    outcome, _ = run(
        tmp_path,
        f"""
        @step
        def go(self, ctx):
            open({str(worker_file)!r}, "w").write(str(os.getpid()))
            ctx.run(["sh", "-c", "echo $$ > {child_file}; exec sleep 60"], timeout=120)
        """,
        timeout=1,
    )
    assert outcome.status == "timed_out"
    assert outcome.duration < 4
    worker, child = read_pid(worker_file), read_pid(child_file)
    assert worker != child
    assert gone(worker)
    assert gone(child)


def test_processes_a_step_leaves_behind_are_killed_when_it_ends(tmp_path):
    child_file = tmp_path / "child.pid"
    outcome, _ = run(
        tmp_path,
        f"""
        @step
        def go(self, ctx):
            child = subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            open({str(child_file)!r}, "w").write(str(child.pid))
            return "left it running"
        """,
    )
    assert outcome.status == "succeeded"
    assert outcome.duration < 2
    assert gone(read_pid(child_file))


def test_cancel_stops_a_running_step(tmp_path):
    cancel = threading.Event()
    pid_file = tmp_path / "worker.pid"
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    try:
        outcome, messages = run(
            tmp_path,
            f"""
            @step
            def go(self, ctx):
                ctx.log("working")
                open({str(pid_file)!r}, "w").write(str(os.getpid()))
                time.sleep(60)
            """,
            timeout=30,
            cancel=cancel,
        )
    finally:
        timer.cancel()
    assert outcome.status == "cancelled"
    assert outcome.duration < 3
    assert logs(messages) == ["working"]
    assert gone(read_pid(pid_file))


def test_a_cancelled_run_does_not_start_the_step(tmp_path):
    cancel = threading.Event()
    cancel.set()
    marker = tmp_path / "ran"
    outcome, _ = run(
        tmp_path,
        f"@step\ndef go(self, ctx):\n    open({str(marker)!r}, 'w')\n",
        cancel=cancel,
    )
    assert outcome.status == "cancelled"
    assert not marker.exists()


def test_a_segfault_is_a_crash_not_the_bots_problem(tmp_path):
    outcome, _ = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            import ctypes
            ctx.log("about to crash")
            ctypes.string_at(0)
        """,
    )
    assert outcome.status == "crashed"
    assert outcome.error is not None and "SIGSEGV" in outcome.error
    assert "about to crash" in outcome.output
    assert "Fatal Python error: Segmentation fault" in outcome.output  # faulthandler, on stderr
    assert os.getpid() > 0  # still here


def test_exiting_without_a_result_is_a_crash(tmp_path):
    outcome, _ = run(tmp_path, "@step\ndef go(self, ctx):\n    os._exit(3)\n")
    assert outcome.status == "crashed"
    assert outcome.error == "the step's process exited with code 3 without reporting a result"
    outcome, _ = run(tmp_path, "@step\ndef go(self, ctx):\n    os.kill(os.getpid(), 9)\n")
    assert outcome.error is not None and "killed by signal SIGKILL" in outcome.error


def test_a_memory_blow_up_is_contained_by_the_limit(tmp_path):
    outcome, _ = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            hoard = []
            while True:
                hoard.append(bytearray(20 * 1024 * 1024))
        """,
        memory_limit_mb=200,
    )
    assert outcome.status in ("failed", "crashed")
    if outcome.status == "failed":
        assert outcome.error == (
            "MemoryError: the step needed more than the 200 MB of memory a step may use "
            "(RUNBOOK_MEMORY_LIMIT_MB)"
        )
    again, _ = run(tmp_path, "@step\ndef go(self, ctx):\n    return 'fine'\n")
    assert again.result == "fine"


def test_the_default_limits_apply_to_the_step_and_its_commands(tmp_path):
    outcome, _ = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            import resource

            shell = ctx.run(["sh", "-c", "ulimit -v; ulimit -t"], timeout=10).stdout.split()
            return [resource.getrlimit(resource.RLIMIT_AS)[0], shell]
        """,
    )
    assert outcome.status == "succeeded", outcome
    address_space, (command_kb, command_seconds) = outcome.result
    assert address_space == 512 * 2**20  # RUNBOOK_MEMORY_LIMIT_MB's default
    assert command_kb == str(512 * 1024)
    assert 300 + CPU_GRACE_SECONDS <= int(command_seconds) <= 300 + CPU_GRACE_SECONDS + 3


def test_without_limits_nothing_is_capped(tmp_path):
    outcome, _ = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            import resource

            return [resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_CPU)]
        """,
        memory_limit_mb=None,
        cpu_seconds=None,
    )
    assert outcome.result == [[-1, -1], [-1, -1]]  # RLIM_INFINITY


def test_a_cpu_spinning_step_is_stopped_by_its_cpu_time(tmp_path):
    started = time.monotonic()
    outcome, _ = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            try:
                while True:
                    pass
            except Exception:  # the limit is not an Exception: this cannot swallow it
                return "swallowed"
        """,
        cpu_seconds=1,
        timeout=30,
    )
    assert outcome.status == "failed"
    assert (
        outcome.error == "CpuTimeExceeded: the step used its 1 s of CPU time (RUNBOOK_CPU_SECONDS)"
    )
    assert time.monotonic() - started < 10


def test_a_command_that_spins_is_killed_by_the_cpu_limit(tmp_path):
    started = time.monotonic()
    outcome, _ = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            ctx.run(["sh", "-c", "while :; do :; done"], timeout=60)
        """,
        cpu_seconds=1,
        timeout=60,
    )
    assert outcome.status == "failed"
    assert outcome.error is not None and "SIGXCPU" in outcome.error, outcome.error
    assert time.monotonic() - started < 1 + CPU_GRACE_SECONDS + 10


def test_each_step_has_its_own_cpu_time_and_the_worker_carries_on(tmp_path):
    path = write_runbook(
        tmp_path,
        """
        @step
        def spin(self, ctx):
            while True:
                pass

        @step
        def work(self, ctx):
            end = time.process_time() + 0.3
            while time.process_time() < end:
                pass
            return os.getpid()
        """,
    )
    worker = RunWorker(secrets={})
    try:
        outcomes = [
            worker.step(
                StepRequest(path=path, class_name="Book", method=method, cpu_seconds=1),
                timeout=30,
                cancel=threading.Event(),
                on_message=lambda message: None,
            )
            for method in ("work", "spin", "work", "work")
        ]
    finally:
        worker.close()
    assert [outcome.status for outcome in outcomes] == [
        "succeeded",
        "failed",
        "succeeded",
        "succeeded",
    ]
    assert outcomes[1].error is not None and outcomes[1].error.startswith("CpuTimeExceeded: ")
    assert len({outcome.result for outcome in outcomes if outcome.result}) == 1  # one worker


def test_huge_output_is_capped_with_a_note(tmp_path):
    outcome, messages = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            line = "x" * 93
            for number in range(50_000):
                print(f"{number:06d} {line}")
            return "done"
        """,
        timeout=20,
    )
    assert outcome.status == "succeeded"
    assert len(logs(messages)) == 50_000  # every line was relayed as it came
    assert len(outcome.output) < 64_000 + 100
    assert outcome.output.startswith("000000 xxx")
    assert outcome.output.endswith("049999 " + "x" * 93)
    kept = 64_000
    assert f"[… {50_000 * 101 - kept} more characters not kept]" in outcome.output


def test_non_utf8_command_output_is_replaced_not_fatal(tmp_path):
    outcome, messages = run(
        tmp_path,
        """
        @step
        def go(self, ctx):
            result = ctx.run(["printf", "\\\\xff\\\\xfe ok"])
            print(b"\\xff".decode("utf-8", "surrogateescape"))
            return result.stdout
        """,
    )
    assert outcome.status == "succeeded", outcome
    assert outcome.result == "\ufffd\ufffd ok"
    assert "\ufffd\ufffd ok" in logs(messages)


# -- secrets ---------------------------------------------------------------------------


def test_secrets_never_reach_the_output_error_or_result(tmp_path, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-bot-own-token-123456")
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:db-pass-9876@db/bot")
    methods = """
        @step
        def go(self, ctx):
            token = ctx.secret("token")
            assert "token" not in ctx.params
            assert not [k for k in os.environ if k.startswith("RUNBOOK_SECRET_")]
            assert "SLACK_BOT_TOKEN" not in os.environ and "DATABASE_URL" not in os.environ
            ctx.run(["sh", "-c", 'echo "command got $TOKEN"'], env={"TOKEN": token})
            print("printed:", token)
            ctx.log(f"logged: {token}")
            ctx.note(f"noted: {token}")
            ctx.artifact("dump.txt", f"written: {token}")
            return {"value": token, "nested": [f"in {token}"], "optional": ctx.secret("other")}

        @step
        def fail(self, ctx):
            raise ValueError(f"bad {ctx.secret('token')}")
    """
    outcome, messages = run(
        tmp_path, methods, secret_names=["token", "other"], secrets={"token": SECRET}
    )
    assert outcome.status == "succeeded", outcome
    assert outcome.result == {"value": MASK, "nested": [f"in {MASK}"], "optional": None}
    assert f"command got {MASK}" in outcome.output
    assert f"printed: {MASK}" in outcome.output and f"logged: {MASK}" in outcome.output
    assert {"type": "note", "text": f"noted: {MASK}"} in messages
    assert (tmp_path / "artifacts" / "dump.txt").read_text() == f"written: {MASK}"
    shown = json.dumps(messages) + outcome.output + json.dumps(outcome.result)
    assert SECRET not in shown

    failed, failed_messages = run(
        tmp_path, methods, method="fail", secret_names=["token"], secrets={"token": SECRET}
    )
    assert failed.status == "failed"
    assert failed.error == f"ValueError: bad {MASK}"
    assert SECRET not in json.dumps(failed_messages) + failed.output + str(failed.traceback)


def test_a_secret_in_a_command_line_is_refused(tmp_path):
    marker = tmp_path / "ran"
    outcome, _ = run(
        tmp_path,
        f"""
        @step
        def go(self, ctx):
            ctx.run(["touch", {str(marker)!r}, "--token=" + ctx.secret("token")])
        """,
        secret_names=["token"],
        secrets={"token": SECRET},
    )
    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error.startswith("SecretInCommand: word 2")
    assert "env=" in outcome.error
    assert not marker.exists()


def test_a_command_must_be_a_list_of_words(tmp_path):
    outcome, _ = run(tmp_path, "@step\ndef go(self, ctx):\n    ctx.run('ls -l /')\n")
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith("TypeError: ctx.run takes the command as a list of words")
    assert "['ls', '-l', '/']" in outcome.error


def test_the_workers_environment_holds_no_secret_of_the_bot():
    env, withheld = worker_environment(
        {
            "PATH": "/usr/bin",
            "HOME": "/home/bot",
            "PWD": "/srv/bot",
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s",
            "AWS_SECRET_ACCESS_KEY": "a",
            "GITHUB_API_KEY": "g",
            "PGPASSWORD": "p",
            "DATABASE_URL": "sqlite:///bot.db",
            "REDIS": "redis://:hidden-pass@cache:6379",
            "HTTPS_PROXY": "http://user:proxy-pass@proxy:3128",
            "RUNBOOK_SECRET_OLD": "stale",
        },
        {"token": "t0ken"},
    )
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/home/bot" and env["PWD"] == "/srv/bot"
    assert env["HTTPS_PROXY"] == "http://user:proxy-pass@proxy:3128"
    assert env["RUNBOOK_SECRET_TOKEN"] == "t0ken"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(repo_root())
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "AWS_SECRET_ACCESS_KEY"):
        assert name not in env
    for name in ("GITHUB_API_KEY", "PGPASSWORD", "DATABASE_URL", "REDIS", "RUNBOOK_SECRET_OLD"):
        assert name not in env
    assert "proxy-pass" in withheld and "redis://:hidden-pass@cache:6379" in withheld


# -- dry run and HTTP ------------------------------------------------------------------


class _Server:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                server.requests.append((self.command, self.path, body))
                status = 404 if self.path == "/missing" else 200
                text = body or f"hello from {self.path}".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _Server()
    yield running
    running.close()


def test_http_requests_return_any_status(tmp_path, server):
    outcome, messages = run(
        tmp_path,
        f"""
        @step
        def go(self, ctx):
            ok = ctx.http("GET", "{server.url}/health")
            missing = ctx.http("get", "{server.url}/missing")
            posted = ctx.http("POST", "{server.url}/echo", body={{"replicas": 3}})
            return [
                [ok.status, ok.text, ok.elapsed_ms > 0, ok.headers["Content-Type"], ok.ok],
                [missing.status, missing.ok],
                posted.json(),
            ]
        """,
        http_allow=["127.0.0.1"],
    )
    assert outcome.status == "succeeded", outcome
    assert outcome.result == [
        [200, "hello from /health", True, "text/plain; charset=utf-8", True],
        [404, False],
        {"replicas": 3},
    ]
    assert [(method, path) for method, path, _ in server.requests] == [
        ("GET", "/health"),
        ("GET", "/missing"),
        ("POST", "/echo"),
    ]
    assert any(line.startswith(f"GET {server.url}/health → 200 in ") for line in logs(messages))


def test_http_without_a_response_raises_http_failed(tmp_path, server):
    url = server.url
    server.close()
    outcome, _ = run(
        tmp_path,
        f"@step\ndef go(self, ctx):\n    ctx.http('GET', '{url}/', timeout=1)\n",
        http_allow=["127.0.0.1"],
    )
    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error.startswith(f"HttpFailed: GET {url}/ failed")


def test_a_dry_run_runs_no_command_and_sends_no_request(tmp_path, server):
    marker = tmp_path / "created"
    outcome, messages = run(
        tmp_path,
        f"""
        @step
        def go(self, ctx):
            result = ctx.run(["touch", {str(marker)!r}], env={{"TOKEN": ctx.secret("token")}})
            response = ctx.http("POST", "{server.url}/restart?token=abc123", body="now")
            return [ctx.dry_run, result.returncode, result.stdout, response.status]
        """,
        dry_run=True,
        secret_names=["token"],
        secrets={"token": SECRET},
    )
    assert outcome.status == "succeeded", outcome
    assert outcome.result == [True, 0, "", 0]
    assert not marker.exists()
    assert server.requests == []
    assert logs(messages) == [
        f"would run: touch {marker}",
        f"would POST {server.url}/restart?token={MASK}",
    ]


# -- ctx without a worker ----------------------------------------------------------------


def test_ctx_values_are_read_only_and_secrets_are_not_params():
    sent: list[dict[str, Any]] = []
    ctx = Context(
        step="go",
        send=sent.append,
        params={"service": "api"},
        secret_names=["token"],
        environ={"RUNBOOK_SECRET_TOKEN": SECRET},
    )
    assert ctx.secret("token") == SECRET
    with pytest.raises(AttributeError, match="read-only"):
        ctx.params.service = "worker"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ctx.params["service"] = "worker"  # type: ignore[index]
    with pytest.raises(
        AttributeError, match=r'secret parameter: read it with ctx.secret\("token"\)'
    ):
        _ = ctx.params.token
    with pytest.raises(KeyError, match="not a secret parameter"):
        ctx.secret("service")
    with pytest.raises(SecretInCommand):
        ctx.run(["echo", SECRET])
    assert sent == []


def test_a_worker_given_a_bad_request_reports_an_error():
    done = subprocess.run(
        [sys.executable, "-m", "bot.runbooks.worker"],
        input=b'{"path": 3}',
        capture_output=True,
        timeout=10,
    )
    assert done.returncode == 1
    message = json.loads(done.stdout)
    assert message["type"] == "error" and "'path'" in message["error"]

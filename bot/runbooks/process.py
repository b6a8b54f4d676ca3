"""Run runbook steps in a process of their own: the engine's side of the worker protocol.

`RunWorker` starts `python -m bot.runbooks.worker` in a new session (so a process
group of its own) for a run, sends it one request per step and relays what it
reports; `run_step` does the same for a single step. Whatever the
step does (hang, crash, eat memory, spawn commands that never end), the bot's
process only ever sees messages and an outcome: the step's whole process group
is killed on timeout or cancel, and whatever the step left running is killed
when it ends.

The worker gets the bot's environment without anything that looks secret
(tokens, passwords, keys, database URLs), and the run's secrets as
RUNBOOK_SECRET_<NAME>. Everything it reports is masked again as it is taken in
(`bot.runbooks.step_output`), with the run's secrets and the values kept out of
its environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from bot.config import SETTINGS
from bot.runbooks.context import SECRET_ENV_PREFIX, secret_env_name
from bot.runbooks.redaction import Redactor
from bot.runbooks.step_output import Collector

StepStatus = Literal["succeeded", "failed", "timed_out", "cancelled", "crashed"]

WORKER_MODULE = "bot.runbooks.worker"
POLL_SECONDS = 0.1
KILL_GRACE_SECONDS = 2.0
"""After SIGTERM, how long the step's process group has before SIGKILL."""
EXIT_GRACE_SECONDS = 2.0
"""After its result, how long the worker has to exit by itself."""
LINE_LIMIT = 4_000_000
"""The longest protocol line read in one piece (a result is at most about 1M characters)."""

_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding the `bot` package
_SECRET_ENV_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|PRIVATE|COOKIE|AUTH|API_?KEY|ACCESS_?KEY|"
    r"DATABASE_URL|DSN|(?:^|_)(?:KEY|PASS|PW)(?:_|$)",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(r"://[^\s/@:]*:([^\s/@]+)@")


@dataclass(frozen=True)
class StepFailure:
    """For an on_failure method: the step that failed for good, and its error."""

    step: str
    error: str


@dataclass(frozen=True)
class StepRequest:
    """What the worker runs: `method` of `class_name` in the file at `path`.

    `params` holds no secret (they go to `run_step(secrets=...)`); `secret_names`
    are the runbook's secret parameters, given or not. `failure` is set to call an
    on_failure method (a StepFailure or {"step": ..., "error": ...}). `memory_limit_mb`
    caps the address space of the step's process and of the commands it runs;
    `cpu_seconds` the CPU time of the step and of each command (`bot.runbooks.limits`;
    None: no limit; by default RUNBOOK_MEMORY_LIMIT_MB's and RUNBOOK_CPU_SECONDS's).
    `http_allow`: the internal hosts and networks ctx.http may reach (RUNBOOK_HTTP_ALLOW).
    """

    path: str | os.PathLike[str]
    class_name: str
    method: str
    params: Mapping[str, object] = field(default_factory=dict)
    secret_names: Sequence[str] = ()
    incident: Mapping[str, object] = field(default_factory=dict)
    outputs: Mapping[str, object] = field(default_factory=dict)
    dry_run: bool = False
    artifacts_dir: str | os.PathLike[str] = ""
    failure: StepFailure | Mapping[str, str] | None = None
    http_allow: Sequence[str] = ()
    memory_limit_mb: int | None = field(default_factory=lambda: _default("memory_limit_mb"))
    cpu_seconds: int | None = field(default_factory=lambda: _default("cpu_seconds"))

    def to_json(self, secret_names: Sequence[str] = ()) -> dict[str, Any]:
        """The request as the worker reads it (with `secret_names` added to the declared ones)."""
        return {
            "path": os.fspath(self.path),
            "class_name": self.class_name,
            "method": self.method,
            "params": dict(self.params),
            "secret_names": sorted({*self.secret_names, *secret_names}),
            "incident": dict(self.incident),
            "outputs": dict(self.outputs),
            "dry_run": self.dry_run,
            "artifacts_dir": os.fspath(self.artifacts_dir),
            "failure": _failure_json(self.failure),
            "http_allow": list(self.http_allow),
            "memory_limit_mb": self.memory_limit_mb,
            "cpu_seconds": self.cpu_seconds,
        }


def _default(limit: str) -> int | None:
    """The default of the setting RUNBOOK_<LIMIT>, read from its entry in SETTINGS."""
    setting = SETTINGS[f"runbook_{limit}"]
    value: int | None = setting.parse(setting.default)
    return value


def _failure_json(failure: StepFailure | Mapping[str, str] | None) -> dict[str, str] | None:
    if failure is None:
        return None
    if isinstance(failure, StepFailure):
        return {"step": failure.step, "error": failure.error}
    return {"step": str(failure["step"]), "error": str(failure["error"])}


@dataclass(frozen=True)
class StepOutcome:
    """How a step ended.

    `result`: the value returned (succeeded only). `error`: why it did not
    succeed. `output`: its log lines (and the worker's stderr, and the traceback
    of a failure), masked and capped. `duration` in seconds. `artifacts`: paths
    of the files it wrote with ctx.artifact. `traceback`: of a failure.
    """

    status: StepStatus
    result: object
    error: str | None
    output: str
    duration: float
    artifacts: list[str]
    traceback: str | None = None


def run_step(
    request: StepRequest,
    *,
    timeout: float | None,
    secrets: Mapping[str, str],
    cancel: threading.Event,
    on_message: Callable[[dict[str, Any]], None],
    python: str = sys.executable,
    output_cap: int = 64_000,
) -> StepOutcome:
    """Run one step in a worker process of its own and wait for it to end, one way or another.

    `on_message` is called, in this thread, with every message of the worker as
    it comes (`log`, `note`, `artifact`, then `result` or `error`), masked.
    `timeout` (seconds; None: no limit) and `cancel` are checked every 0.1 s; either
    kills the step's whole process group, as does the step's end for anything it
    left running. Never raises for anything the step does.
    """
    worker = RunWorker(secrets=secrets, python=python)
    try:
        return worker.step(
            request, timeout=timeout, cancel=cancel, on_message=on_message, output_cap=output_cap
        )
    finally:
        worker.close()


class RunWorker:
    """One worker process for the steps of one run, started when a step needs it.

    Steps run one after the other in it, so a step costs a message, not an
    interpreter start. The process keeps its own process group: a step that
    times out, is cancelled or crashes takes the whole group with it, and the
    next step gets a fresh process. `close()` ends it and anything it left running.
    """

    def __init__(self, *, secrets: Mapping[str, str], python: str = sys.executable) -> None:
        self.secrets = dict(secrets)
        self.python = python
        self.env, withheld = worker_environment(os.environ, self.secrets)
        self.redactor = Redactor(
            [
                *self.secrets.values(),
                *(value for value in withheld if len(value) >= 8 and not value.startswith("/")),
            ]
        )
        self._worker: subprocess.Popen[bytes] | None = None
        self._events: queue.Queue[tuple[str, bytes | None]] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def step(
        self,
        request: StepRequest,
        *,
        timeout: float | None,
        cancel: threading.Event,
        on_message: Callable[[dict[str, Any]], None],
        output_cap: int = 64_000,
    ) -> StepOutcome:
        """Run one step and wait for it to end, one way or another; never raises for the step."""
        started = time.monotonic()
        collector = Collector(self.redactor, output_cap, request.artifacts_dir, on_message)
        if cancel.is_set():
            return _outcome(collector, "cancelled", "cancelled before it started", started)
        line = json.dumps(request.to_json(list(self.secrets)), default=str) + "\n"
        try:
            worker = self._running()
            assert worker.stdin is not None
            worker.stdin.write(line.encode("utf-8"))
            worker.stdin.flush()
        except OSError as error:
            self.close()
            return _outcome(
                collector, "crashed", f"could not start the step's process: {error}", started
            )
        deadline = None if timeout is None else started + timeout
        ended: StepStatus | None = None
        returncode: int | None = None
        while collector.final is None:
            _deliver(self._events, collector, block=True)
            if collector.stdout_closed:
                break  # the process is gone
            if cancel.is_set():
                ended = "cancelled"
            elif deadline is not None and time.monotonic() >= deadline:
                ended = "timed_out"
            if ended is not None:
                break
        if collector.final is None:
            returncode = self._kill()
            _deliver(self._events, collector, block=False)
        if ended == "cancelled":
            return _outcome(collector, "cancelled", "cancelled", started)
        if ended == "timed_out":
            return _outcome(collector, "timed_out", f"timed out after {timeout:g}s", started)
        final = collector.final
        if final is not None and final["type"] == "result":
            return _outcome(collector, "succeeded", None, started, result=final.get("value"))
        if final is not None:
            return _outcome(collector, "failed", str(final.get("error") or "failed"), started)
        return _outcome(collector, "crashed", collector.crash_description(returncode), started)

    def _running(self) -> subprocess.Popen[bytes]:
        if self._worker is not None and self._worker.poll() is None:
            return self._worker
        self.close()
        worker = subprocess.Popen(
            [self.python, "-m", WORKER_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=self.env,
        )
        assert worker.stdout is not None and worker.stderr is not None
        self._events = queue.Queue()  # nothing of an earlier process mixes in
        self._threads = [
            threading.Thread(
                target=_read, args=(worker.stdout, "stdout", self._events), daemon=True
            ),
            threading.Thread(
                target=_read, args=(worker.stderr, "stderr", self._events), daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        self._worker = worker
        return worker

    def _kill(self) -> int | None:
        """End the process group now (SIGTERM, then SIGKILL); returns the exit code."""
        worker, self._worker = self._worker, None
        if worker is None:
            return None
        _end_group(worker, graceful=True)
        for thread in self._threads:
            thread.join(KILL_GRACE_SECONDS)
        return worker.returncode

    def close(self) -> None:
        """Let the process finish its last answer and go; whatever it left running goes too."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        with contextlib.suppress(OSError):
            assert worker.stdin is not None
            worker.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(EXIT_GRACE_SECONDS)
        _end_group(worker, graceful=False)
        for thread in self._threads:
            thread.join(KILL_GRACE_SECONDS)


def worker_environment(
    environ: Mapping[str, str], secrets: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The worker's environment, and the values kept out of it.

    Variables named like credentials, database URLs and values holding a password
    in a URL are left out (proxy variables are kept: requests need them, and their
    password is masked in output). The secrets are added as RUNBOOK_SECRET_<NAME>,
    and the folder holding `bot` is put first on PYTHONPATH.
    """
    env: dict[str, str] = {}
    withheld: list[str] = []
    for name, value in environ.items():
        in_url = _URL_PASSWORD.search(value)
        if name.lower().endswith("_proxy"):
            env[name] = value
            if in_url:
                withheld.append(in_url.group(1))
        elif name.startswith(SECRET_ENV_PREFIX) or _SECRET_ENV_NAME.search(name) or in_url:
            withheld.append(value)
        else:
            env[name] = value
    for name, value in secrets.items():
        env[secret_env_name(name)] = value
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_ROOT, env.get("PYTHONPATH")]))
    return env, withheld


def _outcome(
    collector: Collector,
    status: StepStatus,
    error: str | None,
    started: float,
    *,
    result: object = None,
) -> StepOutcome:
    """The step's outcome from what the collector kept; a failure's traceback ends its output."""
    tb = collector.failure_traceback() if status == "failed" else None
    return StepOutcome(
        status=status,
        result=result,
        error=error,
        output=collector.output.text(),
        duration=time.monotonic() - started,
        artifacts=list(collector.artifacts),
        traceback=tb,
    )


def _deliver(
    events: queue.Queue[tuple[str, bytes | None]], collector: Collector, *, block: bool
) -> None:
    """Hand what arrived to the collector: wait up to POLL_SECONDS for the first, if `block`."""
    try:
        stream, raw = events.get(timeout=POLL_SECONDS) if block else events.get_nowait()
    except queue.Empty:
        return
    collector.take(stream, raw)
    for _ in range(10_000):  # stay responsive to timeout and cancel under a flood
        try:
            stream, raw = events.get_nowait()
        except queue.Empty:
            return
        collector.take(stream, raw)


def _read(pipe: IO[bytes], stream: str, events: queue.Queue[tuple[str, bytes | None]]) -> None:
    try:
        while raw := pipe.readline(LINE_LIMIT):
            events.put((stream, raw))
    except (OSError, ValueError):
        pass
    finally:
        events.put((stream, None))


def _end_group(worker: subprocess.Popen[bytes], *, graceful: bool) -> None:
    """Kill the step's process group: SIGTERM and up to 2 s for the worker to go, then SIGKILL.

    Without `graceful` (the step reported; anything left is a stray) SIGKILL at once.
    """
    group = worker.pid
    if graceful:
        _signal_group(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(KILL_GRACE_SECONDS)
    _signal_group(group, signal.SIGKILL)
    worker.wait()


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)

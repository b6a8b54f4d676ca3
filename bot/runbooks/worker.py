"""The process a runbook's steps run in: `python -m bot.runbooks.worker`.

The engine (`bot.runbooks.process`) starts it in a process group of its own, one
per run, and writes one JSON object per line to its stdin, one line per step:

    {"path": str, "class_name": str, "method": str, "params": {...}, "secret_names": [...],
     "incident": {...}, "outputs": {...}, "dry_run": bool, "artifacts_dir": str,
     "failure": null | {"step": str, "error": str}, "http_allow": [str, ...],
     "memory_limit_mb": null | int, "cpu_seconds": null | int}

The worker applies the memory limit (of the first request), imports the runbook
file by path (once), makes an instance of the class (no arguments) for each step
and calls the method with `ctx` (an `on_failure` method with `ctx, failed_step,
error`), within the step's CPU time (`bot.runbooks.limits`). It answers with JSON
lines on stdout, each flushed at once:

    {"type": "log", "text": str}
    {"type": "note", "text": str}
    {"type": "artifact", "name": str, "path": str}
    {"type": "result", "value": <the returned value if JSON can hold it, else its repr>}
    {"type": "error", "error": "<ExcType>: <message>", "traceback": str}

exactly one `result` or `error` last for each step. The worker serves steps one
after the other until stdin closes, then exits (code 1 if any step failed).
Every message is masked with the run's secrets. The step cannot write on
the protocol: `print()` (sys.stdout and sys.stderr) becomes `log` lines, and so
does whatever reaches file descriptor 1 (commands started without `ctx.run`, C
code); the protocol goes out on a private duplicate of the original stdout.
File descriptor 2 is left to Python's fatal errors (a segfault's traceback).
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import importlib.util
import io
import json
import os
import signal
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from bot.runbooks.context import SECRET_ENV_PREFIX, Context, Message
from bot.runbooks.limits import cpu_budget, limit_memory, out_of_memory
from bot.runbooks.redaction import LineMasker, Redactor
from bot.runbooks.subprocess_io import CHUNK, LineSplitter

RESULT_LIMIT = 1_000_000
"""Characters of JSON kept of a step's return value; more is cut, with a note."""
CAPTURE_DRAIN_SECONDS = 0.5


class Protocol:
    """Masked JSON lines on a file descriptor of their own, one writer at a time."""

    def __init__(self, fd: int, redactor: Redactor) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self.redactor = redactor

    def send(self, message: Message) -> None:
        line = json.dumps(self.redactor.mask_value(message), ensure_ascii=False, default=repr)
        data = (line + "\n").encode("utf-8", errors="replace")
        with self._lock:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError:  # the engine is gone: nobody to report to
                os._exit(1)


class _LineSink(io.RawIOBase):
    """The raw end of the replacement sys.stdout / sys.stderr: bytes to log lines."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        super().__init__()
        self.splitter = LineSplitter(on_line)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.splitter.feed(chunk)
        return len(chunk)


class _FdCapture:
    """Points file descriptor `fd` at a pipe whose lines become log lines."""

    def __init__(self, fd: int, on_line: Callable[[str], None]) -> None:
        self._fd = fd
        read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        self._read_end = read_end
        self._splitter = LineSplitter(on_line)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while chunk := os.read(self._read_end, CHUNK):
                self._splitter.feed(chunk)
        except OSError:
            pass
        self._splitter.finish()

    def close(self) -> None:
        """Stop capturing; wait briefly for the last lines (a child may still hold the pipe)."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._fd)
        os.close(devnull)
        self._thread.join(CAPTURE_DRAIN_SECONDS)


PR_SET_PDEATHSIG = 1  # prctl option: the signal this process gets when its parent dies


def die_with_the_bot() -> None:
    """If the bot dies, end this step and every command it started (Linux only).

    The step runs in a process group of its own so that a time-out can kill it
    whole; the same must happen when the bot is killed, or a restarted bot could
    run an idempotent step again while the old one still runs.
    """
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(0, signal.SIGKILL))
    with contextlib.suppress(OSError, AttributeError):
        # The process's own symbols include the C library's prctl (Linux); elsewhere
        # there is no prctl and the attribute lookup fails quietly.
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main() -> int:
    """Serve step requests, one JSON line each, until the engine closes stdin."""
    die_with_the_bot()
    secrets = {key: value for key, value in os.environ.items() if key.startswith(SECRET_ENV_PREFIX)}
    for key in secrets:
        del os.environ[key]  # ctx.secret() has them; commands and libraries never see them
    protocol = Protocol(os.dup(1), Redactor(secrets.values()))
    requests = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    with contextlib.suppress(RuntimeError, ValueError, AttributeError):
        faulthandler.enable(file=2)  # a segfault's Python traceback, on stderr
    failures = 0
    memory_limited = False
    for raw in requests:
        if not raw.strip():
            continue
        try:
            request = read_request(raw)
            if not memory_limited:
                limit_memory(request.get("memory_limit_mb"))
                memory_limited = True
        except (ValueError, TypeError, OSError) as error:
            protocol.send(
                {"type": "error", "error": f"{type(error).__name__}: {error}", "traceback": ""}
            )
            failures += 1
            continue
        final = serve_step(request, protocol, secrets)
        protocol.send(final)
        failures += final["type"] != "result"
    return 1 if failures else 0


def serve_step(request: dict[str, Any], protocol: Protocol, secrets: Mapping[str, str]) -> Message:
    """Run one step with its output captured; returns its final message."""

    def log_line(masker: LineMasker) -> Callable[[str], None]:
        def send(line: str) -> None:
            shown = masker(line)
            if shown is not None:
                protocol.send({"type": "log", "text": shown})

        return send

    ctx = Context(
        step=request["method"],
        send=protocol.send,
        params=request["params"],
        secret_names=request["secret_names"],
        incident=request["incident"],
        outputs=request["outputs"],
        dry_run=request["dry_run"],
        artifacts_dir=request["artifacts_dir"] or None,
        environ=secrets,
        http_allow=request["http_allow"],
    )
    redactor = protocol.redactor
    capture = _FdCapture(1, log_line(redactor.line_masker()))
    sinks = [_LineSink(log_line(redactor.line_masker())) for _ in range(2)]
    streams = [
        io.TextIOWrapper(
            io.BufferedWriter(sink), encoding="utf-8", errors="replace", line_buffering=True
        )
        for sink in sinks
    ]
    real_stdout, real_stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = streams
    final: Message
    try:
        with cpu_budget(request["cpu_seconds"]):
            value = call(request, ctx)
    except BaseException as error:  # SystemExit and KeyboardInterrupt included: the step failed
        limit = request["memory_limit_mb"]
        error_text = describe(error)
        if isinstance(error, MemoryError) and limit is not None:
            error_text = out_of_memory(limit)
        final = {"type": "error", "error": error_text, "traceback": step_traceback(error)}
    else:
        final = {"type": "result", "value": json_safe(value, ctx)}
    finally:
        for stream, sink in zip(streams, sinks, strict=True):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
            sink.splitter.finish()
        sys.stdout, sys.stderr = real_stdout, real_stderr
        capture.close()
    return final


def read_request(raw: bytes) -> dict[str, Any]:
    """The request, checked, with defaults for the optional fields."""
    request = json.loads(raw.decode("utf-8"))
    if not isinstance(request, dict):
        raise ValueError("the request must be a JSON object")
    for key in ("path", "class_name", "method"):
        if not isinstance(request.get(key), str) or not request[key]:
            raise ValueError(f"the request needs {key!r} (a string)")
    defaults: dict[str, Any] = {
        "params": {},
        "secret_names": [],
        "incident": {},
        "outputs": {},
        "dry_run": False,
        "artifacts_dir": "",
        "failure": None,
        "http_allow": [],
        "memory_limit_mb": None,
        "cpu_seconds": None,
    }
    for key, default in defaults.items():
        if request.get(key) is None:
            request[key] = default
        elif type(request[key]) is not type(default) and default is not None:
            raise ValueError(f"{key!r} must be {type(default).__name__} in the request")
    failure = request["failure"]
    if failure is not None and not (
        isinstance(failure, dict)
        and isinstance(failure.get("step"), str)
        and isinstance(failure.get("error"), str)
    ):
        raise ValueError('\'failure\' must be null or {"step": str, "error": str}')
    for key in ("memory_limit_mb", "cpu_seconds"):
        limit = request[key]
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            raise ValueError(f"{key!r} must be null or a positive whole number")
    return request


def call(request: dict[str, Any], ctx: Context) -> object:
    """Import the runbook file, make the class, call the method."""
    path = str(Path(request["path"]).resolve())
    module = load_file(path)
    cls = getattr(module, request["class_name"], None)
    if not isinstance(cls, type):
        raise LookupError(f"{path} has no class {request['class_name']}")
    method = getattr(cls(), request["method"], None)
    if not callable(method):
        raise LookupError(f"class {request['class_name']} has no method {request['method']}")
    failure = request["failure"]
    if failure is not None:
        return method(ctx, failure["step"], failure["error"])
    return method(ctx)


_LOADED: dict[str, ModuleType] = {}


def load_file(path: str) -> ModuleType:
    """Import a runbook file (once per worker) under a name of its own.

    Its folder goes on sys.path, so it can import helpers such as `_helpers.py`.
    """
    if path in _LOADED:
        return _LOADED[path]
    name = f"bot_runbook_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}: not a Python file")
    folder = str(Path(path).parent)
    if folder not in sys.path:
        sys.path.append(folder)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    _LOADED[path] = module
    return module


def describe(error: BaseException) -> str:
    """`ValueError: bad replicas`; the type alone when there is no message."""
    try:
        message = str(error)
    except Exception:
        message = ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def step_traceback(error: BaseException) -> str:
    """The traceback without the worker's own frames and the import machinery's."""
    tb = error.__traceback__
    while tb is not None and (
        tb.tb_frame.f_code.co_filename == __file__
        or tb.tb_frame.f_code.co_filename.startswith("<frozen importlib")
    ):
        tb = tb.tb_next
    try:
        if isinstance(error, SyntaxError):
            return "".join(traceback.format_exception_only(error))
        return "".join(traceback.format_exception(type(error), error, tb))
    except Exception:
        return describe(error)


def json_safe(value: object, ctx: Context) -> object:
    """`value` if JSON can hold it, else its repr; cut to RESULT_LIMIT characters of JSON."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        try:
            value = repr(value)
        except Exception:
            value = f"<{type(value).__name__} object>"
        text = json.dumps(value, ensure_ascii=False)
    if len(text) <= RESULT_LIMIT:
        return value
    ctx.log(
        f"the value returned is {len(text)} characters of JSON; only the first {RESULT_LIMIT} "
        "are kept, as text (write big results with ctx.artifact)"
    )
    shown = value if isinstance(value, str) else text
    return f"{shown[:RESULT_LIMIT]}[… {len(shown) - RESULT_LIMIT} more characters not kept]"


if __name__ == "__main__":
    raise SystemExit(main())

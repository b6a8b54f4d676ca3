"""`ctx`: what a runbook step gets to work with, inside its worker process.

    @step(timeout="2m")
    def restart(self, ctx):
        ctx.log(f"restarting {ctx.params.service}")
        if ctx.dry_run: ...
        token = ctx.secret("token")
        ctx.run(["kubectl", "rollout", "restart", f"deploy/{ctx.params.service}"],
                env={"KUBE_TOKEN": token}, timeout="90s")
        health = ctx.http("GET", "https://api.internal/health")
        ctx.note(f"restarted {ctx.params.service}: health {health.status}")
        return {"status": health.status}    # ctx.outputs["restart"] in later steps

Everything a step shows (log lines, notes, command output, errors, the value it
returns) is masked by a `Redactor` built from the run's secret values before it
leaves the worker. Secret parameters are not in `ctx.params`: `ctx.secret(name)`
reads them. In a dry run, `ctx.run` and `ctx.http` only say what they would do.

The whole `ctx` API, with the results it returns and the errors it raises, stays
in this one module, past the usual 400 lines, so that a runbook's author reads it
in one place. How a command is run is `bot.runbooks.subprocess_io`; where a request
may go, `bot.runbooks.http_guard`.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.runbooks.artifacts import write_artifact
from bot.runbooks.redaction import LineMasker, Redactor
from bot.runbooks.spec import parse_duration
from bot.runbooks.subprocess_io import Command, exit_description

SECRET_ENV_PREFIX = "RUNBOOK_SECRET_"
"""A secret parameter `token` reaches the worker as the variable RUNBOOK_SECRET_TOKEN."""

Message = dict[str, Any]
Send = Callable[[Message], None]

KEPT_HTTP_BODY = 10_000_000
"""Bytes of an HTTP response body read into HttpResult.text."""
STDERR_TAIL_LINES = 10


def secret_env_name(name: str) -> str:
    """`RUNBOOK_SECRET_TOKEN` for the secret parameter `token`."""
    return SECRET_ENV_PREFIX + name.upper()


# -- results and errors ------------------------------------------------------------


@dataclass(frozen=True)
class CommandResult:
    """What a command did: its exit code (negative: killed by that signal) and its output."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandFailed(Exception):
    """A command exited with a non-zero code (`check=True`), could not start, or timed out."""

    def __init__(
        self, argv: Sequence[str], returncode: int, stderr: str = "", *, reason: str = ""
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        self.stderr_tail = "\n".join(stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:])
        reason = reason or exit_description(returncode)
        message = f"`{shlex.join(self.argv)}` {reason}"
        if self.stderr_tail:
            message += f":\n{self.stderr_tail}"
        super().__init__(message)


class CommandTimedOut(CommandFailed):
    """A command ran past its timeout and was killed (raised whatever `check` says)."""


class HttpFailed(Exception):
    """An HTTP request got no response: the connection failed or timed out."""


class HttpRefused(Exception):
    """An HTTP request was not sent: its URL, or a redirect, leads where runbooks may not go."""


class SecretInCommand(ValueError):
    """A secret value was written into a command line, where anyone on the host can read it."""


@dataclass(frozen=True)
class HttpResult:
    """A response of any status (0 in a dry run), its headers, body text and time taken."""

    status: int
    headers: dict[str, str]
    text: str
    elapsed_ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 400

    def json(self) -> Any:
        return json.loads(self.text)


# -- read-only values --------------------------------------------------------------


class Values(Mapping[str, Any]):
    """Read-only values by item (`ctx.params["service"]`) and attribute (`ctx.params.service`)."""

    __slots__ = ("_data", "_hidden", "_what")
    _data: dict[str, Any]
    _hidden: dict[str, str]
    _what: str

    def __init__(
        self, data: Mapping[str, Any], what: str, hidden: Mapping[str, str] | None = None
    ) -> None:
        object.__setattr__(self, "_data", dict(data))
        object.__setattr__(self, "_what", what)
        object.__setattr__(self, "_hidden", dict(hidden or {}))

    def __getitem__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            raise KeyError(self._missing(key)) from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(self._missing(name)) from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self._what} are read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self._what} are read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def _missing(self, key: str) -> str:
        if key in self._hidden:
            return self._hidden[key]
        known = ", ".join(sorted(self._data)) or "none"
        return f"{key!r} is not among the {self._what} (known: {known})"


# -- the context -------------------------------------------------------------------


class Context:
    """The `ctx` argument of a step: its inputs, and the ways it reports and acts.

    `send` delivers a protocol message (`log`, `note`, `artifact`) to the engine;
    the worker masks every message it sends. Secret values are read once, from
    `environ` (RUNBOOK_SECRET_<NAME>), when the context is made. `http_allow` lists
    the internal hosts and networks `ctx.http` may reach (the RUNBOOK_HTTP_ALLOW setting).
    """

    def __init__(
        self,
        *,
        step: str,
        send: Send,
        params: Mapping[str, Any] | None = None,
        secret_names: Sequence[str] = (),
        incident: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = None,
        dry_run: bool = False,
        artifacts_dir: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        http_allow: Sequence[str] = (),
    ) -> None:
        environ = os.environ if environ is None else environ
        self._http_allow = tuple(http_allow)
        self._step = step
        self._send = send
        self._dry_run = bool(dry_run)
        self._artifacts_dir = Path(artifacts_dir) if artifacts_dir else None
        self._secrets: dict[str, str | None] = {
            name: environ.get(secret_env_name(name)) for name in secret_names
        }
        hint = 'is a secret parameter: read it with ctx.secret("{}")'
        self._params = Values(
            {key: value for key, value in (params or {}).items() if key not in self._secrets},
            "params",
            hidden={name: f"`{name}` {hint.format(name)}" for name in secret_names},
        )
        self._incident = Values(incident or {}, "incident fields")
        self._outputs = Values(outputs or {}, "outputs")
        self.redactor = Redactor(value for value in self._secrets.values() if value)

    @property
    def step(self) -> str:
        """The name of the method running (the step, or the on_failure method)."""
        return self._step

    @property
    def dry_run(self) -> bool:
        return self._dry_run

    @property
    def params(self) -> Values:
        """The parameters, except secret ones: `ctx.params.service`, `ctx.params["service"]`."""
        return self._params

    @property
    def incident(self) -> Values:
        """The incident: reference, title, severity, service, status, channel."""
        return self._incident

    @property
    def outputs(self) -> Values:
        """What each earlier step returned, by step name."""
        return self._outputs

    def secret(self, name: str) -> str | None:
        """The value of the secret parameter `name` (None when it was optional and not given)."""
        if name not in self._secrets:
            declared = ", ".join(sorted(self._secrets)) or "none"
            raise KeyError(
                f"{name!r} is not a secret parameter of this runbook (secrets: {declared})"
            )
        return self._secrets[name]

    # -- reporting ---------------------------------------------------------------------

    def log(self, text: object) -> None:
        """A line of output, shown as the step runs."""
        self._send({"type": "log", "text": str(text)})

    def note(self, text: object) -> None:
        """Ask for a note on the incident timeline."""
        self._send({"type": "note", "text": str(text)})

    def artifact(self, name: str, content: str | bytes) -> str:
        """Write a file into the run's artifacts folder; return its path.

        The name is reduced to a plain file name (letters, digits, `.`, `_`, `-`);
        an existing file is never overwritten (`report-2.txt`). Text is masked
        like any output; bytes that are UTF-8 text too.
        """
        if self._artifacts_dir is None:
            raise RuntimeError("this run has no artifacts folder")
        if isinstance(content, str):
            data = self.redactor.mask(content).encode("utf-8")
        elif isinstance(content, bytes | bytearray):
            data = _masked_bytes(self.redactor, bytes(content))
        else:
            raise TypeError(f"artifact content must be str or bytes, not {type(content).__name__}")
        path = write_artifact(self._artifacts_dir, name, data)
        self._send({"type": "artifact", "name": path.name, "path": str(path.resolve())})
        return str(path.resolve())

    # -- commands ----------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | str = 60,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> CommandResult:
        """Run a command (a list of words: no shell), streaming its output into the log.

        `env` is added to the inherited environment (which holds no secret). It is
        killed after `timeout` (seconds, or "90s", "2m"), raising CommandTimedOut;
        with `check`, a non-zero exit raises CommandFailed. Secrets must go in `env`:
        a command line holding a secret value is refused.
        """
        words = self._argv(argv)
        seconds = parse_duration(timeout)
        for key, value in (env or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"env values must be strings: {key!r} is {type(value).__name__}")
        shown = shlex.join(words)
        if self._dry_run:
            self.log(f"would run: {shown}")
            return CommandResult(0, "", "")
        self.log(f"$ {shown}")
        child_env = {
            key: value for key, value in os.environ.items() if not key.startswith(SECRET_ENV_PREFIX)
        }
        child_env.update(env or {})
        try:
            command = Command(
                words,
                env=child_env,
                cwd=cwd,
                input=input,
                on_stdout=self._log_line(self.redactor.line_masker()),
                on_stderr=self._log_line(self.redactor.line_masker()),
            )
        except FileNotFoundError:
            raise CommandFailed(words, 127, reason="cannot run: command not found") from None
        except PermissionError:
            raise CommandFailed(words, 126, reason="cannot run: permission denied") from None
        except OSError as error:
            raise CommandFailed(
                words, 126, reason=f"cannot run: {error.strerror or error}"
            ) from None
        if not command.wait(seconds):
            raise CommandTimedOut(
                words,
                command.returncode,
                command.stderr(),
                reason=f"timed out after {seconds:g}s and was killed",
            )
        result = CommandResult(command.returncode, command.stdout(), command.stderr())
        if check and result.returncode != 0:
            raise CommandFailed(words, result.returncode, result.stderr)
        return result

    def _argv(self, argv: Sequence[str]) -> list[str]:
        if isinstance(argv, str | bytes):
            raise TypeError(
                "ctx.run takes the command as a list of words, not a string: there is no "
                f"shell. Write ctx.run({shlex.split(argv)!r}) instead"
                if isinstance(argv, str)
                else "ctx.run takes the command as a list of strings"
            )
        words: list[str] = []
        for index, word in enumerate(argv):
            if isinstance(word, os.PathLike):
                word = os.fspath(word)
            if not isinstance(word, str):
                raise TypeError(
                    f"every word of a command must be a string; word {index} is "
                    f"{type(word).__name__} (write str(...) around it)"
                )
            if self.redactor.has_secret(word):
                raise SecretInCommand(
                    f"word {index} of the command holds a secret value, and command lines can be "
                    "read by anyone on the host. Pass the secret in env= instead, e.g. "
                    'ctx.run([...], env={"TOKEN": ctx.secret("token")})'
                )
            words.append(word)
        if not words:
            raise ValueError("ctx.run needs a command: the list of words is empty")
        return words

    def _log_line(self, masker: LineMasker) -> Callable[[str], None]:
        def log(line: str) -> None:
            shown = masker(line)
            if shown is not None:
                self.log(shown)

        return log

    # -- HTTP --------------------------------------------------------------------------

    def http(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: str | bytes | Mapping[str, Any] | list[Any] | None = None,
        timeout: float = 10,
    ) -> HttpResult:
        """Make an HTTP request; any status is returned, not raised.

        A dict or list body is sent as JSON. Redirects are followed (5 at most).
        Raises HttpFailed when no response comes (connection refused, DNS, timeout),
        and HttpRefused, before connecting, for a URL (or a redirect) that is not
        http or https or leads to a loopback, private, link-local or cloud metadata
        address, unless the RUNBOOK_HTTP_ALLOW setting lists its host or network.
        """
        verb = method.strip().upper()
        if not verb.isalpha():
            raise ValueError(f"{method!r} is not an HTTP method")
        if not url.lower().startswith(("http://", "https://")):
            raise HttpRefused(
                f"{verb} {url} refused: only http:// and https:// URLs can be requested"
            )
        if self._dry_run:
            self.log(f"would {verb} {url}")
            return HttpResult(0, {}, "", 0.0)
        # Imported here: most steps never make a request, and every step starts a process.
        from http.client import HTTPException

        from bot.runbooks import http_guard

        sent_headers = dict(headers or {})
        data: bytes | None
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = json.dumps(body).encode("utf-8")
            if not any(key.lower() == "content-type" for key in sent_headers):
                sent_headers["Content-Type"] = "application/json"
        started = time.monotonic()
        try:
            response = http_guard.request(
                verb,
                url,
                headers=sent_headers,
                body=data,
                timeout=timeout,
                allow=http_guard.AllowList.parse(self._http_allow),
                read_limit=KEPT_HTTP_BODY + 1,
            )
        except http_guard.Refused as refused:
            raise HttpRefused(f"{verb} {url} refused: {refused}") from None
        except (OSError, HTTPException, ValueError) as error:
            raise HttpFailed(f"{verb} {url} failed: {error or type(error).__name__}") from None
        elapsed_ms = (time.monotonic() - started) * 1000
        raw = response.body
        text = _decode(raw[:KEPT_HTTP_BODY], response.charset or "utf-8")
        if len(raw) > KEPT_HTTP_BODY:
            self.log(f"{verb} {url}: only the first {KEPT_HTTP_BODY} bytes of the body are kept")
        self.log(f"{verb} {url} → {response.status} in {elapsed_ms:.0f} ms")
        return HttpResult(response.status, _headers(response.headers), text, elapsed_ms)


# -- helpers -----------------------------------------------------------------------


def _masked_bytes(redactor: Redactor, data: bytes) -> bytes:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return redactor.mask(text).encode("utf-8")


def _headers(items: Sequence[tuple[str, str]] | Any) -> dict[str, str]:
    received: dict[str, str] = {}
    for key, value in items:
        received[key] = f"{received[key]}, {value}" if key in received else value
    return received


def _decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


__all__ = [
    "CommandFailed",
    "CommandResult",
    "CommandTimedOut",
    "Context",
    "HttpFailed",
    "HttpRefused",
    "HttpResult",
    "SecretInCommand",
    "Values",
]

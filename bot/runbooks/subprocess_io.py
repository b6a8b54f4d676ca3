"""The plumbing under `ctx.run`: a command's pipes, its input, its stop, its exit.

Apart from `bot.runbooks.context` so that the `ctx` API reads as what a step may
do, not how a child process is handled. Each pipe is read in a thread of its own,
so output reaches the log as it comes and a full pipe never blocks the command.
The worker splits its own captured output into lines with `LineSplitter` too.
"""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO

CHUNK = 65_536
"""Bytes read at a time from a command; also the longest line kept in one piece."""
KEPT_COMMAND_OUTPUT = 16_000_000
"""Characters of a command's stdout (and of its stderr) kept for its CommandResult."""
KILL_GRACE_SECONDS = 1.0
"""How long a command has after SIGTERM before SIGKILL, and its pipes after it exits."""


class LineSplitter:
    """Turns a byte stream into lines of text (UTF-8, undecodable bytes replaced).

    A line longer than CHUNK characters is passed on in pieces; `finish` passes on
    what is left after the last newline.
    """

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self._on_line = on_line
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self.kept: list[str] = []
        self.kept_length = 0
        self.keep = False

    def feed(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if self.keep and self.kept_length < KEPT_COMMAND_OUTPUT:
            self.kept.append(text)
            self.kept_length += len(text)
        self._split(self._pending + text)

    def finish(self) -> None:
        text = self._decoder.decode(b"", final=True)
        if self.keep and text:
            self.kept.append(text)
        rest = self._pending + text
        self._pending = ""
        if rest:
            self._on_line(rest.removesuffix("\r"))

    def _split(self, text: str) -> None:
        *lines, rest = text.split("\n")
        for line in lines:
            self._on_line(line.removesuffix("\r"))
        while len(rest) > CHUNK:
            self._on_line(rest[:CHUNK])
            rest = rest[CHUNK:]
        self._pending = rest


class Command:
    """A started command: each line of its stdout and stderr passed on as it comes, all kept.

    Starting raises OSError (FileNotFoundError, PermissionError, ...) when the
    command cannot run. `input`, when given, is written to its stdin in a thread.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | os.PathLike[str] | None,
        input: str | None,
        on_stdout: Callable[[str], None],
        on_stderr: Callable[[str], None],
    ) -> None:
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        self._stdout = _PipeReader(self._process.stdout, on_stdout)
        self._stderr = _PipeReader(self._process.stderr, on_stderr)
        if input is not None:
            assert self._process.stdin is not None
            threading.Thread(
                target=_feed, args=(self._process.stdin, input.encode("utf-8")), daemon=True
            ).start()

    def wait(self, seconds: float) -> bool:
        """Wait for the command to exit; False when it ran past `seconds` and was stopped.

        Anything raised while waiting stops the command too. A grandchild still
        holding the pipes must not hold up the step: the pipes get a little while.
        """
        try:
            self._process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            _stop(self._process)
            self._join_readers()
            return False
        except BaseException:
            _stop(self._process)
            raise
        self._join_readers()
        return True

    @property
    def returncode(self) -> int:
        """The exit code, once it has exited (negative: killed by that signal)."""
        return self._process.returncode

    def stdout(self) -> str:
        return self._stdout.text()

    def stderr(self) -> str:
        return self._stderr.text()

    def _join_readers(self) -> None:
        deadline = time.monotonic() + KILL_GRACE_SECONDS
        for reader in (self._stdout, self._stderr):
            reader.join(max(0.0, deadline - time.monotonic()))


class _PipeReader:
    """Reads one pipe of a command in a thread: lines to `on_line`, all text kept."""

    def __init__(self, pipe: IO[bytes], on_line: Callable[[str], None]) -> None:
        self._pipe = pipe
        self._splitter = LineSplitter(on_line)
        self._splitter.keep = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        read = getattr(self._pipe, "read1", self._pipe.read)
        try:
            while chunk := read(CHUNK):
                self._splitter.feed(chunk)
        except (OSError, ValueError):
            pass
        finally:
            self._splitter.finish()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def text(self) -> str:
        return "".join(self._splitter.kept)


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        with pipe:
            pipe.write(data)
    except OSError:  # the command exited without reading all of it
        pass


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill, a command."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def exit_description(returncode: int) -> str:
    """`exited with code 3`, or `was killed by signal SIGKILL` for a negative code."""
    if returncode < 0:
        return f"was killed by signal {signal_name(-returncode)}"
    return f"exited with code {returncode}"


def signal_name(number: int) -> str:
    """`SIGKILL` for 9; the number for an unknown signal."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)

"""What a step's worker says, as the engine takes it in: relayed, masked, kept within a cap.

`bot.runbooks.process` runs the worker and hands each line it reads here: protocol
messages from stdout, anything else from stderr. What is kept (the capped output,
the artifacts, the final `result` or `error`) is what the step's outcome is made of.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.runbooks.redaction import LineMasker, Redactor
from bot.runbooks.subprocess_io import exit_description

MESSAGE_TYPES = ("log", "note", "artifact", "result", "error")


class Collector:
    """Takes in what the worker says: relays it, keeps the capped output and the result."""

    def __init__(
        self,
        redactor: Redactor,
        output_cap: int,
        artifacts_dir: str | os.PathLike[str],
        on_message: Callable[[dict[str, Any]], None],
    ) -> None:
        self.redactor = redactor
        self.output = _CappedText(output_cap)
        self.artifacts_dir = Path(artifacts_dir).resolve() if os.fspath(artifacts_dir) else None
        self.on_message = on_message
        self.final: dict[str, Any] | None = None
        self.artifacts: list[str] = []
        self.stdout_closed = False
        self.fatal_line = ""
        self._stderr_masker: LineMasker = redactor.line_masker()

    def take(self, stream: str, raw: bytes | None) -> None:
        if raw is None:
            self.stdout_closed = self.stdout_closed or stream == "stdout"
            return
        text = raw.decode("utf-8", errors="replace").removesuffix("\n").removesuffix("\r")
        if stream == "stderr":
            if text.startswith("Fatal Python error") and not self.fatal_line:
                self.fatal_line = self.redactor.mask(text)[:300]
            shown = self._stderr_masker(text)
            if shown is not None:
                self.log(shown, stream="stderr")
            return
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
            self.log(self.redactor.mask(text))
            return
        kind = message["type"]
        if kind in ("log", "note"):
            shown = self.redactor.mask(str(message.get("text", "")))
            if kind == "log":
                self.log(shown)
            else:
                self.on_message({"type": "note", "text": shown})
        elif kind == "artifact":
            self.artifact(message)
        elif self.final is None:
            masked = self.redactor.mask_value(message)
            assert isinstance(masked, dict)
            self.final = masked
            self.on_message(masked)

    def log(self, text: str, *, stream: str | None = None) -> None:
        self.output.add(text)
        self.on_message({"type": "log", "text": text, **({"stream": stream} if stream else {})})

    def artifact(self, message: dict[str, Any]) -> None:
        path = Path(str(message.get("path", ""))).resolve()
        if self.artifacts_dir is None or not path.is_relative_to(self.artifacts_dir):
            self.log(f"an artifact outside the run's artifacts folder is ignored: {path}")
            return
        self.artifacts.append(str(path))
        self.on_message(
            {"type": "artifact", "name": self.redactor.mask(path.name), "path": str(path)}
        )

    def crash_description(self, returncode: int | None) -> str:
        how = "did not exit" if returncode is None else exit_description(returncode)
        text = f"the step's process {how} without reporting a result"
        return f"{text} ({self.fatal_line})" if self.fatal_line else text

    def failure_traceback(self) -> str | None:
        """The traceback the worker reported with its error, added to the output too."""
        if self.final is None:
            return None
        tb = str(self.final.get("traceback") or "") or None
        if tb:
            self.output.add(tb.rstrip("\n"))
        return tb


class _CappedText:
    """Lines of text, at most `cap` characters kept: the start and the end, with a note between."""

    def __init__(self, cap: int) -> None:
        self.cap = max(0, cap)
        self.head_cap = self.cap // 2
        self.head: list[str] = []
        self.head_length = 0
        self.tail: deque[str] = deque()
        self.tail_length = 0
        self.dropped = 0

    def add(self, line: str) -> None:
        text = line + "\n"
        if self.head_length < self.head_cap:
            taken = text[: self.head_cap - self.head_length]
            self.head.append(taken)
            self.head_length += len(taken)
            text = text[len(taken) :]
            if not text:
                return
        self.tail.append(text)
        self.tail_length += len(text)
        room = self.cap - self.head_length
        while self.tail_length > room:
            first = self.tail[0]
            excess = self.tail_length - room
            if len(first) <= excess:
                self.tail.popleft()
                self.tail_length -= len(first)
                self.dropped += len(first)
            else:
                self.tail[0] = first[excess:]
                self.tail_length -= excess
                self.dropped += excess

    def text(self) -> str:
        head, tail = "".join(self.head), "".join(self.tail)
        if not self.dropped:
            return (head + tail).removesuffix("\n")
        note = f"[… {self.dropped} more characters not kept]"
        return f"{head.removesuffix(chr(10))}\n{note}\n{tail.removesuffix(chr(10))}"

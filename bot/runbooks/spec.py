"""What a runbook declares, as validated plain data: the output of discovery.

Every value here was read from the file without running it, and checked: a
`RunbookSpec` only exists for a runbook whose metadata had no problem.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ParamType = Literal["str", "int", "float", "bool", "path"]
TriggerMode = Literal["start", "offer"]

PARAM_TYPES: tuple[ParamType, ...] = ("str", "int", "float", "bool", "path")
TRIGGER_MODES: tuple[TriggerMode, ...] = ("start", "offer")
FOLDER_SETTINGS = ("RUNBOOK_LOG_DIRS",)
"""Settings a Path parameter's `inside=` may name: the folders its files must be in."""
LIST_SETTINGS = ("RUNBOOK_SYSTEMD_UNITS",)
"""Settings a parameter's `listed_in=` may name: the values it may take (`*` wildcards)."""

_DURATION = re.compile(
    r"(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?"
)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(value: str | int | float) -> float:
    """Seconds in `value`: `"30s"`, `"10m"`, `"2h"`, `"1h30m"`, or a plain number of seconds.

    Raises ValueError for anything else, including negative numbers and booleans.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"{value!r} is not a duration")
        return float(value)
    text = value.strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        match = _DURATION.fullmatch(text)
        if not text or match is None:
            raise ValueError(f"{value!r} is not a duration such as 30s, 10m, 2h or 1h30m") from None
        return sum(
            float(amount) * _UNIT_SECONDS[unit]
            for unit, amount in match.groupdict().items()
            if amount is not None
        )
    return parse_duration(seconds)


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: `key=value` when the runbook is started.

    `default` is None when there is none; an optional parameter without a default
    is None when not given. `choices` empty means any value of the type. `pattern`:
    a regular expression the whole value must match. `listed_in`: a setting
    (LIST_SETTINGS) whose entries the value must match. A path parameter names
    files inside the folders of the setting `inside` (FOLDER_SETTINGS); with `many`,
    several, separated by commas.
    """

    name: str
    type: ParamType
    default: object = None
    required: bool = True
    choices: tuple[object, ...] = ()
    min: float | None = None
    max: float | None = None
    secret: bool = False
    help: str = ""
    pattern: str | None = None
    listed_in: str | None = None
    inside: str | None = None
    many: bool = False

    def hint(self) -> str:
        """`api|worker`, `<int, at least 1, default 3>`: what to type for this parameter."""
        if self.choices:
            shown = "|".join(_shown(choice) for choice in self.choices)
            return shown if self.default is None else f"<{shown}, default {_shown(self.default)}>"
        if self.type == "path":
            what = "paths, comma-separated," if self.many else "path"
            return f"<{what} in {self.inside}>"
        details: list[str] = [self.type]
        if self.listed_in is not None:
            details.append(f"listed in {self.listed_in}")
        if self.min is not None and self.max is not None:
            details.append(f"{_shown(self.min)} to {_shown(self.max)}")
        elif self.min is not None:
            details.append(f"at least {_shown(self.min)}")
        elif self.max is not None:
            details.append(f"at most {_shown(self.max)}")
        if self.default is not None:
            details.append(f"default {_shown(self.default)}")
        if self.secret:
            details.append("secret")
        return f"<{', '.join(details)}>"

    def describe(self) -> str:
        """`replicas: int = 3`, `token: str (optional, secret)`: one line for listings."""
        text = f"{self.name}: {self.type}"
        if self.choices:
            text += f" ({'|'.join(_shown(choice) for choice in self.choices)})"
        if self.default is not None:
            text += f" = {_shown(self.default)}"
        notes = [
            note
            for note, applies in (
                ("optional", not self.required and self.default is None),
                ("secret", self.secret),
                (f"listed in {self.listed_in}", self.listed_in is not None),
                (f"in {self.inside}", self.inside is not None),
                ("several, comma-separated", self.many),
            )
            if applies
        ]
        return text + (f" ({', '.join(notes)})" if notes else "")


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class ApprovalSpec:
    """Someone holding one of `roles` must approve the step within `ttl_seconds`."""

    roles: tuple[str, ...]
    not_requester: bool = True
    ttl_seconds: int = 900


@dataclass(frozen=True)
class RetrySpec:
    """Run a failing step up to `attempts` times, waiting `delay * backoff**n` between."""

    attempts: int = 3
    delay_seconds: float = 5.0
    backoff: float = 1.0


@dataclass(frozen=True)
class TriggerSpec:
    """Declaring a matching incident starts the runbook or offers it (empty tuple = any)."""

    severities: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    mode: TriggerMode = "offer"

    def describe(self) -> str:
        """`start on SEV1/SEV2 for api`: one line for listings."""
        severities = "/".join(self.severities) or "any severity"
        services = "/".join(self.services) or "any service"
        return f"{self.mode} on {severities} for {services}"


@dataclass(frozen=True)
class StepSpec:
    """One step: a method of the runbook class, in source order."""

    name: str
    line: int
    timeout_seconds: float | None = None
    approval: ApprovalSpec | None = None
    retry: RetrySpec | None = None
    manual: bool = False
    prompt: str = ""
    idempotent: bool = False
    when: str | None = None
    description: str = ""


@dataclass(frozen=True)
class RunbookSpec:
    """A whole runbook as declared in its file, checked."""

    name: str
    summary: str
    path: Path
    line: int
    class_name: str
    params: tuple[ParamSpec, ...]
    triggers: tuple[TriggerSpec, ...]
    allowed: tuple[str, ...]
    timeout_seconds: float
    steps: tuple[StepSpec, ...]
    on_failure: str | None = None
    description: str = ""

    def param(self, name: str) -> ParamSpec | None:
        return next((param for param in self.params if param.name == name), None)

    def usage(self) -> str:
        """`runbook run restart-api service=api|worker [replicas=<int, default 3>]`."""
        words = [f"runbook run {self.name}"]
        for param in self.params:
            word = f"{param.name}={param.hint()}"
            words.append(word if param.required else f"[{word}]")
        return " ".join(words)


@dataclass(frozen=True)
class Problem:
    """Something wrong in a runbook file, at a line (0: the file or folder as a whole)."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        if self.line <= 0:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"

"""What runbook files import: the decorators and option records that declare a runbook.

    from bot.runbooks.sdk import Approval, Param, Retry, on_declare, on_failure, runbook, step

At run time these only attach the metadata, unchanged, to the class and its
methods (`__runbook__`, `__step__`, `__on_failure__`); they check nothing and
import nothing heavy. The bot never relies on them to learn a runbook's metadata:
discovery reads the same calls from the file with `ast`, so every argument must be
a plain value written out in the file (strings, numbers, booleans, None, lists,
tuples, dicts, the types str/int/float/bool/Path, and calls to Param, Approval, Retry
and on_declare).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

RUNBOOK_ATTRIBUTE = "__runbook__"
STEP_ATTRIBUTE = "__step__"
ON_FAILURE_ATTRIBUTE = "__on_failure__"


@dataclass(frozen=True)
class Param:
    """A parameter, given as `key=value` when the runbook is started.

    Without a default a parameter is required unless `required=False` (then it is
    None when not given). `secret=True` hides the value wherever it is shown.
    Checked before the run is recorded, so a step never sees a value that fails them:

    - `choices`: the values allowed; `min`, `max`: bounds of a number;
    - `pattern`: a regular expression the whole value must match (str);
    - `listed_in`: a setting listing the values allowed, `*` matching any characters
      (str; `"RUNBOOK_SYSTEMD_UNITS"`);
    - `Param(Path, inside="RUNBOOK_LOG_DIRS")`: a regular file inside the folders of
      that setting, after following symlinks (`..`, /proc, /sys and /dev are refused);
      the step gets the resolved path as a string. `many=True`: several paths,
      comma-separated; the step gets a list. Open it with `bot.runbooks.files`.
    """

    type: builtins.type[Any]
    default: object = None
    required: bool | None = None
    choices: Sequence[object] | None = None
    min: float | None = None
    max: float | None = None
    secret: bool = False
    help: str = ""
    pattern: str | None = None
    listed_in: str | None = None
    inside: str | None = None
    many: bool = False


@dataclass(frozen=True)
class Approval:
    """A person holding one of `roles` must approve the step before it runs.

    `not_requester` (default True): the person who started the run cannot approve
    it; set it False only for a step one responder may approve alone.
    `ttl`: how long the request stays open (a duration such as "10m"; default 15m).
    """

    roles: Sequence[str]
    not_requester: bool = True
    ttl: str | float = "15m"


@dataclass(frozen=True)
class Retry:
    """Run a failing step again, up to `attempts` times in all, waiting `delay * backoff**n`."""

    attempts: int = 3
    delay: str | float = "5s"
    backoff: float = 1.0


@dataclass(frozen=True)
class Trigger:
    """Declaring a matching incident starts the runbook (`start`) or offers it (`offer`)."""

    severity: Sequence[str] = ()
    service: Sequence[str] = ()
    mode: str = "offer"


def on_declare(
    *, severity: str | Sequence[str] = (), service: str | Sequence[str] = (), mode: str = "offer"
) -> Trigger:
    """A trigger on incident declaration; severity and service: one name or a list (empty: any)."""
    return Trigger(
        severity=(severity,) if isinstance(severity, str) else tuple(severity),
        service=(service,) if isinstance(service, str) else tuple(service),
        mode=mode,
    )


@dataclass(frozen=True)
class StepOptions:
    """The options of `@step(...)`, as written."""

    timeout: str | float | None = None
    approval: Approval | None = None
    retry: Retry | None = None
    manual: bool = False
    prompt: str = ""
    idempotent: bool = False
    when: str | None = None


def runbook(**meta: Any) -> Callable[[type[T]], type[T]]:
    """Declare a class as a runbook: name, summary, params, triggers, allowed, timeout.

    The keyword arguments are attached, as a dict, to the class as `__runbook__`.
    """

    def declare(cls: type[T]) -> type[T]:
        setattr(cls, RUNBOOK_ATTRIBUTE, dict(meta))
        return cls

    return declare


@overload
def step(function: F, /) -> F: ...


@overload
def step(
    *,
    timeout: str | float | None = None,
    approval: Approval | None = None,
    retry: Retry | None = None,
    manual: bool = False,
    prompt: str = "",
    idempotent: bool = False,
    when: str | None = None,
) -> Callable[[F], F]: ...


def step(function: F | None = None, /, **options: Any) -> F | Callable[[F], F]:
    """Mark a method `(self, ctx)` as a step; bare `@step` or `@step(timeout="30s", ...)`."""

    def mark(method: F) -> F:
        setattr(method, STEP_ATTRIBUTE, StepOptions(**options))
        return method

    return mark if function is None else mark(function)


def on_failure(function: F) -> F:
    """Mark the method `(self, ctx, failed_step, error)` run when a step fails for good."""
    setattr(function, ON_FAILURE_ATTRIBUTE, True)
    return function

"""Find runbook files and read their metadata with `ast`, without running them.

Metadata is declared, not executed: listing, help and validation must run no
step, and no module code either. So a runbook file is parsed, never imported, and
the arguments of `@runbook(...)`, `@step(...)` and the option calls inside them
are evaluated statically. Only plain values written out in the file are accepted;
anything else is a problem with its file and line. A runbook with any problem is
left out of the catalog; one broken file never stops the others from loading.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bot.runbooks.spec import (
    PARAM_TYPES,
    TRIGGER_MODES,
    ApprovalSpec,
    ParamSpec,
    ParamType,
    Problem,
    RetrySpec,
    RunbookSpec,
    StepSpec,
    TriggerMode,
    TriggerSpec,
    parse_duration,
)

V = TypeVar("V")

SDK_MODULE = "bot.runbooks.sdk"
SDK_NAMES = ("runbook", "step", "on_failure", "Param", "Approval", "Retry", "on_declare")

RUNBOOK_ARGUMENTS = ("name", "summary", "params", "triggers", "allowed", "timeout")
STEP_ARGUMENTS = ("timeout", "approval", "retry", "manual", "prompt", "idempotent", "when")
PARAM_ARGUMENTS = ("type", "default", "required", "choices", "min", "max", "secret", "help")
APPROVAL_ARGUMENTS = ("roles", "not_requester", "ttl")
RETRY_ARGUMENTS = ("attempts", "delay", "backoff")
TRIGGER_ARGUMENTS = ("severity", "service", "mode")

DEFAULT_ALLOWED: tuple[str, ...] = ("role:commander",)
DEFAULT_TIMEOUT_SECONDS = 3600.0
DEFAULT_APPROVAL_TTL_SECONDS = 900
STEP_SIGNATURE = ("self", "ctx")
ON_FAILURE_SIGNATURE = ("self", "ctx", "failed_step", "error")

RUNBOOK_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
PARAM_NAME = re.compile(r"[a-z][a-z0-9_]*")
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
WHO_WORDS = ("anyone", "declarer")

_SHOWN_LENGTH = 60


@dataclass
class Catalog:
    """Every runbook that loaded cleanly, by name, and every problem found."""

    runbooks: dict[str, RunbookSpec] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def discover(folders: Sequence[Path]) -> Catalog:
    """Read every runbook file under `folders` (recursively) without running any of it.

    Files named `_*.py`, `__pycache__` and hidden folders are skipped. When two
    runbooks share a name, the first found keeps it and both places are reported.
    """
    catalog = Catalog()
    seen: set[Path] = set()
    for folder in folders:
        for path in _runbook_files(folder, catalog.problems):
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            specs, problems = read_file(path)
            catalog.problems.extend(problems)
            for spec in specs:
                first = catalog.runbooks.get(spec.name)
                if first is None:
                    catalog.runbooks[spec.name] = spec
                    continue
                catalog.problems.append(
                    Problem(
                        spec.path,
                        spec.line,
                        f"runbook name `{spec.name}` is already used at "
                        f"{first.path}:{first.line}; this one is not loaded",
                    )
                )
                catalog.problems.append(
                    Problem(
                        first.path,
                        first.line,
                        f"runbook name `{spec.name}` is used again at {spec.path}:{spec.line}",
                    )
                )
    catalog.problems.sort(key=lambda problem: (str(problem.path), problem.line))
    return catalog


def _runbook_files(folder: Path, problems: list[Problem]) -> list[Path]:
    if not folder.exists():
        problems.append(Problem(folder, 0, "runbook folder does not exist"))
        return []
    if not folder.is_dir():
        problems.append(Problem(folder, 0, "not a folder"))
        return []
    return sorted(
        path
        for path in folder.rglob("*.py")
        if path.is_file()
        and not path.name.startswith("_")
        and not any(
            part == "__pycache__" or part.startswith(".")
            for part in path.relative_to(folder).parts[:-1]
        )
    )


def read_file(path: Path) -> tuple[list[RunbookSpec], list[Problem]]:
    """The runbooks declared in one file, and the problems found in it."""
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return [], [Problem(path, 0, "cannot read the file: it is not UTF-8 text")]
    except OSError as error:
        return [], [Problem(path, 0, f"cannot read the file: {error.strerror or error}")]
    return read_source(source, path)


def read_source(source: str, path: Path) -> tuple[list[RunbookSpec], list[Problem]]:
    """The runbooks declared in `source` (the text of the file at `path`), and its problems."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for "\d" in a string
            tree = ast.parse(source, filename=str(path))
    except SyntaxError as error:
        return [], [Problem(path, error.lineno or 0, f"syntax error: {error.msg}")]
    except (ValueError, RecursionError) as error:  # NUL bytes; absurdly deep nesting
        return [], [Problem(path, 0, f"syntax error: {error or 'nested too deeply'}")]
    reader = _Reader(path, tree)
    return reader.read(), reader.problems


class _Reported(Exception):
    """A problem was reported; the value being read is unusable."""


class _Reader:
    """Reads the runbooks of one parsed file, collecting problems."""

    def __init__(self, path: Path, tree: ast.Module) -> None:
        self.path = path
        self.tree = tree
        self.problems: list[Problem] = []
        self.aliases = {name: name for name in SDK_NAMES}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == SDK_MODULE:
                for alias in node.names:
                    if alias.name in SDK_NAMES:
                        self.aliases[alias.asname or alias.name] = alias.name

    # -- reporting and plain values -------------------------------------------------

    def problem(self, node: ast.AST | int, message: str) -> None:
        line = node if isinstance(node, int) else getattr(node, "lineno", 0)
        self.problems.append(Problem(self.path, line, message))

    def fail(self, node: ast.AST | int, message: str) -> _Reported:
        self.problem(node, message)
        return _Reported()

    def attempt(self, fallback: V, read: Callable[..., V], *args: Any) -> V:
        """`read(*args)`, or `fallback` when it reported a problem."""
        try:
            return read(*args)
        except _Reported:
            return fallback

    def sdk_name(self, node: ast.expr) -> str | None:
        """`Param` for `Param`, `sdk.Param` or an alias imported from the SDK; else None."""
        if isinstance(node, ast.Call):
            node = node.func
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute) and node.attr in SDK_NAMES:
            return node.attr
        return None

    def not_plain(self, node: ast.AST) -> _Reported:
        return self.fail(
            node,
            f"metadata must be written as plain values: `{_shown(node)}` is computed "
            "(use strings, numbers, true/false, None, lists, dicts and the SDK's calls)",
        )

    def plain(self, node: ast.expr) -> object:
        """The value of a literal: str, int, float, bool, None, list, tuple or dict."""
        if isinstance(node, ast.Constant) and (
            node.value is None or isinstance(node.value, str | int | float)
        ):
            return node.value
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub | ast.UAdd)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int | float)
            and not isinstance(node.operand.value, bool)
        ):
            value = node.operand.value
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.List | ast.Tuple):
            items = [self.plain(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict):
            result: dict[object, object] = {}
            for key, item in zip(node.keys, node.values, strict=True):
                if key is None:
                    raise self.not_plain(item)
                result[self.plain(key)] = self.plain(item)
            return result
        raise self.not_plain(node)

    def text(self, node: ast.expr, what: str, *, empty: bool = True) -> str:
        value = self.plain(node)
        if not isinstance(value, str):
            raise self.fail(node, f"{what} must be a string, not `{_shown(node)}`")
        if not empty and not value.strip():
            raise self.fail(node, f"{what} must not be empty")
        return value

    def flag(self, node: ast.expr, what: str) -> bool:
        value = self.plain(node)
        if not isinstance(value, bool):
            raise self.fail(node, f"{what} must be True or False, not `{_shown(node)}`")
        return value

    def number(self, node: ast.expr, what: str) -> float:
        value = self.plain(node)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(node, f"{what} must be a number, not `{_shown(node)}`")
        return value

    def duration(self, node: ast.expr, what: str, *, positive: bool = True) -> float:
        value = self.plain(node)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(node, f"invalid duration for {what}: `{_shown(node)}`")
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise self.fail(
                node,
                f"invalid duration for {what}: {value!r}; use 30s, 10m, 2h, 1h30m "
                "or a number of seconds",
            ) from None
        if positive and seconds <= 0:
            raise self.fail(node, f"invalid duration for {what}: it must be more than 0")
        return seconds

    def words(self, node: ast.expr, what: str) -> tuple[str, ...]:
        """One string or a list of strings."""
        value = self.plain(node)
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return tuple(str(item) for item in value)
        raise self.fail(node, f"{what} must be a string or a list of strings")

    def arguments(
        self,
        call: ast.Call,
        what: str,
        accepted: tuple[str, ...],
        positional: tuple[str, ...] = (),
    ) -> dict[str, ast.expr]:
        """The arguments of `call` by name; unknown or repeated ones are reported and dropped."""
        found: dict[str, ast.expr] = {}
        for index, argument in enumerate(call.args):
            if isinstance(argument, ast.Starred):
                self.not_plain(argument)
            elif index < len(positional):
                found[positional[index]] = argument
            else:
                self.problem(
                    argument,
                    f"{what} takes {'no' if not positional else len(positional)} positional "
                    f"argument{'' if len(positional) == 1 else 's'}: name them "
                    f"({', '.join(accepted)})",
                )
        for keyword in call.keywords:
            if keyword.arg is None:
                self.not_plain(keyword.value)
            elif keyword.arg not in accepted:
                self.problem(
                    keyword.value,
                    f"unknown argument `{keyword.arg}` for {what}; accepted: {', '.join(accepted)}",
                )
            elif keyword.arg in found:
                self.problem(keyword.value, f"{what} is given `{keyword.arg}` twice")
            else:
                found[keyword.arg] = keyword.value
        return found

    # -- runbooks -------------------------------------------------------------------

    def read(self) -> list[RunbookSpec]:
        specs: list[RunbookSpec] = []
        for node in self.tree.body:
            marks = [
                d for d in getattr(node, "decorator_list", []) if self.sdk_name(d) == "runbook"
            ]
            if not marks:
                continue
            if not isinstance(node, ast.ClassDef):
                self.problem(node, "@runbook decorates a class, not a function")
                continue
            for extra in marks[1:]:
                self.problem(extra, f"class `{node.name}` has @runbook more than once")
            start = len(self.problems)
            spec = self.runbook(node, marks[0])
            if spec is not None and len(self.problems) == start and len(marks) == 1:
                specs.append(spec)
        return specs

    def runbook(self, cls: ast.ClassDef, mark: ast.expr) -> RunbookSpec | None:
        if not isinstance(mark, ast.Call):
            self.problem(mark, '@runbook needs its metadata: @runbook(name="...", summary="...")')
            return None
        given = self.arguments(mark, "@runbook", RUNBOOK_ARGUMENTS)
        name = self.attempt("", self.runbook_name, given.get("name"), mark)
        summary = ""
        if "summary" not in given:
            self.problem(mark, 'runbook needs a summary: @runbook(summary="what it does", ...)')
        else:
            summary = self.attempt("", self.summary, given["summary"]).strip()
        params = self.params(given["params"]) if "params" in given else ()
        triggers = self.triggers(given["triggers"]) if "triggers" in given else ()
        allowed = DEFAULT_ALLOWED
        if "allowed" in given:
            allowed = self.attempt(DEFAULT_ALLOWED, self.allowed, given["allowed"])
        timeout = DEFAULT_TIMEOUT_SECONDS
        if "timeout" in given:
            timeout = self.attempt(timeout, self.duration, given["timeout"], "timeout")
        steps, on_failure = self.steps(cls, _declared_names(given.get("params")))
        if not steps and not any(
            self.sdk_name(mark) == "step"
            for method in cls.body
            for mark in getattr(method, "decorator_list", [])
        ):
            self.problem(cls, f"runbook `{cls.name}` has no steps: mark its methods with @step")
        return RunbookSpec(
            name=name,
            summary=summary,
            path=self.path,
            line=cls.lineno,
            class_name=cls.name,
            params=params,
            triggers=triggers,
            allowed=allowed,
            timeout_seconds=timeout,
            steps=steps,
            on_failure=on_failure,
            description=ast.get_docstring(cls) or "",
        )

    def runbook_name(self, node: ast.expr | None, mark: ast.expr) -> str:
        if node is None:
            raise self.fail(mark, 'runbook needs a name: @runbook(name="restart-api", ...)')
        name = self.text(node, "name")
        if not RUNBOOK_NAME.fullmatch(name):
            raise self.fail(
                node,
                f"runbook name {name!r} is not valid: use lowercase letters, digits and "
                "dashes, starting with a letter or digit (such as restart-api)",
            )
        return name

    def summary(self, node: ast.expr) -> str:
        return self.text(node, "summary", empty=False)

    def allowed(self, node: ast.expr) -> tuple[str, ...]:
        who = self.words(node, "allowed")
        if not who:
            raise self.fail(node, "allowed must name someone: role:<name>, declarer or anyone")
        for entry in who:
            role = entry.removeprefix("role:")
            if entry not in WHO_WORDS and not (role != entry and ROLE_NAME.fullmatch(role)):
                raise self.fail(
                    node,
                    f"allowed entry {entry!r} is not valid: use role:<name>, declarer or anyone",
                )
        return who

    # -- parameters -----------------------------------------------------------------

    def params(self, node: ast.expr) -> tuple[ParamSpec, ...]:
        if not isinstance(node, ast.Dict):
            self.problem(node, 'params must be a dict such as {"service": Param(str)}')
            return ()
        params: list[ParamSpec] = []
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                self.not_plain(value)
                continue
            param = self.attempt(None, self.param, key, value)
            if param is not None:
                if any(known.name == param.name for known in params):
                    self.problem(key, f"parameter `{param.name}` is declared twice")
                params.append(param)
        return tuple(params)

    def param(self, key: ast.expr, node: ast.expr) -> ParamSpec:
        name = self.text(key, "a parameter name")
        if not PARAM_NAME.fullmatch(name):
            raise self.fail(
                key,
                f"parameter name {name!r} is not valid: use lowercase letters, digits and "
                "underscores, starting with a letter",
            )
        if not isinstance(node, ast.Call) or self.sdk_name(node) != "Param":
            raise self.fail(node, f"parameter `{name}` must be declared as Param(type, ...)")
        start = len(self.problems)
        given = self.arguments(node, "Param", PARAM_ARGUMENTS, positional=("type",))
        kind = self.param_type(name, given.get("type"), node)
        values: dict[str, object] = {}
        for option in ("default", "required", "choices", "min", "max", "secret", "help"):
            if option in given:
                values[option] = self.attempt(None, self.plain, given[option])
        if len(self.problems) > start:
            raise _Reported()

        def bad(option: str, message: str) -> _Reported:
            return self.fail(given[option], f"parameter `{name}`: {message}")

        for option in ("required", "secret"):
            if option in values and not isinstance(values[option], bool):
                raise bad(option, f"{option} must be True or False")
        if "help" in values and not isinstance(values["help"], str):
            raise bad("help", "help must be a string")
        bounds: dict[str, int | float] = {}
        for option in ("min", "max"):
            bound = values.get(option)
            if bound is None:
                continue
            if kind not in ("int", "float"):
                raise bad(option, f"{option} only applies to int and float parameters")
            fitted_bound = _fit_number(kind, bound)
            if fitted_bound is None:
                raise bad(option, f"{option} must be {_TYPE_WORDS[kind]}, not {bound!r}")
            bounds[option] = fitted_bound
        low, high = bounds.get("min"), bounds.get("max")
        if low is not None and high is not None and low > high:
            raise bad("max", f"max {high!r} is below min {low!r}")
        choices: tuple[object, ...] = ()
        if values.get("choices") is not None:
            raw = values["choices"]
            if not isinstance(raw, list | tuple) or not raw:
                raise bad("choices", "choices must be a non-empty list")
            fitted_choices = [_fit(kind, choice) for choice in raw]
            if any(choice is None for choice in fitted_choices):
                raise bad("choices", f"every choice must be {_TYPE_WORDS[kind]}")
            if len(set(map(repr, fitted_choices))) != len(fitted_choices):
                raise bad("choices", "choices are repeated")
            choices = tuple(fitted_choices)
        default = values.get("default")
        if default is not None:
            fitted = _fit(kind, default)
            if fitted is None:
                raise bad("default", f"default {default!r} is not {_TYPE_WORDS[kind]}")
            if choices and fitted not in choices:
                shown = ", ".join(map(str, choices))
                raise bad("default", f"default {default!r} is not one of the choices ({shown})")
            number = _fit_number(kind, fitted)
            if number is not None and low is not None and number < low:
                raise bad("default", f"default {default!r} is below min {low!r}")
            if number is not None and high is not None and number > high:
                raise bad("default", f"default {default!r} is above max {high!r}")
            if values.get("required") is True:
                raise bad("required", "has a default, so it cannot be required")
            if values.get("secret") is True:
                raise bad("default", "a secret parameter cannot have a default in the file")
            default = fitted
        required = values.get("required")
        return ParamSpec(
            name=name,
            type=kind,
            default=default,
            required=default is None if required is None else bool(required),
            choices=choices,
            min=low,
            max=high,
            secret=bool(values.get("secret", False)),
            help=str(values.get("help") or ""),
        )

    def param_type(self, name: str, node: ast.expr | None, call: ast.Call) -> ParamType:
        if node is None:
            raise self.fail(call, f"parameter `{name}` needs a type: Param(str, ...)")
        for kind in PARAM_TYPES:
            if isinstance(node, ast.Name) and node.id == kind:
                return kind
        raise self.fail(
            node,
            f"unknown parameter type `{_shown(node)}` for `{name}`: use str, int, float or bool",
        )

    # -- triggers -------------------------------------------------------------------

    def triggers(self, node: ast.expr) -> tuple[TriggerSpec, ...]:
        items = node.elts if isinstance(node, ast.List | ast.Tuple) else [node]
        triggers: list[TriggerSpec] = []
        for item in items:
            trigger = self.attempt(None, self.trigger, item)
            if trigger is not None:
                triggers.append(trigger)
        return tuple(triggers)

    def trigger(self, node: ast.expr) -> TriggerSpec:
        if not isinstance(node, ast.Call) or self.sdk_name(node) != "on_declare":
            raise self.fail(node, "triggers must be a list of on_declare(...)")
        given = self.arguments(node, "on_declare", TRIGGER_ARGUMENTS)
        severities: tuple[str, ...] = ()
        services: tuple[str, ...] = ()
        mode: TriggerMode = "offer"
        if "severity" in given:
            names = self.words(given["severity"], "severity")
            severities = tuple(name.strip().upper() for name in names)
        if "service" in given:
            services = tuple(name.strip() for name in self.words(given["service"], "service"))
        if "mode" in given:
            written = self.text(given["mode"], "mode")
            for known in TRIGGER_MODES:
                if written == known:
                    mode = known
                    break
            else:
                raise self.fail(
                    given["mode"], f"invalid trigger mode {written!r}: use start or offer"
                )
        return TriggerSpec(severities=severities, services=services, mode=mode)

    # -- steps ----------------------------------------------------------------------

    def steps(
        self, cls: ast.ClassDef, param_names: set[str]
    ) -> tuple[tuple[StepSpec, ...], str | None]:
        steps: list[StepSpec] = []
        on_failure: ast.FunctionDef | ast.AsyncFunctionDef | None = None
        defined: dict[str, int] = {}
        for node in cls.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            step_marks = [d for d in node.decorator_list if self.sdk_name(d) == "step"]
            failure_marks = [d for d in node.decorator_list if self.sdk_name(d) == "on_failure"]
            if not step_marks and not failure_marks:
                continue
            if node.name in defined:
                self.problem(
                    node,
                    f"step `{node.name}` is defined twice (first at line {defined[node.name]})",
                )
            defined.setdefault(node.name, node.lineno)
            if isinstance(node, ast.AsyncFunctionDef):
                self.problem(node, f"`{node.name}` must be a plain def, not async def")
            if step_marks and failure_marks:
                self.problem(node, f"`{node.name}` cannot be both a @step and @on_failure")
            elif failure_marks:
                if on_failure is not None:
                    self.problem(
                        node,
                        f"only one @on_failure method is allowed; `{on_failure.name}` "
                        f"at line {on_failure.lineno} is one already",
                    )
                on_failure = on_failure or node
                self.failure_handler(node, failure_marks[0])
            else:
                for extra in step_marks[1:]:
                    self.problem(extra, f"step `{node.name}` has @step more than once")
                step = self.attempt(None, self.step, node, step_marks[0], param_names)
                if step is not None:
                    steps.append(step)
        return tuple(steps), None if on_failure is None else on_failure.name

    def failure_handler(self, node: ast.FunctionDef | ast.AsyncFunctionDef, mark: ast.expr) -> None:
        if isinstance(mark, ast.Call):
            self.problem(mark, "write @on_failure without arguments")
        if not _takes(node, len(ON_FAILURE_SIGNATURE)):
            self.problem(
                node,
                f"on_failure method `{node.name}` must take "
                f"({', '.join(ON_FAILURE_SIGNATURE)}), not ({_signature(node)})",
            )

    def step(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, mark: ast.expr, param_names: set[str]
    ) -> StepSpec:
        start = len(self.problems)
        if not _takes(node, len(STEP_SIGNATURE)):
            self.problem(
                node,
                f"step `{node.name}` must take ({', '.join(STEP_SIGNATURE)}), "
                f"not ({_signature(node)})",
            )
        given = (
            self.arguments(mark, f"@step of `{node.name}`", STEP_ARGUMENTS)
            if isinstance(mark, ast.Call)
            else {}
        )
        what = f"step `{node.name}`"
        read = self.attempt
        timeout: float | None = None
        if "timeout" in given:
            timeout = read(None, self.duration, given["timeout"], f"{what} timeout")
        approval = read(None, self.approval, given["approval"]) if "approval" in given else None
        retry = read(None, self.retry, given["retry"]) if "retry" in given else None
        flags = {
            option: read(False, self.flag, given[option], option)
            for option in ("manual", "idempotent")
            if option in given
        }
        prompt = read("", self.text, given["prompt"], "prompt") if "prompt" in given else ""
        description = ast.get_docstring(node) or ""
        manual = flags.get("manual", False)
        if manual and not prompt.strip():
            prompt = description.strip().splitlines()[0] if description.strip() else ""
            if not prompt:
                self.problem(
                    mark,
                    f'manual {what} needs a prompt: @step(manual=True, prompt="what to check")',
                )
        when: str | None = None
        if "when" in given:
            when = read(None, self.condition, given["when"], what, param_names)
        if len(self.problems) > start:
            raise _Reported()
        return StepSpec(
            name=node.name,
            line=node.lineno,
            timeout_seconds=timeout,
            approval=approval,
            retry=retry,
            manual=manual,
            prompt=prompt,
            idempotent=flags.get("idempotent", False),
            when=when,
            description=description,
        )

    def approval(self, node: ast.expr) -> ApprovalSpec:
        if not isinstance(node, ast.Call) or self.sdk_name(node) != "Approval":
            raise self.fail(node, "approval must be Approval(roles=[...], ...)")
        given = self.arguments(node, "Approval", APPROVAL_ARGUMENTS, positional=("roles",))
        if "roles" not in given:
            raise self.fail(node, 'Approval needs roles: Approval(roles=["commander"])')
        roles = self.words(given["roles"], "approval roles")
        if not roles:
            raise self.fail(given["roles"], "approval roles are empty: name at least one role")
        for role in roles:
            if not ROLE_NAME.fullmatch(role):
                raise self.fail(
                    given["roles"], f"approval role {role!r} is not a role name such as commander"
                )
        not_requester = (
            self.flag(given["not_requester"], "not_requester")
            if "not_requester" in given
            else False
        )
        ttl = DEFAULT_APPROVAL_TTL_SECONDS
        if "ttl" in given:
            ttl = max(1, round(self.duration(given["ttl"], "approval ttl")))
        return ApprovalSpec(roles=roles, not_requester=not_requester, ttl_seconds=ttl)

    def retry(self, node: ast.expr) -> RetrySpec:
        if not isinstance(node, ast.Call) or self.sdk_name(node) != "Retry":
            raise self.fail(node, "retry must be Retry(attempts=..., delay=..., backoff=...)")
        given = self.arguments(node, "Retry", RETRY_ARGUMENTS, positional=("attempts",))
        spec = RetrySpec()
        attempts, delay, backoff = spec.attempts, spec.delay_seconds, spec.backoff
        if "attempts" in given:
            value = self.plain(given["attempts"])
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise self.fail(
                    given["attempts"], "retry attempts must be a whole number of at least 1"
                )
            attempts = value
        if "delay" in given:
            delay = self.duration(given["delay"], "retry delay", positive=False)
        if "backoff" in given:
            backoff = float(self.number(given["backoff"], "retry backoff"))
            if backoff < 1:
                raise self.fail(given["backoff"], "retry backoff must be at least 1.0")
        return RetrySpec(attempts=attempts, delay_seconds=delay, backoff=backoff)

    def condition(self, node: ast.expr, what: str, param_names: set[str]) -> str:
        """A `when` condition: kept as written, checked to be a tiny expression over params."""
        text = self.text(node, "when", empty=False).strip()
        try:
            expression = ast.parse(text, mode="eval")
        except SyntaxError as error:
            raise self.fail(node, f"condition of {what} is not valid: {error.msg}") from None
        for part in ast.walk(expression):
            if isinstance(part, ast.Call | ast.Lambda | ast.NamedExpr | ast.Subscript):
                raise self.fail(
                    node, f"condition of {what} may only compare params.<name> with values"
                )
            if isinstance(part, ast.Attribute) and (
                not isinstance(part.value, ast.Name) or part.value.id != "params"
            ):
                raise self.fail(node, f"condition of {what} may only read params.<name>")
            if isinstance(part, ast.Name) and part.id != "params":
                raise self.fail(
                    node, f"condition of {what} uses `{part.id}`: only params.<name> is known"
                )
            if isinstance(part, ast.Attribute) and part.attr not in param_names:
                raise self.fail(
                    node, f"condition of {what} uses params.{part.attr}, which is not a parameter"
                )
        return text


_TYPE_WORDS: dict[str, str] = {
    "str": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "True or False",
}


def _fit(kind: ParamType, value: object) -> object | None:
    """`value` as a value of the parameter type `kind`, or None if it is not one."""
    if kind == "str":
        return value if isinstance(value, str) else None
    if kind == "bool":
        return value if isinstance(value, bool) else None
    return _fit_number(kind, value)


def _fit_number(kind: ParamType, value: object) -> int | float | None:
    """`value` as an int (kind int) or float (kind float); None if it is not a number of it."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or kind not in ("int", "float")
    ):
        return None
    if kind == "int":
        return value if isinstance(value, int) else None
    return float(value)


def _declared_names(node: ast.expr | None) -> set[str]:
    """The parameter names written in a params dict, valid or not."""
    if not isinstance(node, ast.Dict):
        return set()
    return {
        key.value
        for key in node.keys
        if isinstance(key, ast.Constant) and isinstance(key.value, str)
    }


def _takes(node: ast.FunctionDef | ast.AsyncFunctionDef, count: int) -> bool:
    positional = len(node.args.posonlyargs) + len(node.args.args)
    if node.args.vararg is not None:
        return positional <= count
    return positional == count


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return ast.unparse(node.args)


def _shown(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 3] + "..."

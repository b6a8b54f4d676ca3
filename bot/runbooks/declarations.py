"""What a runbook file declares: `@runbook(...)` classes, their parameters and triggers.

Each argument is read as a plain value (`bot.runbooks.literals`) and checked for
what it means here: names, durations, who may run it, parameter types, defaults,
choices and bounds. A runbook with any problem is left out; its steps are read
by `bot.runbooks.step_declarations`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bot.runbooks.literals import LiteralReader, Reported, shown
from bot.runbooks.spec import (
    PARAM_TYPES,
    TRIGGER_MODES,
    ParamSpec,
    ParamType,
    Problem,
    RunbookSpec,
    TriggerMode,
    TriggerSpec,
)
from bot.runbooks.step_declarations import ROLE_NAME, read_steps

RUNBOOK_ARGUMENTS = ("name", "summary", "params", "triggers", "allowed", "timeout")
PARAM_ARGUMENTS = ("type", "default", "required", "choices", "min", "max", "secret", "help")
TRIGGER_ARGUMENTS = ("severity", "service", "mode")

DEFAULT_ALLOWED: tuple[str, ...] = ("role:commander",)
DEFAULT_TIMEOUT_SECONDS = 3600.0

RUNBOOK_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
PARAM_NAME = re.compile(r"[a-z][a-z0-9_]*")
WHO_WORDS = ("anyone", "declarer")


def read_declarations(path: Path, tree: ast.Module) -> tuple[list[RunbookSpec], list[Problem]]:
    """The runbooks declared in the parsed file at `path`, and the problems found in it."""
    reader = LiteralReader(path, tree)
    specs: list[RunbookSpec] = []
    for node in tree.body:
        marks = [d for d in getattr(node, "decorator_list", []) if reader.sdk_name(d) == "runbook"]
        if not marks:
            continue
        if not isinstance(node, ast.ClassDef):
            reader.problem(node, "@runbook decorates a class, not a function")
            continue
        for extra in marks[1:]:
            reader.problem(extra, f"class `{node.name}` has @runbook more than once")
        start = len(reader.problems)
        spec = _runbook(reader, node, marks[0])
        if spec is not None and len(reader.problems) == start and len(marks) == 1:
            specs.append(spec)
    return specs, reader.problems


def _runbook(reader: LiteralReader, cls: ast.ClassDef, mark: ast.expr) -> RunbookSpec | None:
    if not isinstance(mark, ast.Call):
        reader.problem(mark, '@runbook needs its metadata: @runbook(name="...", summary="...")')
        return None
    given = reader.arguments(mark, "@runbook", RUNBOOK_ARGUMENTS)
    name = reader.attempt("", _runbook_name, reader, given.get("name"), mark)
    summary = ""
    if "summary" not in given:
        reader.problem(mark, 'runbook needs a summary: @runbook(summary="what it does", ...)')
    else:
        summary = reader.attempt("", _summary, reader, given["summary"]).strip()
    params = _params(reader, given["params"]) if "params" in given else ()
    triggers = _triggers(reader, given["triggers"]) if "triggers" in given else ()
    allowed = DEFAULT_ALLOWED
    if "allowed" in given:
        allowed = reader.attempt(DEFAULT_ALLOWED, _allowed, reader, given["allowed"])
    timeout = DEFAULT_TIMEOUT_SECONDS
    if "timeout" in given:
        timeout = reader.attempt(timeout, reader.duration, given["timeout"], "timeout")
    steps, on_failure = read_steps(reader, cls, _declared_names(given.get("params")))
    if not steps and not any(
        reader.sdk_name(mark) == "step"
        for method in cls.body
        for mark in getattr(method, "decorator_list", [])
    ):
        reader.problem(cls, f"runbook `{cls.name}` has no steps: mark its methods with @step")
    return RunbookSpec(
        name=name,
        summary=summary,
        path=reader.path,
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


def _runbook_name(reader: LiteralReader, node: ast.expr | None, mark: ast.expr) -> str:
    if node is None:
        raise reader.fail(mark, 'runbook needs a name: @runbook(name="restart-api", ...)')
    name = reader.text(node, "name")
    if not RUNBOOK_NAME.fullmatch(name):
        raise reader.fail(
            node,
            f"runbook name {name!r} is not valid: use lowercase letters, digits and "
            "dashes, starting with a letter or digit (such as restart-api)",
        )
    return name


def _summary(reader: LiteralReader, node: ast.expr) -> str:
    return reader.text(node, "summary", empty=False)


def _allowed(reader: LiteralReader, node: ast.expr) -> tuple[str, ...]:
    who = reader.words(node, "allowed")
    if not who:
        raise reader.fail(node, "allowed must name someone: role:<name>, declarer or anyone")
    for entry in who:
        role = entry.removeprefix("role:")
        if entry not in WHO_WORDS and not (role != entry and ROLE_NAME.fullmatch(role)):
            raise reader.fail(
                node,
                f"allowed entry {entry!r} is not valid: use role:<name>, declarer or anyone",
            )
    return who


# -- parameters --------------------------------------------------------------------


def _params(reader: LiteralReader, node: ast.expr) -> tuple[ParamSpec, ...]:
    if not isinstance(node, ast.Dict):
        reader.problem(node, 'params must be a dict such as {"service": Param(str)}')
        return ()
    params: list[ParamSpec] = []
    for key, value in zip(node.keys, node.values, strict=True):
        if key is None:
            reader.not_plain(value)
            continue
        param = reader.attempt(None, _param, reader, key, value)
        if param is not None:
            if any(known.name == param.name for known in params):
                reader.problem(key, f"parameter `{param.name}` is declared twice")
            params.append(param)
    return tuple(params)


def _param(reader: LiteralReader, key: ast.expr, node: ast.expr) -> ParamSpec:
    name = reader.text(key, "a parameter name")
    if not PARAM_NAME.fullmatch(name):
        raise reader.fail(
            key,
            f"parameter name {name!r} is not valid: use lowercase letters, digits and "
            "underscores, starting with a letter",
        )
    if not isinstance(node, ast.Call) or reader.sdk_name(node) != "Param":
        raise reader.fail(node, f"parameter `{name}` must be declared as Param(type, ...)")
    start = len(reader.problems)
    given = reader.arguments(node, "Param", PARAM_ARGUMENTS, positional=("type",))
    kind = _param_type(reader, name, given.get("type"), node)
    values: dict[str, object] = {}
    for option in ("default", "required", "choices", "min", "max", "secret", "help"):
        if option in given:
            values[option] = reader.attempt(None, reader.plain, given[option])
    if len(reader.problems) > start:
        raise Reported()

    def bad(option: str, message: str) -> Reported:
        return reader.fail(given[option], f"parameter `{name}`: {message}")

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
            listed = ", ".join(map(str, choices))
            raise bad("default", f"default {default!r} is not one of the choices ({listed})")
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


def _param_type(
    reader: LiteralReader, name: str, node: ast.expr | None, call: ast.Call
) -> ParamType:
    if node is None:
        raise reader.fail(call, f"parameter `{name}` needs a type: Param(str, ...)")
    for kind in PARAM_TYPES:
        if isinstance(node, ast.Name) and node.id == kind:
            return kind
    raise reader.fail(
        node,
        f"unknown parameter type `{shown(node)}` for `{name}`: use str, int, float or bool",
    )


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


# -- triggers ----------------------------------------------------------------------


def _triggers(reader: LiteralReader, node: ast.expr) -> tuple[TriggerSpec, ...]:
    items = node.elts if isinstance(node, ast.List | ast.Tuple) else [node]
    triggers: list[TriggerSpec] = []
    for item in items:
        trigger = reader.attempt(None, _trigger, reader, item)
        if trigger is not None:
            triggers.append(trigger)
    return tuple(triggers)


def _trigger(reader: LiteralReader, node: ast.expr) -> TriggerSpec:
    if not isinstance(node, ast.Call) or reader.sdk_name(node) != "on_declare":
        raise reader.fail(node, "triggers must be a list of on_declare(...)")
    given = reader.arguments(node, "on_declare", TRIGGER_ARGUMENTS)
    severities: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    mode: TriggerMode = "offer"
    if "severity" in given:
        names = reader.words(given["severity"], "severity")
        severities = tuple(name.strip().upper() for name in names)
    if "service" in given:
        services = tuple(name.strip() for name in reader.words(given["service"], "service"))
    if "mode" in given:
        written = reader.text(given["mode"], "mode")
        for known in TRIGGER_MODES:
            if written == known:
                mode = known
                break
        else:
            raise reader.fail(
                given["mode"], f"invalid trigger mode {written!r}: use start or offer"
            )
    return TriggerSpec(severities=severities, services=services, mode=mode)

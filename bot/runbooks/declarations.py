"""What a runbook file declares: `@runbook(...)` classes, their parameters and triggers.

Each argument is read as a plain value (`bot.runbooks.literals`) and checked for
what it means here: names, durations, who may run it, triggers. A runbook with any
problem is left out; its parameters are read by `bot.runbooks.param_declarations`,
its steps by `bot.runbooks.step_declarations`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bot.runbooks.literals import LiteralReader
from bot.runbooks.param_declarations import read_params
from bot.runbooks.spec import (
    TRIGGER_MODES,
    Problem,
    RunbookSpec,
    TriggerMode,
    TriggerSpec,
)
from bot.runbooks.step_declarations import ROLE_NAME, read_steps

RUNBOOK_ARGUMENTS = ("name", "summary", "params", "triggers", "allowed", "timeout")
TRIGGER_ARGUMENTS = ("severity", "service", "mode")

DEFAULT_ALLOWED: tuple[str, ...] = ("role:commander",)
DEFAULT_TIMEOUT_SECONDS = 3600.0

RUNBOOK_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
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
    params = read_params(reader, given["params"]) if "params" in given else ()
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

"""What a runbook's `params={...}` declares: each Param's type, default, choices and checks.

Read like the rest of the metadata (`bot.runbooks.declarations`), without running the
file. The checks a value must pass when the runbook is started (`pattern`,
`listed_in`, a path's `inside`) are themselves checked here, so a bad regular
expression or an unknown setting is a problem with its line in `runbooks check`,
not a surprise when someone starts the runbook.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

from bot.runbooks.literals import LiteralReader, Reported, shown
from bot.runbooks.spec import FOLDER_SETTINGS, LIST_SETTINGS, PARAM_TYPES, ParamSpec, ParamType

PARAM_ARGUMENTS = (
    "type",
    "default",
    "required",
    "choices",
    "min",
    "max",
    "secret",
    "help",
    "pattern",
    "listed_in",
    "inside",
    "many",
)
PARAM_NAME = re.compile(r"[a-z][a-z0-9_]*")
PATH_TYPES = ("Path", "pathlib.Path")

_Bad = Callable[[str, str], Reported]
"""Reports a problem with one of the Param's options and returns the exception to raise."""

_TYPE_WORDS: dict[str, str] = {
    "str": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "True or False",
    "path": "a path",
}


def read_params(reader: LiteralReader, node: ast.expr) -> tuple[ParamSpec, ...]:
    """The parameters declared in the `params` dict `node`; each bad one is reported."""
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
    for option in PARAM_ARGUMENTS[1:]:
        if option in given:
            values[option] = reader.attempt(None, reader.plain, given[option])
    if len(reader.problems) > start:
        raise Reported()

    def bad(option: str, message: str) -> Reported:
        return reader.fail(given[option], f"parameter `{name}`: {message}")

    for option in ("required", "secret", "many"):
        if option in values and not isinstance(values[option], bool):
            raise bad(option, f"{option} must be True or False")
    for option in ("help", "pattern", "listed_in", "inside"):
        if option in values and not isinstance(values[option], str):
            raise bad(option, f"{option} must be a string")
    if kind == "path":
        _path_options(reader, name, node, given, values)
    else:
        for option in ("inside", "many"):
            if option in values:
                raise bad(option, f"{option} only applies to Path parameters")
    pattern = _pattern(kind, values, bad)
    listed_in = values.get("listed_in")
    if listed_in is not None:
        if kind != "str":
            raise bad("listed_in", "listed_in only applies to str parameters")
        if listed_in not in LIST_SETTINGS:
            raise bad(
                "listed_in",
                f"listed_in names {listed_in!r}, which is not a list setting: use "
                f"{', '.join(LIST_SETTINGS)}",
            )
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
        unmatched = [c for c in fitted_choices if pattern and not re.fullmatch(pattern, str(c))]
        if unmatched:
            raise bad("choices", f"choice {unmatched[0]!r} does not match the pattern")
        choices = tuple(fitted_choices)
    default = values.get("default")
    if default is not None:
        fitted = _fit(kind, default)
        if fitted is None:
            raise bad("default", f"default {default!r} is not {_TYPE_WORDS[kind]}")
        if choices and fitted not in choices:
            listed = ", ".join(map(str, choices))
            raise bad("default", f"default {default!r} is not one of the choices ({listed})")
        if pattern and not re.fullmatch(pattern, str(fitted)):
            raise bad("default", f"default {default!r} does not match the pattern")
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
        pattern=pattern,
        listed_in=None if listed_in is None else str(listed_in),
        inside=None if values.get("inside") is None else str(values["inside"]),
        many=bool(values.get("many", False)),
    )


def _param_type(
    reader: LiteralReader, name: str, node: ast.expr | None, call: ast.Call
) -> ParamType:
    if node is None:
        raise reader.fail(call, f"parameter `{name}` needs a type: Param(str, ...)")
    if isinstance(node, ast.Name | ast.Attribute) and ast.unparse(node) in PATH_TYPES:
        return "path"
    for kind in PARAM_TYPES:
        if isinstance(node, ast.Name) and node.id == kind:
            return kind
    raise reader.fail(
        node,
        f"unknown parameter type `{shown(node)}` for `{name}`: use str, int, float, bool or Path",
    )


def _path_options(
    reader: LiteralReader,
    name: str,
    call: ast.Call,
    given: dict[str, ast.expr],
    values: dict[str, object],
) -> None:
    """A Path parameter names the folder setting it must be inside, and takes no value checks."""
    for option in ("default", "choices", "min", "max", "pattern", "listed_in"):
        if values.get(option) is not None:
            raise reader.fail(
                given[option],
                f"parameter `{name}`: {option} does not apply to a Path parameter (its "
                "files must be inside the folders of a setting)",
            )
    if values.get("secret") is True:
        raise reader.fail(
            given["secret"],
            f"parameter `{name}`: a Path parameter cannot be secret (refusals show the path)",
        )
    inside = values.get("inside")
    if inside is None:
        raise reader.fail(
            call,
            f'parameter `{name}`: a Path parameter needs inside="<setting>", the setting '
            f"naming the folders its files must be in: {', '.join(FOLDER_SETTINGS)}",
        )
    if inside not in FOLDER_SETTINGS:
        raise reader.fail(
            given["inside"],
            f"parameter `{name}`: inside names {inside!r}, which is not a folder setting: "
            f"use {', '.join(FOLDER_SETTINGS)}",
        )


def _pattern(kind: ParamType, values: dict[str, object], bad: _Bad) -> str | None:
    pattern = values.get("pattern")
    if pattern is None:
        return None
    if kind != "str":
        raise bad("pattern", "pattern only applies to str parameters")
    assert isinstance(pattern, str)
    try:
        re.compile(pattern)
    except re.error as error:
        raise bad(
            "pattern", f"pattern {pattern!r} is not a valid regular expression: {error}"
        ) from None
    return pattern


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

"""Runbook arguments: `key=value` words in, checked and typed values out."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from bot.errors import UsageError
from bot.runbooks.redaction import MASK
from bot.runbooks.spec import ParamSpec, RunbookSpec

TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")

_WHOLE = re.compile(r"[+-]?\d+")


def parse_arguments(spec: RunbookSpec, words: Sequence[str]) -> dict[str, object]:
    """The value of every parameter of `spec` from `key=value` words (already shell-split).

    Values are converted to the parameter's type; parameters not given take their
    default (None if they have none and are optional). Raises UsageError naming what
    is wrong, ending with the runbook's usage. Secret values are never echoed.
    """
    given: dict[str, str] = {}
    for word in words:
        key, sep, raw = word.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise _fail(spec, f"`{word}` is not key=value.")
        if spec.param(key) is None:
            known = ", ".join(param.name for param in spec.params)
            takes = f"Its parameters: {known}." if known else "It takes no parameters."
            raise _fail(spec, f"`{key}` is not a parameter of {spec.name}. {takes}")
        if key in given:
            raise _fail(spec, f"`{key}` is given twice.")
        given[key] = raw

    values: dict[str, object] = {}
    missing: list[str] = []
    for param in spec.params:
        if param.name in given:
            values[param.name] = _value(spec, param, given[param.name])
        elif param.required:
            missing.append(f"{param.name}={param.hint()}")
        else:
            values[param.name] = param.default
    if missing:
        raise _fail(spec, f"Missing {', '.join(missing)}.")
    return values


def redacted(spec: RunbookSpec, values: Mapping[str, object]) -> dict[str, object]:
    """A copy of `values` fit to show: every secret parameter's value hidden."""
    secret = {param.name for param in spec.params if param.secret}
    return {
        name: MASK if name in secret and value is not None else value
        for name, value in values.items()
    }


def _value(spec: RunbookSpec, param: ParamSpec, raw: str) -> object:
    shown = "the value given" if param.secret else f"`{raw}`"
    value: object
    if param.type == "str":
        if not raw.strip():
            raise _fail(spec, f"{param.name} needs a value.")
        value = raw
    elif param.type == "bool":
        word = raw.strip().lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise _fail(spec, f"{param.name} must be true or false (yes/no, 1/0), not {shown}.")
        value = word in TRUE_WORDS
    elif param.type == "int":
        if not _WHOLE.fullmatch(raw.strip()):
            raise _fail(spec, f"{param.name} must be a whole number, not {shown}.")
        value = int(raw)
    else:
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise _fail(spec, f"{param.name} must be a number, not {shown}.")
        value = number

    if param.choices and value not in param.choices:
        choices = ", ".join(str(choice) for choice in param.choices)
        raise _fail(spec, f"{param.name} must be one of {choices}, not {shown}.")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if param.min is not None and value < param.min:
            raise _fail(spec, f"{param.name} must be at least {param.min}, not {shown}.")
        if param.max is not None and value > param.max:
            raise _fail(spec, f"{param.name} must be at most {param.max}, not {shown}.")
    return value


def _fail(spec: RunbookSpec, problem: str) -> UsageError:
    return UsageError(f"{problem} Usage: `{spec.usage()}`")

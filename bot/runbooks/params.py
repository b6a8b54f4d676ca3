"""Runbook arguments: `key=value` words in, checked and typed values out.

Every check a parameter declares runs here, before the run is recorded, so a value
that fails one never reaches a step, a command or an approval request.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Mapping, Sequence

from bot.config import SETTINGS, Settings
from bot.errors import UsageError
from bot.runbooks.allowed_paths import PathRefused, allowed_path
from bot.runbooks.redaction import MASK
from bot.runbooks.spec import ParamSpec, RunbookSpec

TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")

_WHOLE = re.compile(r"[+-]?\d+")
_FIELDS = {setting.env: attribute for attribute, setting in SETTINGS.items()}


def parse_arguments(
    spec: RunbookSpec, words: Sequence[str], settings: Settings
) -> dict[str, object]:
    """The value of every parameter of `spec` from `key=value` words (already shell-split).

    Values are converted to the parameter's type and checked against what it
    declares (`settings` hold the lists and folders named by `listed_in` and
    `inside`); parameters not given take their default (None if they have none and
    are optional), checked against `listed_in` too. Raises UsageError naming what is
    wrong, ending with the runbook's usage. Secret values are never echoed.
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
            values[param.name] = _value(spec, param, given[param.name], settings)
        elif param.required:
            missing.append(f"{param.name}={param.hint()}")
        else:
            if isinstance(param.default, str):
                _listed(spec, param, param.default, f"`{param.default}` (its default)", settings)
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


def _value(spec: RunbookSpec, param: ParamSpec, raw: str, settings: Settings) -> object:
    shown = "the value given" if param.secret else f"`{raw}`"
    value: object
    if param.type == "path":
        return _paths(spec, param, raw, settings)
    if param.type == "str":
        if not raw.strip():
            raise _fail(spec, f"{param.name} needs a value.")
        if param.pattern is not None and not re.fullmatch(param.pattern, raw):
            about = f" ({param.help.rstrip('.')})" if param.help else ""
            raise _fail(spec, f"{param.name} must match `{param.pattern}`, not {shown}{about}.")
        _listed(spec, param, raw, shown, settings)
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


def _paths(spec: RunbookSpec, param: ParamSpec, raw: str, settings: Settings) -> object:
    """The resolved path (a list of them for `many`), each inside the folders allowed."""
    assert param.inside is not None
    texts = [text.strip() for text in raw.split(",")] if param.many else [raw.strip()]
    texts = [text for text in texts if text]
    if not texts:
        raise _fail(spec, f"{param.name} needs a value.")
    folders = getattr(settings, _FIELDS[param.inside])
    try:
        paths = [allowed_path(text, folders, param.inside) for text in texts]
    except PathRefused as refused:
        raise _fail(spec, f"{param.name}: {refused}.") from None
    return paths if param.many else paths[0]


def _listed(
    spec: RunbookSpec, param: ParamSpec, value: str, shown: str, settings: Settings
) -> None:
    """Refuse `value` unless it matches an entry of the setting `param.listed_in`."""
    if param.listed_in is None:
        return
    entries: tuple[str, ...] = getattr(settings, _FIELDS[param.listed_in])
    if any(fnmatch.fnmatchcase(value, entry) for entry in entries):
        return
    if not entries:
        raise _fail(
            spec,
            f"{param.name} {shown} is not allowed: {param.listed_in} is empty, so no "
            f"{param.name} is (an administrator lists the allowed ones there).",
        )
    raise _fail(
        spec,
        f"{param.name} {shown} is not allowed: {param.listed_in} lists {', '.join(entries)}.",
    )


def _fail(spec: RunbookSpec, problem: str) -> UsageError:
    return UsageError(f"{problem} Usage: `{spec.usage()}`")

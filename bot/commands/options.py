"""Options (`--at TIME`, `--by @bob`) read out of a command line wherever they stand.

A scribe types the time first or last or mid-sentence; wherever it stands, a known
option is taken as that option and never becomes part of a title, summary or note.
Any other `--word` is refused rather than kept as text (a typo such as `--ta` must not
slip into the record); words in backticks are text, so `` `--force` `` can be written.
A known option whose dashes a keyboard made into one long dash (`—at`) is still taken.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from bot.errors import UsageError

_TOKEN = re.compile(r"\S+")
_OPTION = re.compile(r"(--[A-Za-z][\w-]*)(?:=(.*))?")
_DASHED = re.compile(r"[\u2013\u2014]([A-Za-z][\w-]*)(?:=(.*))?")  # en or em dash
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CLOCK = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?([+-]\d{2}:?\d{2}|Z)?$", re.IGNORECASE)


class Takes(Enum):
    """What an option's value is."""

    TIME = "a time"  # one word, or a date and a clock time
    PERSON = "@name or nobody"
    SHARE = "a share like 12%"


@dataclass(frozen=True)
class Options:
    """The options found (name -> value as typed) and the line without them."""

    values: dict[str, str]
    rest: str


def take_options(
    text: str, allowed: Mapping[str, Takes], *, command: str, takes_text: bool = False
) -> Options:
    """Find every option in `text`; the rest keeps its own spacing.

    Raises UsageError for an unknown or ambiguous option, one given twice, or one
    without a value. `takes_text` adds how to keep a `--word` as text to the refusal.
    """
    tokens = [(found.start(), found.end(), found.group()) for found in _TOKEN.finditer(text)]
    values: dict[str, str] = {}
    cuts: list[tuple[int, int]] = []
    in_code = False
    index = 0
    while index < len(tokens):
        start, _, word = tokens[index]
        in_code_before = in_code
        if word.count("`") % 2:
            in_code = not in_code
        option = None if in_code_before else _option(word, allowed)
        if option is None:
            index += 1
            continue
        name = _known(option[0], allowed, command, takes_text)
        if name in values:
            raise UsageError(f"`{name}` is given twice.")
        if option[1] is not None:
            value, used = option[1], 0
        else:
            value, used = _value([token for _, _, token in tokens[index + 1 :]], allowed[name])
        if not value:
            raise UsageError(f"`{name}` needs {allowed[name].value}.")
        values[name] = value
        cuts.append((start, tokens[index + used][1]))
        index += 1 + used
    return Options(values=values, rest=_without(text, cuts))


def _option(word: str, allowed: Mapping[str, Takes]) -> tuple[str, str | None] | None:
    """The option a word names and the value it carries (`--at=15:01`), if it is one."""
    found = _OPTION.fullmatch(word)
    if found is not None:
        return found.group(1).lower(), found.group(2)
    dashed = _DASHED.fullmatch(word)
    name = f"--{dashed.group(1).lower()}" if dashed else ""
    return (name, dashed.group(2)) if dashed and name in allowed else None


def _known(word: str, allowed: Mapping[str, Takes], command: str, takes_text: bool) -> str:
    if word in allowed:
        return word
    names = [f"`{name}`" for name in allowed]
    near = [f"`{name}`" for name in allowed if name.startswith(word)]
    if len(near) > 1:
        raise UsageError(f"`{word}` is ambiguous for {command}: {' or '.join(near)}?")
    takes = f"its options are {', '.join(names)}" if names else "it takes no options"
    hint = " (put a `--word` meant as text in backticks)" if takes_text else ""
    raise UsageError(f"Unknown option `{word}` for {command}; {takes}{hint}.")


def _value(following: list[str], takes: Takes) -> tuple[str, int]:
    """The value after an option, as typed, and how many words it took."""
    if not following or _OPTION.fullmatch(following[0]):
        return "", 0
    first, *others = following
    if takes is Takes.TIME and _DATE.match(first) and others and _CLOCK.match(others[0]):
        return f"{first} {others[0]}", 2
    return first, 1


def _without(text: str, cuts: list[tuple[int, int]]) -> str:
    """`text` without the spans cut, each with the space before it."""
    kept = []
    position = 0
    for start, end in cuts:
        kept.append(text[position:start].rstrip())
        position = end
    kept.append(text[position:])
    return "".join(kept).strip()

"""The blameless review's rules files, read, checked and compiled into a `RuleSet`.

Apart from `bot.postmortems.blameless`, which lints with them: one rules file per
language (`en.toml`, or `<language>.json`) in `bot/postmortems/blameless_rules/`,
or in a folder of one's own. A file that cannot be used is a ConfigError naming it.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from bot import resources
from bot.errors import ConfigError

RULE_SUFFIXES = (".toml", ".json")
ACTION_ITEM_CONTEXT = "action-item"


@dataclass(frozen=True)
class Rule:
    """One rule from a rules file, its patterns compiled."""

    id: str
    patterns: tuple[re.Pattern[str], ...]
    why: str
    suggestion: str
    keywords: tuple[str, ...]
    action_items_only: bool
    exceptions: tuple[re.Pattern[str], ...]
    # The keywords as written, found as the patterns find them (case-insensitively);
    # None for a rule without keywords. Only needed where that differs from finding
    # them casefolded: in text, or keywords, beyond ASCII (a dotless i matches `i`).
    keyword_search: re.Pattern[str] | None = None
    ascii_keywords: bool = True


@dataclass(frozen=True)
class RuleSet:
    """Everything one language's rules file says."""

    rules: tuple[Rule, ...]
    not_people: frozenset[str]
    action_headings: re.Pattern[str]
    # Every rule's keywords in one: most text holds none, and one search says so.
    shortcut: re.Pattern[str] | None
    keywords: frozenset[str] = frozenset()  # every rule's keywords, casefolded


def rules_root(rules_dir: str | Path | None) -> Traversable:
    """The folder holding the rules files: the given one, or the package's own."""
    if rules_dir is not None:
        return Path(rules_dir)
    return resources.blameless_rules()


def load_rules(entry: Traversable) -> RuleSet:
    """The rules of one rules file, checked and compiled; ConfigError says what is wrong."""
    return _compile(_read(entry), entry.name)


def _read(entry: Traversable) -> dict[str, Any]:
    """The parsed content of a TOML or JSON rules file."""
    text = entry.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if entry.name.endswith(".toml") else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as problem:
        raise ConfigError(f"Rules file {entry.name} cannot be read: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Rules file {entry.name} must hold a table of settings.")
    return data


def _compile(data: Mapping[str, Any], source: str) -> RuleSet:
    """The rules of a parsed file, checked and compiled."""
    placeholders = data.get("placeholders", {})
    if not isinstance(placeholders, dict) or not all(
        isinstance(value, str) for value in placeholders.values()
    ):
        raise ConfigError(f"{source}: `placeholders` must map names to patterns.")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ConfigError(f"{source}: `rules` must be a non-empty list.")
    rules = tuple(_rule(raw, placeholders, source) for raw in raw_rules)
    headings = _strings(data, "action_headings", source) or (r"action\s+items?",)
    return RuleSet(
        rules=rules,
        not_people=frozenset(word.casefold() for word in _strings(data, "not_people", source)),
        action_headings=_regex("|".join(f"(?:{h})" for h in headings), source, {}),
        shortcut=_shortcut(rules),
        keywords=frozenset(word for rule in rules for word in rule.keywords),
    )


def _shortcut(rules: Sequence[Rule]) -> re.Pattern[str] | None:
    """One search for any rule's keywords, or None when a rule has no keywords."""
    if any(not rule.keywords for rule in rules):
        return None
    return _any_word([word for rule in rules for word in rule.keywords])


def _rule(raw: Any, placeholders: Mapping[str, str], source: str) -> Rule:
    """One rule of a rules file, checked and compiled."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: every rule must be a table.")
    missing = [key for key in ("id", "why", "suggestion") if not isinstance(raw.get(key), str)]
    if missing:
        raise ConfigError(f"{source}: rule {raw.get('id', '?')!r} needs {', '.join(missing)}.")
    where = f"{source}, rule {raw['id']!r}"
    context = raw.get("context")
    if context not in (None, ACTION_ITEM_CONTEXT):
        raise ConfigError(f"{where}: unknown context {context!r}; use {ACTION_ITEM_CONTEXT!r}.")
    patterns = _strings(raw, "patterns", where)
    keywords = _strings(raw, "keywords", where)
    if not patterns:
        raise ConfigError(f"{where}: `patterns` must list at least one pattern.")
    return Rule(
        id=raw["id"],
        patterns=tuple(_regex(p, where, placeholders) for p in patterns),
        why=raw["why"],
        suggestion=raw["suggestion"],
        keywords=tuple(word.casefold() for word in keywords),
        action_items_only=context == ACTION_ITEM_CONTEXT,
        exceptions=tuple(
            _regex(p, where, placeholders) for p in _strings(raw, "exceptions", where)
        ),
        keyword_search=_any_word(keywords, re.IGNORECASE),
        ascii_keywords=all(word.isascii() for word in keywords),
    )


def _any_word(words: Sequence[str], flags: int = 0) -> re.Pattern[str] | None:
    """One search for any of `words`, longest first, or None for no words."""
    if not words:
        return None
    ordered = sorted(set(words), key=lambda word: (-len(word), word))
    return re.compile("|".join(re.escape(word) for word in ordered), flags)


def _strings(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    """An optional list of strings from a rules table."""
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where}: `{key}` must be a list of strings.")
    return tuple(value)


def _regex(pattern: str, where: str, placeholders: Mapping[str, str]) -> re.Pattern[str]:
    """A case-insensitive pattern with its `{placeholders}` filled in."""
    for name, value in placeholders.items():
        pattern = pattern.replace("{" + name + "}", value)
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as problem:
        raise ConfigError(f"{where}: bad pattern {pattern!r}: {problem}") from None

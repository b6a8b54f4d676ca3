"""Reading a runbook file's declarations as plain values, without running any of it.

What `@runbook(...)`, `@step(...)` and the SDK's calls are given must be written
out in the file: strings, numbers, booleans, None, lists, tuples and dicts. This
module turns such AST nodes into values and reports anything else as a problem
with its file and line; `bot.runbooks.declarations` says what each value means.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bot.runbooks.spec import Problem, parse_duration

V = TypeVar("V")

SDK_MODULE = "bot.runbooks.sdk"
SDK_NAMES = ("runbook", "step", "on_failure", "Param", "Approval", "Retry", "on_declare")

_SHOWN_LENGTH = 60


class Reported(Exception):
    """A problem was reported; the value being read is unusable."""


class LiteralReader:
    """Reads plain values out of one parsed file, collecting its problems."""

    def __init__(self, path: Path, tree: ast.Module) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.aliases = {name: name for name in SDK_NAMES}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == SDK_MODULE:
                for alias in node.names:
                    if alias.name in SDK_NAMES:
                        self.aliases[alias.asname or alias.name] = alias.name

    def problem(self, node: ast.AST | int, message: str) -> None:
        line = node if isinstance(node, int) else getattr(node, "lineno", 0)
        self.problems.append(Problem(self.path, line, message))

    def fail(self, node: ast.AST | int, message: str) -> Reported:
        self.problem(node, message)
        return Reported()

    def attempt(self, fallback: V, read: Callable[..., V], *args: Any) -> V:
        """`read(*args)`, or `fallback` when it reported a problem."""
        try:
            return read(*args)
        except Reported:
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

    def not_plain(self, node: ast.AST) -> Reported:
        return self.fail(
            node,
            f"metadata must be written as plain values: `{shown(node)}` is computed "
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
            raise self.fail(node, f"{what} must be a string, not `{shown(node)}`")
        if not empty and not value.strip():
            raise self.fail(node, f"{what} must not be empty")
        return value

    def flag(self, node: ast.expr, what: str) -> bool:
        value = self.plain(node)
        if not isinstance(value, bool):
            raise self.fail(node, f"{what} must be True or False, not `{shown(node)}`")
        return value

    def number(self, node: ast.expr, what: str) -> float:
        value = self.plain(node)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(node, f"{what} must be a number, not `{shown(node)}`")
        return value

    def duration(self, node: ast.expr, what: str, *, positive: bool = True) -> float:
        value = self.plain(node)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(node, f"invalid duration for {what}: `{shown(node)}`")
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


def shown(node: ast.AST) -> str:
    """The source of `node` on one line, cut to a length that fits in a message."""
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 3] + "..."

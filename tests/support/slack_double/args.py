"""A method's arguments as Slack reads them, and the `ok: false` answers a method raises."""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    """A Slack `ok: false` answer raised by a method handler."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body: dict[str, Any] = {"ok": False, "error": error, **extra}


class MissingArgument(Exception):
    """A required argument is missing or empty; the reference says what Slack answers."""

    def __init__(self, arg: str) -> None:
        super().__init__(arg)
        self.arg = arg


def flag(args: dict[str, Any], name: str) -> bool:
    value = args.get(name)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def json_arg(args: dict[str, Any], name: str, error: str) -> Any:
    """An argument that arrives JSON-encoded in form bodies, or as JSON in JSON bodies."""
    value = args.get(name)
    if not isinstance(value, str):
        return value
    if value == "":
        return None
    try:
        return json.loads(value)
    except ValueError:
        raise ApiError(
            error, response_metadata={"messages": [f"[ERROR] {name}: invalid json"]}
        ) from None


def present(args: dict[str, Any], name: str) -> bool:
    return args.get(name) not in (None, "")


def require(args: dict[str, Any], name: str) -> Any:
    if not present(args, name):
        raise MissingArgument(name)
    return args[name]

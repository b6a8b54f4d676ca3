"""Lists as Slack pages them (`limit`, `cursor`, `response_metadata.next_cursor`), and the
`oldest` / `latest` / `inclusive` window over a conversation's messages.

A cursor names the first item of the next page (base64 of `next:<ts or id>`, like Slack's
opaque `bmV4dF90czox...`), so items added or removed between pages shift nothing.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.support.slack_double.args import ApiError, flag, present

CURSOR_PREFIX = "next:"


@dataclass(frozen=True)
class Paging:
    """How one method pages: its default and largest `limit`, what a bad one is called,
    which field orders the items, and in which direction."""

    default_limit: int
    max_limit: int
    limit_error: str
    field: str
    order: Callable[[str], Any]
    newest_first: bool = False


def ts_order(ts: str) -> Decimal:
    """A ts as a number, exactly (a float cannot hold every microsecond)."""
    return Decimal(ts)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    has_more: bool
    next_cursor: str  # "" on the last page

    @property
    def response_metadata(self) -> dict[str, Any]:
        return {"next_cursor": self.next_cursor}


def page(items: list[dict[str, Any]], args: dict[str, Any], paging: Paging) -> Page:
    """The page of `items` that `limit` and `cursor` ask for."""

    def rank(item: dict[str, Any]) -> Any:
        return paging.order(item[paging.field])

    ranked = sorted(items, key=rank, reverse=paging.newest_first)
    start = _cursor_start(args, paging)
    if start is not None and paging.newest_first:
        ranked = [item for item in ranked if rank(item) <= start]
    elif start is not None:
        ranked = [item for item in ranked if rank(item) >= start]
    limit = _limit(args, paging)
    shown, rest = ranked[:limit], ranked[limit:]
    return Page(shown, bool(rest), cursor_for(str(rest[0][paging.field])) if rest else "")


def cursor_for(value: str) -> str:
    return base64.b64encode(f"{CURSOR_PREFIX}{value}".encode()).decode("ascii")


def _cursor_start(args: dict[str, Any], paging: Paging) -> Any:
    if not present(args, "cursor"):
        return None
    try:
        decoded = base64.b64decode(str(args["cursor"]), validate=True).decode("utf-8")
        if not decoded.startswith(CURSOR_PREFIX):
            raise ValueError(decoded)
        return paging.order(decoded.removeprefix(CURSOR_PREFIX))
    except (binascii.Error, ValueError, ArithmeticError):
        raise ApiError("invalid_cursor") from None


def _limit(args: dict[str, Any], paging: Paging) -> int:
    """`limit` as Slack reads it: a whole number, the default when 0 or missing, capped."""
    if not present(args, "limit"):
        return paging.default_limit
    try:
        limit = int(args["limit"])
    except (TypeError, ValueError):
        raise ApiError(paging.limit_error) from None
    return paging.default_limit if limit < 1 else min(limit, paging.max_limit)


def in_window(messages: list[dict[str, Any]], args: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages after `oldest` and before `latest` (or at them, when `inclusive`)."""
    oldest = _ts_arg(args, "oldest", "invalid_ts_oldest")
    latest = _ts_arg(args, "latest", "invalid_ts_latest")
    inclusive = flag(args, "inclusive")

    def inside(message: dict[str, Any]) -> bool:
        ts = ts_order(message["ts"])
        after = oldest is None or ts > oldest or (inclusive and ts == oldest)
        before = latest is None or ts < latest or (inclusive and ts == latest)
        return after and before

    return [m for m in messages if inside(m)]


def _ts_arg(args: dict[str, Any], name: str, error: str) -> Decimal | None:
    if not present(args, name):
        return None
    try:
        value = ts_order(str(args[name]))
    except InvalidOperation:
        raise ApiError(error) from None
    if not value.is_finite() or value < 0:
        raise ApiError(error)
    return value

"""The clock: every component takes one, so tests can pass a clock they move themselves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock, in UTC."""
    return datetime.now(UTC)

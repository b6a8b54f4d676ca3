"""Waiting on a condition with a deadline, never on a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(predicate: Callable[[], T], timeout: float = 5.0, message: str = "") -> T:
    """Poll `predicate` until it returns something truthy (and return that).

    An AssertionError raised by the predicate counts as "not yet"; the last one is
    raised when time runs out, so a failing check says what it saw.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
            if result:
                return result
            failure: AssertionError | None = None
        except AssertionError as error:
            failure = error
        if time.monotonic() >= deadline:
            if failure is not None:
                raise failure
            raise AssertionError(f"not true within {timeout} s: {message or predicate}")
        time.sleep(0.01)

"""The Slack Web API client: slack_sdk's retry handlers, and how long each method must wait.

Connection errors and 5xx are retried with backoff. A 429 asking for a short wait
is waited out in place; a longer one ends the call, and `MethodThrottles` then holds
back that method only, so one throttled method never stalls unrelated work.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from http.client import RemoteDisconnected
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

MAX_RETRIES = 3
RATE_LIMITED = "rate_limited"  # the outcome counted for a 429
HELD = "held"  # the outcome counted for a call not made: its method is still throttled
# A 429 asking for a wait this short is waited out in place; a longer one is the caller's.
INLINE_RETRY_SECONDS = 1.0


class _ServerErrorRetry(ServerErrorRetryHandler):
    """Slack's 502 and 504 (from its edge) are as temporary as its 500 and 503."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in (500, 502, 503, 504)


# Who is told of each Slack answer: (method as Slack names it, outcome).
Answered = Callable[[str, str], None]


def not_counted(method: str, outcome: str) -> None:
    """The default: answers are not counted anywhere."""


def retry_after_seconds(headers: Mapping[str, Any]) -> float | None:
    """The seconds a 429's Retry-After header asks for; None when missing or unreadable."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if isinstance(value, list):  # slack_sdk's retry handlers see every header as a list
        value = value[0] if value else None
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class _CountedRateLimitRetry(RateLimitErrorRetryHandler):
    """slack_sdk's 429 retry for a short Retry-After (whole seconds, as it reads them),
    telling `answered` of each 429 it retries. A longer wait is not slept in a thread that
    other work may be queued behind: the 429 ends the call and `SlackChat` holds the method.
    """

    def __init__(self, answered: Answered, *, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._answered = answered

    def __deepcopy__(self, memo: dict[int, Any]) -> _CountedRateLimitRetry:
        """Shared, not copied: Bolt copies the client for each lazy listener, and what
        this tells (the metrics) must stay the one the process has."""
        return self

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after_seconds(response.headers)
        if wait is None or wait > INLINE_RETRY_SECONDS or not wait.is_integer():
            return False
        self._answered(request.url.rstrip("/").rsplit("/", 1)[-1], RATE_LIMITED)
        return True


def make_web_client(
    token: str, base_url: str, timeout: int = 10, *, answered: Answered = not_counted
) -> WebClient:
    """A WebClient that retries connection errors, 5xx and a 429 with a short Retry-After
    (after waiting it); `answered` hears of every 429 it retries."""
    backoff = BackoffRetryIntervalCalculator(backoff_factor=0.5)
    handlers: list[RetryHandler] = [
        ConnectionErrorRetryHandler(
            max_retry_count=MAX_RETRIES,
            interval_calculator=backoff,
            error_types=[URLError, ConnectionError, RemoteDisconnected, TimeoutError],
        ),
        _CountedRateLimitRetry(answered, max_retry_count=MAX_RETRIES),
        _ServerErrorRetry(max_retry_count=MAX_RETRIES, interval_calculator=backoff),
    ]
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=handlers)


class MethodThrottles:
    """Until when Slack asked each method to wait (on a monotonic clock), thread-safe."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def hold(self, method: str, seconds: float) -> None:
        """Slack asked `method` to wait `seconds` from now (a longer earlier wait stands)."""
        with self._lock:
            until = self._monotonic() + seconds
            self._until[method] = max(until, self._until.get(method, until))

    def remaining(self, method: str) -> float:
        """The seconds `method` must still wait; 0 when it may be called."""
        with self._lock:
            until = self._until.get(method)
            left = 0.0 if until is None else until - self._monotonic()
            if left <= 0:
                self._until.pop(method, None)
            return max(left, 0.0)

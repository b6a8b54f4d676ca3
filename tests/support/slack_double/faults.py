"""Fault injection: a whole-API outage, and queued per-method failures (429s with Retry-After,
5xx, `ok: false` errors) or slow answers."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from tests.support.slack_double.server import Reply

ANY_METHOD = "*"


@dataclass
class Fault:
    status: int
    error: str | None
    retry_after: int | None
    delay: float
    times: int


class Faults:
    """The outage switch and the queues of faults, one queue per method ("*" for any).

    `stopping` cuts an injected delay short, so stopping the double never waits on one.
    """

    def __init__(self, stopping: threading.Event) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = {}
        self._outage: str | bool = False
        self._stopping = stopping

    @property
    def outage(self) -> str | bool:
        return self._outage

    @outage.setter
    def outage(self, value: str | bool) -> None:
        if value not in (False, True, "503", "reset"):
            raise ValueError('outage is False, True (same as "503"), "503" or "reset"')
        self._outage = "503" if value is True else value

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Queue a fault for the next `times` calls to `method` (see SlackApiDouble.fail_next)."""
        if status is None and error is None and not delay:
            raise ValueError("give a status, an error or a delay")
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = Fault(status or 200, error, retry_after, delay, times)
        with self._lock:
            self._queues.setdefault(method, deque()).append(fault)

    def injected_reply(self, method: str) -> Reply | None:
        """The outage or fail_next() answer for this request, if any (after any delay)."""
        if self._outage == "reset":
            return Reply(0, reset=True)
        if self._outage:
            return Reply.json(503, {"ok": False, "error": "service_unavailable"})
        fault = self._take(method)
        if fault is None:
            return None
        if fault.delay:
            self._stopping.wait(fault.delay)  # stop() cuts the wait short
        return self._reply(fault)

    def _take(self, method: str) -> Fault | None:
        with self._lock:
            for key in (method, ANY_METHOD):
                queue = self._queues.get(key)
                if queue:
                    fault = queue[0]
                    fault.times -= 1
                    if fault.times <= 0:
                        queue.popleft()
                    return fault
        return None

    @staticmethod
    def _reply(fault: Fault) -> Reply | None:
        if fault.status == 429:
            body = {"ok": False, "error": fault.error or "ratelimited"}
            return Reply.json(429, body, **{"Retry-After": str(fault.retry_after)})
        if fault.status >= 500:
            default = "internal_error" if fault.status == 500 else "service_unavailable"
            return Reply.json(fault.status, {"ok": False, "error": fault.error or default})
        if fault.error:
            return Reply.json(fault.status, {"ok": False, "error": fault.error})
        return None  # only a delay

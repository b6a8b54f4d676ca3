"""What the bot holds in memory for runs in progress, and what "idle" means for them.

None of this is in the database: it is the run threads' own state, rebuilt by
`RunbookEngine.recover` after a restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from bot.runbooks.process import RunWorker


@dataclass
class Live:
    """One run in progress: its secrets, its signals, and the process its steps run in."""

    secrets: dict[str, str] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)  # another replica took it
    waiting: bool = False  # for a person, with nothing to do until they decide
    worker: RunWorker | None = None  # the process the run's steps run in


class Activity:
    """Counts the runs at work and, of those, the ones waiting for a person."""

    def __init__(self) -> None:
        self._busy = 0
        self._waiting = 0
        self._changed = threading.Condition()

    def started(self) -> None:
        """A run counts as busy from its launch, not from when a thread picks it up."""
        with self._changed:
            self._busy += 1

    def ended(self) -> None:
        with self._changed:
            self._busy -= 1
            self._changed.notify_all()

    def set_waiting(self, live: Live, waiting: bool) -> None:
        with self._changed:
            if live.waiting != waiting:
                live.waiting = waiting
                self._waiting += 1 if waiting else -1
                self._changed.notify_all()

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is executing a step (runs waiting for a person count as idle)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._busy == self._waiting, timeout)

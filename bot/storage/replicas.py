"""This process among the bot's replicas: the name its claims and leases carry."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock, utc_now


def replica_id() -> str:
    """This process's name among the replicas: its host, its pid and a random suffix
    (a restarted process with a reused pid is still another replica)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class LeaseTerms:
    """How this replica holds what it claims (runs, chat work, stored requests): its
    name, how long a hold lasts unrenewed, and the clock that measures it: the machine's
    wall clock (replicas' clocks agree within seconds, as NTP keeps them), never the
    domain clock tests move by hand."""

    replica: str
    lease: timedelta
    wall_clock: Clock = utc_now

    @classmethod
    def of(cls, replica: str, seconds: float) -> LeaseTerms:
        return cls(replica, timedelta(seconds=seconds))

    def until(self) -> datetime:
        """When a hold taken or renewed now lapses."""
        return self.wall_clock() + self.lease

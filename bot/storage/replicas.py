"""This process among the bot's replicas: the name its claims and leases carry."""

from __future__ import annotations

import os
import secrets
import socket


def replica_id() -> str:
    """This process's name among the replicas: its host, its pid and a random suffix
    (a restarted process with a reused pid is still another replica)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

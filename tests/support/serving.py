"""Serving a WSGI app on loopback with waitress, in a thread, until told to stop."""

from __future__ import annotations

import threading
from typing import Any

from waitress import wasyncore


class WaitressServing:
    """A waitress server run by a loop of ours: waitress's own run() loops until its
    socket map is empty, while this one can be told to stop, and closes everything in
    the thread that owns the sockets."""

    def __init__(self, server: Any, name: str = "http") -> None:
        self._server = server
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def start(self) -> int:
        """Serve in the background; returns the port."""
        self._thread.start()
        return self.port

    def _serve(self) -> None:
        server = self._server
        while not self._stopping.is_set():
            wasyncore.loop(timeout=0.05, map=server._map, use_poll=True, count=1)
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

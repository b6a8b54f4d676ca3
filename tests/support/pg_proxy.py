"""A TCP forwarder between the bot and PostgreSQL that a test can cut, as a restart would.

Cutting closes every forwarded connection at once and stops listening, so new connections
are refused (ECONNREFUSED, as from a server that is down) until the forwarder listens again
on the same port. The server itself is never touched: other tests keep using it.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.support.slack_requests import LOOPBACK

ACCEPT_POLL_SECONDS = 0.05
CHUNK = 65536
Pair = tuple[socket.socket, socket.socket]


class PostgresProxy:
    """Forwards 127.0.0.1:`port` to the server at `upstream`; `cut(seconds)` takes it down."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._pairs: set[Pair] = set()  # each forwarded connection: client side, server side
        self._listener: socket.socket | None = None
        self._listening = threading.Event()
        self._restore: threading.Timer | None = None
        self.port = 0
        self.cut_connections = 0  # connections that cuts closed

    def start(self) -> PostgresProxy:
        self._listen()
        return self

    @property
    def up(self) -> bool:
        return self._listening.is_set()

    def cut(self, seconds: float) -> None:
        """Close every connection and refuse new ones; listen again after `seconds`."""
        self._stop_listening()
        self.cut_connections += self._close_connections()
        self._restore = threading.Timer(seconds, self._listen)
        self._restore.daemon = True
        self._restore.start()

    def stop(self) -> None:
        if self._restore is not None:
            self._restore.cancel()
        self._stop_listening()
        self._close_connections()

    def __enter__(self) -> PostgresProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- listening

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(128)
        listener.settimeout(ACCEPT_POLL_SECONDS)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        self._listening.set()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _stop_listening(self) -> None:
        self._listening.clear()
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listening.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by a cut
                return
            try:
                server = socket.create_connection(self._upstream, timeout=10)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            server.settimeout(None)
            pair = (client, server)
            with self._lock:
                cut_meanwhile = self._listener is not listener
                if not cut_meanwhile:
                    self._pairs.add(pair)
            if cut_meanwhile:
                self._close(pair)
                return
            for source, target in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pump, args=(pair, source, target), daemon=True
                ).start()

    # ---- forwarding

    def _pump(self, pair: Pair, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                target.sendall(data)
        except OSError:
            pass
        finally:
            self._close(pair)

    def _close_connections(self) -> int:
        """Close every forwarded connection; returns how many there were."""
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            self._close(pair)
        return len(pairs)

    def _close(self, pair: Pair) -> None:
        with self._lock:
            self._pairs.discard(pair)
        for connection in pair:
            with contextlib.suppress(OSError):  # already closed
                connection.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked reading it
            connection.close()

"""Slack's side of Socket Mode for the tests: the WebSocket server and its Web API double.

As in bolt-python's own tests, Slack is played by two local servers: the Web API
double (which hands out the WebSocket URL from `apps.connections.open`, for an
app-level token only) and a WebSocket server on loopback that greets, sends
envelopes and collects acks.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from websockets.sync import server as sync_server

from tests.support.slack_double import Reply, SlackApiDouble

APP_TOKEN = "xapp-1-A0APP-1-socket-mode-test-token"


class SocketModeApiDouble(SlackApiDouble):
    """The Web API double, also answering `apps.connections.open` as Slack does.

    That method wants the app-level token (xapp-...); a bot token is refused with
    `not_allowed_token_type`. Every other method keeps wanting the bot token.
    """

    def __init__(self, socket_url: str) -> None:
        super().__init__()
        self.socket_url = socket_url

    def _answer_api(self, method: str, args: dict[str, Any], headers: dict[str, str]) -> Reply:
        if method != "apps.connections.open":
            return super()._answer_api(method, args, headers)
        authorization = headers.get("authorization", "")
        token = authorization.removeprefix("Bearer ").strip() or args.get("token")
        if token == self.token:
            return Reply.json(200, {"ok": False, "error": "not_allowed_token_type"})
        if token != APP_TOKEN:
            return Reply.json(200, {"ok": False, "error": "invalid_auth"})
        return Reply.json(200, {"ok": True, "url": self.socket_url})


class SocketModeServer:
    """Slack's side of the WebSocket: says hello, sends envelopes, records the acks."""

    def __init__(self) -> None:
        self._server = sync_server.serve(self._session, "127.0.0.1", 0, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._lock = threading.Lock()
        self.connections: list[Any] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/link"

    def __enter__(self) -> SocketModeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)

    def _session(self, connection: Any) -> None:
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "applink-test", "approximate_connection_time": 3600},
                    "connection_info": {"app_id": "A0APP"},
                }
            )
        )
        with self._lock:
            self.connections.append(connection)
        for raw in connection:  # until the client goes away
            message = json.loads(raw)
            with self._lock:
                self.received.append(message)
                if "envelope_id" in message:
                    self.acks[message["envelope_id"]] = message

    def send(self, envelope: dict[str, Any]) -> None:
        """Send on the newest connection (the one Slack would use)."""
        with self._lock:
            connection = self.connections[-1]
        connection.send(json.dumps(envelope))

    def hang_up(self, index: int | None = None) -> None:
        """Close one connection (all when `index` is None) from Slack's side."""
        with self._lock:
            chosen = self.connections if index is None else [self.connections[index]]
        for connection in chosen:
            connection.close()

    def ack_of(self, envelope_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self.acks.get(envelope_id)


def slash_envelope(envelope_id: str, text: str, *, user: str, channel: str, double) -> dict:
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {
            "token": "deprecated-verification-token",
            "team_id": double.team_id,
            "team_domain": "incident-double",
            "channel_id": channel,
            "channel_name": "",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/incident",
            "text": text,
            "api_app_id": "A0APP",
            "is_enterprise_install": "false",
            "response_url": double.response_url(envelope_id),
            "trigger_id": f"{envelope_id}.trigger",
        },
    }

"""Requests as Slack sends them to the bot's HTTP front: their bodies, their signature, one POST.

Kept as bytes, so a test can send the very same request twice (a replay is byte for byte
the one Slack sent: same body, same timestamp, same signature).
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tests.support.signing import slack_signature

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class SlashCommand:
    """Who typed a slash command, where, and where Slack takes the answer."""

    team_id: str
    channel_id: str
    user_id: str
    user_name: str
    command: str
    response_url: str
    channel_name: str = ""
    team_domain: str = "incident-double"
    api_app_id: str = "A0APP"


def slash_command_body(typed: SlashCommand, text: str, trigger_id: str) -> bytes:
    """A slash command as Slack posts it: a form body (the trigger_id makes each one unique)."""
    fields = {
        "token": "deprecated-verification-token",
        "team_id": typed.team_id,
        "team_domain": typed.team_domain,
        "channel_id": typed.channel_id,
        "channel_name": typed.channel_name,
        "user_id": typed.user_id,
        "user_name": typed.user_name,
        "command": typed.command,
        "text": text,
        "api_app_id": typed.api_app_id,
        "is_enterprise_install": "false",
        "response_url": typed.response_url,
        "trigger_id": trigger_id,
    }
    return urlencode(fields).encode()


def event_body(event: dict[str, Any], *, team_id: str, event_id: str, bot_user_id: str) -> bytes:
    """An Events API delivery of `event` (JSON), as Slack posts it."""
    now = time.time()
    body = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "api_app_id": "A0APP",
        "event": {"event_ts": f"{now:.6f}", **event},
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(now),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
    }
    return json.dumps(body).encode()


def signed_headers(
    secret: str, body: bytes, content_type: str, timestamp: str | None = None
) -> dict[str, str]:
    """The headers of `body` signed as Slack signs it, at `timestamp` (default: now)."""
    timestamp = timestamp or str(int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(secret, timestamp, body),
    }


@dataclass(frozen=True)
class Answer:
    """What the bot answered: status 0 when the connection failed or no answer came in time."""

    status: int
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def post(port: int, path: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
    """POST one request over a new connection to 127.0.0.1:`port`, as Slack does."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.read())
    except (OSError, http.client.HTTPException):  # refused, reset, timed out: no answer
        return Answer(0)
    finally:
        connection.close()

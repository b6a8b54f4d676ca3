"""The Slack app in Socket Mode: envelopes in over a real WebSocket, acks back on it.

As in bolt-python's own tests, Slack is played by two local servers: the Web API double
(which hands out the WebSocket URL from `apps.connections.open`, for an app-level token
only) and a WebSocket server on loopback that greets, sends envelopes and collects acks.
The bot side is the real thing: the app from `build(..., socket_mode=True)` behind
slack_bolt's `SocketModeHandler` and slack_sdk's built-in Socket Mode client.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.slack.server import build
from bot.config import Settings
from bot.storage.models import Incident, TimelineEvent
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_harness import CountingExecutor, count_listeners, set_up
from tests.support.slack_users import ALICE, BOB
from tests.support.socket_mode import (
    APP_TOKEN,
    SocketModeApiDouble,
    SocketModeServer,
    slash_envelope,
)
from tests.support.waiting import eventually


@pytest.fixture
def socket_server() -> Iterator[SocketModeServer]:
    with SocketModeServer() as server:
        yield server


@pytest.fixture
def double(socket_server: SocketModeServer) -> Iterator[SlackApiDouble]:
    with SocketModeApiDouble(socket_server.url) as running:
        running.add_user(ALICE, "alice")
        running.add_user(BOB, "bob")
        running.add_channel("incidents")
        yield running
    assert running.server_errors == []


@dataclasses.dataclass
class Connected:
    handler: SocketModeHandler
    listeners: CountingExecutor

    def settle(self) -> None:
        eventually(lambda: self.listeners.idle, message="listeners still running")


@pytest.fixture
def connected(
    settings: Settings,
    session_factory: sessionmaker[Session],
    double: SlackApiDouble,
    socket_server: SocketModeServer,
) -> Iterator[Connected]:
    """The bot, connected in Socket Mode as `run` connects it."""
    socket_settings = dataclasses.replace(
        settings,
        slack_bot_token=double.token,
        slack_app_token=APP_TOKEN,
        slack_signing_secret="",
        slack_api_url=double.base_url,
    )
    bot = build(socket_settings, session_factory, socket_mode=True)
    listeners = count_listeners(bot.app)
    handler = SocketModeHandler(bot.app, APP_TOKEN)
    bot.application.deliverer.start()  # chat work goes out from the delivery pool, as in `run`
    handler.connect()  # type: ignore[no-untyped-call]
    try:
        eventually(lambda: socket_server.connections, message="the bot did not connect")
        yield Connected(handler, listeners)
    finally:
        # The client reads with a 3 s timeout while holding the lock close() needs; a
        # close from Slack's side ends that read at once. No reconnecting after it.
        handler.client.auto_reconnect_enabled = False
        socket_server.hang_up()
        handler.close()  # type: ignore[no-untyped-call]
        listeners.shutdown(wait=True)
        bot.application.deliverer.stop()


def event_envelope(
    envelope_id: str, event: dict[str, Any], *, double, retry: int = 0, event_id: str = ""
) -> dict:
    return {
        "envelope_id": envelope_id,
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": retry,
        "retry_reason": "timeout" if retry else "",
        "payload": {
            "token": "deprecated-verification-token",
            "team_id": double.team_id,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id or f"Ev-{envelope_id}",
            "event_time": int(time.time()),
            "event": {"event_ts": str(time.time()), **event},
            "authorizations": [
                {"team_id": double.team_id, "user_id": double.bot_user_id, "is_bot": True}
            ],
        },
    }


def the_incident(session_factory: sessionmaker[Session]) -> Incident | None:
    with session_factory() as session:
        return session.scalar(select(Incident).where(Incident.number == 1))


def test_connection_is_opened_with_the_app_token(connected: Connected, double: SlackApiDouble):
    opened = double.calls_to("apps.connections.open")
    assert len(opened) == 1
    assert opened[0].response["ok"] is True


def test_envelopes_are_acked_and_acted_on(
    connected: Connected,
    socket_server: SocketModeServer,
    double: SlackApiDouble,
    session_factory: sessionmaker[Session],
):
    room = double.add_channel("war-room", members=[ALICE, BOB])
    declare = slash_envelope(
        "e1", "declare sev2 Checkout API returns 500s", user=ALICE, channel=room, double=double
    )
    socket_server.send(declare)
    assert eventually(lambda: socket_server.ack_of("e1")) == {"envelope_id": "e1"}
    reply = eventually(lambda: double.responses_to("e1"))
    assert "Declared INC-1" in reply[0]["text"]
    found = eventually(lambda: set_up(session_factory), timeout=10)
    assert found.channel_name == "inc-1-checkout-api-returns-500s"
    assert double.messages_in("incidents")
    channel = found.channel_id

    mention = {
        "type": "app_mention",
        "user": ALICE,
        "channel": channel,
        "text": f"<@{double.bot_user_id}> status identified",
        "ts": "1764000000.000100",
    }
    socket_server.send(event_envelope("e2", mention, double=double))
    assert eventually(lambda: socket_server.ack_of("e2")) == {"envelope_id": "e2"}
    eventually(lambda: the_incident(session_factory).status == "identified")
    eventually(lambda: any("identified" in m["text"] for m in double.messages_in(channel)[1:]))

    ts = double.add_message(channel, "error rate is falling", user=BOB)
    pin = {
        "type": "reaction_added",
        "user": ALICE,
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "item_user": BOB,
    }
    socket_server.send(event_envelope("e3", pin, double=double))
    assert eventually(lambda: socket_server.ack_of("e3")) == {"envelope_id": "e3"}

    def captured() -> list[TimelineEvent]:
        with session_factory() as session:
            query = select(TimelineEvent).where(TimelineEvent.kind == "chat_message")
            return list(session.scalars(query))

    entry = eventually(captured)[0]
    assert (entry.text, entry.data["author"]) == ("error rate is falling", BOB)
    eventually(lambda: any(m.get("thread_ts") == ts for m in double.messages_in(channel)[2:]))

    # Slack redelivers the event in a new envelope (retry_attempt 1): acked, nothing added.
    socket_server.send(event_envelope("e4", pin, double=double, retry=1, event_id="Ev-e3"))
    assert eventually(lambda: socket_server.ack_of("e4")) == {"envelope_id": "e4"}
    connected.settle()
    assert len(captured()) == 1

    # A button in the pinned summary, clicked: an `interactive` envelope.
    summary = next(m for m in double.messages_in(channel) if m["ts"] == found.summary_message_ref)
    elements = next(b for b in summary["blocks"] if b["type"] == "actions")["elements"]
    monitoring = next(e for e in elements if e.get("value") == "status INC-1 monitoring")
    click = {
        "envelope_id": "e5",
        "type": "interactive",
        "accepts_response_payload": False,
        "payload": {
            "type": "block_actions",
            "team": {"id": double.team_id, "domain": "incident-double"},
            "user": {"id": ALICE, "username": "alice", "team_id": double.team_id},
            "api_app_id": "A0APP",
            "trigger_id": "e5.trigger",
            "container": {"type": "message", "message_ts": summary["ts"], "channel_id": channel},
            "channel": {"id": channel, "name": found.channel_name},
            "message": {"type": "message", "ts": summary["ts"]},
            "response_url": double.response_url("e5"),
            "actions": [{**monitoring, "block_id": "incident_actions", "action_ts": "1.2"}],
        },
    }
    socket_server.send(click)
    assert eventually(lambda: socket_server.ack_of("e5")) == {"envelope_id": "e5"}
    eventually(lambda: the_incident(session_factory).status == "monitoring")


def test_a_disconnect_request_reconnects_and_work_continues(
    connected: Connected,
    socket_server: SocketModeServer,
    double: SlackApiDouble,
    session_factory: sessionmaker[Session],
):
    socket_server.send({"type": "disconnect", "reason": "refresh_requested"})
    eventually(lambda: len(double.calls_to("apps.connections.open")) == 2)
    eventually(lambda: len(socket_server.connections) == 2)
    socket_server.hang_up(0)  # Slack closes the old connection once the new one is up

    room = double.add_channel("war-room", members=[ALICE])
    socket_server.send(
        slash_envelope("e9", "declare Search is slow", user=ALICE, channel=room, double=double)
    )
    assert eventually(lambda: socket_server.ack_of("e9")) == {"envelope_id": "e9"}
    eventually(lambda: double.responses_to("e9"))
    assert the_incident(session_factory).title == "Search is slow"

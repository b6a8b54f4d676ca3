"""The real Bolt app behind a real HTTP server, and a Slack that signs requests to it.

The app comes from `bot.chat.slack.server.build(...)`, exactly as `run` builds it, and is
served on 127.0.0.1 by the same front `run` serves it with (`server.http_server`: waitress
with the body cap, Bolt's WSGI adapter that refuses bodies it cannot read). Its Web API calls go
to a `SlackApiDouble`. The helpers send what Slack sends: slash commands and interactions
as form bodies, events as JSON, each signed with the app's signing secret::

    with SlackApiDouble() as double, BotServer(settings, session_factory, double) as bot:
        bot.slash("declare sev2 Checkout is down", user="U0ALICE", channel=general)
        eventually(lambda: double.calls_to("pins.add"))

Listeners run after the ack in Bolt's thread pool, so tests wait for effects with
`eventually(...)` rather than sleeping. Like `run`, the server delivers chat work from
the background delivery pool and replays the requests that a stopped replica stored
but never handled (`bot.chat.slack.replay`); runbook recovery is left to the runbook
tests.
"""

from __future__ import annotations

import dataclasses
import http.client
import itertools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from slack_bolt import App
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import Application
from bot.chat.slack.client import SlackChat
from bot.chat.slack.replay import Replayer
from bot.chat.slack.server import EVENTS_PATH, build, http_server
from bot.commands.handler import CommandHandler
from bot.config import Settings
from bot.storage import outbox
from bot.storage.models import InboxRequest, Incident, OutboxItem
from tests.support.db_reads import snapshot
from tests.support.serving import WaitressServing
from tests.support.signing import slack_signature
from tests.support.slack_double import SlackApiDouble
from tests.support.waiting import eventually

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
T = TypeVar("T")


# --------------------------------------------------------------------------- signing


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


# --------------------------------------------------------------------------- the database


def domain_snapshot(session_factory: sessionmaker[Session]) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but the inbox, which keeps each request a test sends, and
    the delivery leases, which come and go as chat work is delivered."""
    rows = snapshot(session_factory)
    del rows["inbox"], rows["delivery_leases"]
    return rows


def unhandled_requests(session_factory: sessionmaker[Session]) -> list[str]:
    """The keys of the stored requests not marked handled (yet)."""
    with session_factory() as session:
        query = select(InboxRequest.key).where(InboxRequest.handled_at.is_(None))
        return list(session.scalars(query.order_by(InboxRequest.key)))


def set_up(session_factory: sessionmaker[Session], number: int = 1) -> Incident | None:
    """INC-`number` once its channel is set up and announced (all its chat work is out):
    a declare is answered before that, as the delivery pool does it in the background."""
    with session_factory() as session:
        found = session.scalar(select(Incident).where(Incident.number == number))
        if found is None or found.summary_message_ref is None:
            return None
        waiting = select(OutboxItem.id).where(
            OutboxItem.incident_id == found.id, OutboxItem.delivered_at.is_(None)
        )
        return None if session.scalars(waiting).first() is not None else found


# --------------------------------------------------------------------------- the server


class CountingExecutor(Executor):
    """Bolt's listener pool, counting the listeners that have not finished yet.

    A listener acks and then keeps working; `idle` tells a test when every one is done,
    for checks that something did *not* happen (a redelivered event changing nothing).
    """

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._running = 0

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._running == 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def counted() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self._running -= 1

        with self._lock:
            self._running += 1
        try:
            return self.inner.submit(counted)
        except BaseException:
            with self._lock:
                self._running -= 1
            raise

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)


def count_listeners(app: App) -> CountingExecutor:
    """Make the app's listener pool countable. Bolt keeps it on its listener runner, and
    the lazy listener runner (where every listener's work runs) holds it too."""
    runner = app._listener_runner  # type: ignore[attr-defined]
    counting = CountingExecutor(runner.listener_executor)
    runner.listener_executor = counting
    runner.lazy_listener_runner.executor = counting
    return counting


class BotServer:
    """The bot's Bolt app built like `run` builds it, served over HTTP on loopback."""

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        double: SlackApiDouble,
        *,
        signing_secret: str = SIGNING_SECRET,
        team_id: str | None = None,
    ) -> None:
        self.double = double
        self.session_factory = session_factory
        self.signing_secret = signing_secret
        self.team_id = team_id or double.team_id
        self.settings = dataclasses.replace(
            settings,
            slack_bot_token=double.token,
            slack_signing_secret=signing_secret,
            slack_api_url=double.base_url,
        )
        built = build(self.settings, session_factory, socket_mode=False)
        self.application: Application = built.application
        self.chat: SlackChat = built.chat
        self.handler: CommandHandler = built.application.handler
        self.app: App = built.app
        self.endpoints = built.endpoints
        self.replayer: Replayer = built.replayer
        self.listeners = count_listeners(self.app)
        self._serving: WaitressServing | None = None
        self._ids = itertools.count(1)

    # ---- lifecycle

    def start(self) -> BotServer:
        server = http_server(
            self.app, self.settings, host="127.0.0.1", port=0, threads=8, others=self.endpoints
        )
        self.application.deliverer.start()
        self.replayer.start()
        self._serving = WaitressServing(server, name="bot-http")
        self._serving.start()
        return self

    def stop(self) -> None:
        """Stop serving and replaying, wait for listeners still working after their ack,
        then stop delivering."""
        if self._serving is not None:
            self._serving.stop()
            self._serving = None
        self.replayer.stop()
        self.listeners.shutdown(wait=True)
        self.application.deliverer.stop()

    def __enter__(self) -> BotServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until every listener has finished its work after the ack."""
        eventually(lambda: self.listeners.idle, timeout, "listeners still running")

    def settle_chat(self, timeout: float = 5.0) -> None:
        """`settle`, then wait until the chat work it caused has gone out too."""
        self.settle(timeout)
        eventually(self._delivered, timeout, "chat work still waiting")

    def _delivered(self) -> bool:
        with self.session_factory() as session:
            return outbox.pending_count(session) == 0

    @property
    def port(self) -> int:
        assert self._serving is not None, "the bot is not serving"
        return self._serving.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{EVENTS_PATH}"

    # ---- raw requests

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: str | None = None,
        signature: str | None = None,
        signed: bool = True,
        headers: dict[str, str] | None = None,
    ) -> HttpAnswer:
        """POST `body` to the events path, signed like Slack unless told otherwise."""
        sent = {"Content-Type": content_type, **(headers or {})}
        if signed:
            timestamp = timestamp or str(int(time.time()))
            sent["X-Slack-Request-Timestamp"] = timestamp
            sent["X-Slack-Signature"] = signature or slack_signature(
                self.signing_secret, timestamp, body
            )
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("POST", EVENTS_PATH, body=body, headers=sent)
            response = connection.getresponse()
            return HttpAnswer(
                status=response.status,
                headers={k.lower(): v for k, v in response.getheaders()},
                body=response.read(),
            )
        finally:
            connection.close()

    def post_form(self, fields: dict[str, str], **options: Any) -> HttpAnswer:
        body = urlencode(fields).encode()
        return self.post(body, "application/x-www-form-urlencoded", **options)

    def post_json(self, data: dict[str, Any], **options: Any) -> HttpAnswer:
        return self.post(json.dumps(data).encode(), "application/json", **options)

    # ---- what Slack sends

    def slash(
        self,
        text: str,
        *,
        user: str,
        channel: str,
        response_url: str | None = None,
        command: str | None = None,
        **options: Any,
    ) -> HttpAnswer:
        """A slash command; the answer to `response_url` lands in double.responses_to(it)."""
        fields = self.slash_fields(
            text, user=user, channel=channel, response_url=response_url, command=command
        )
        return self.post_form(fields, **options)

    def slash_fields(
        self,
        text: str,
        *,
        user: str,
        channel: str,
        response_url: str | None = None,
        command: str | None = None,
    ) -> dict[str, str]:
        """The form fields of a slash command, as Slack sends them (and Bolt reads them)."""
        return {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "team_domain": "incident-double",
            "channel_id": channel,
            "channel_name": "",
            "user_id": user,
            "user_name": user.lower(),
            "command": command or self.settings.command_name,
            "text": text,
            "api_app_id": "A0APP",
            "is_enterprise_install": "false",
            "response_url": self.double.response_url(response_url or "slash"),
            "trigger_id": self.trigger_id(),
        }

    def interaction(self, payload: dict[str, Any], **options: Any) -> HttpAnswer:
        """An interaction: the form body `payload=<json>`."""
        return self.post_form({"payload": json.dumps(payload)}, **options)

    def block_action(
        self,
        action: dict[str, Any],
        *,
        user: str,
        channel: str,
        message_ts: str | None = None,
        response_url: str = "action",
        ephemeral: bool = False,
    ) -> HttpAnswer:
        """A click on a button or a menu choice in a message (one only its reader sees,
        when `ephemeral`)."""
        payload = {
            "type": "block_actions",
            "team": {"id": self.team_id, "domain": "incident-double"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": "A0APP",
            "token": "deprecated-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts or "",
                "channel_id": channel,
                "is_ephemeral": ephemeral,
            },
            "trigger_id": self.trigger_id(),
            "channel": {"id": channel, "name": ""},
            "message": {"type": "message", "ts": message_ts or ""},
            "response_url": self.double.response_url(response_url),
            "actions": [{"block_id": "incident_actions", "action_ts": str(time.time()), **action}],
        }
        return self.interaction(payload)

    def view_submission(
        self, view: dict[str, Any], values: dict[str, dict[str, Any]], *, user: str
    ) -> HttpAnswer:
        """Submitting an opened modal; `values` is block_id -> the element's state."""
        submitted = {
            **view,
            "state": {"values": {block: {"value": v} for block, v in values.items()}},
        }
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "incident-double"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": "A0APP",
            "token": "deprecated-verification-token",
            "trigger_id": self.trigger_id(),
            "view": submitted,
            "response_urls": [],
        }
        return self.interaction(payload)

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        **options: Any,
    ) -> HttpAnswer:
        """An Events API delivery; a redelivery carries X-Slack-Retry-Num."""
        body = self.event_body(event, event_id=event_id)
        headers = dict(options.pop("headers", None) or {})
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return self.post_json(body, headers=headers, **options)

    def event_body(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """The JSON body of an Events API delivery of `event`."""
        return {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "api_app_id": "A0APP",
            "event": {"event_ts": str(time.time()), **event},
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.double.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }

    def trigger_id(self) -> str:
        return f"{next(self._ids)}.1234567890.trigger"

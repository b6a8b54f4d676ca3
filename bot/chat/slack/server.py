"""Serving the Bolt app: Socket Mode, or HTTP behind a threaded production WSGI server."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from sqlalchemy.orm import Session, sessionmaker
from waitress import create_server

from bot.app import Application
from bot.chat.port import ChatRejected, ChatUnavailable
from bot.chat.slack.app import create_app
from bot.chat.slack.client import SlackChat
from bot.chat.slack.health import Readiness, endpoints
from bot.chat.slack.http_front import WsgiApp, create_http_server
from bot.chat.slack.metrics import BotMetrics, replica_name
from bot.chat.slack.replay import Replayer
from bot.chat.slack.services import SlackServices
from bot.chat.slack.web_client import make_web_client
from bot.clock import Clock, utc_now
from bot.config import Settings
from bot.storage.replicas import LeaseTerms

log = logging.getLogger(__name__)
HTTP_THREADS = 16
HEALTH_THREADS = 2
EVENTS_PATH = "/slack/events"


@dataclass(frozen=True)
class SlackBot:
    """The application on the Slack chat, the Bolt app in front of it, and the replayer of
    the requests stopped replicas left (started with the application)."""

    application: Application
    chat: SlackChat
    app: App
    endpoints: WsgiApp  # /healthz, /readyz and /metrics
    replayer: Replayer


def build(
    settings: Settings,
    session_factory: sessionmaker[Session],
    *,
    socket_mode: bool,
    clock: Clock = utc_now,
) -> SlackBot:
    """The Slack chat, the application on it, the Bolt app and its health endpoints."""
    metrics = BotMetrics(
        replica=replica_name(settings.replica_id), session_factory=session_factory, clock=clock
    )
    chat = SlackChat(
        make_web_client(
            settings.slack_bot_token, settings.slack_api_url, answered=metrics.slack_call
        ),
        private_channels=settings.slack_private_channels,
        answered=metrics.slack_call,
    )
    # Over Slack, chat work goes out from the delivery pool, never from a request's thread.
    application = Application(
        settings,
        session_factory=session_factory,
        chat=chat,
        clock=clock,
        deliver_in_background=True,
    )
    services = SlackServices(
        settings=settings,
        handler=application.handler,
        capture=application.capture,
        chat=chat,
        session_factory=session_factory,
        clock=clock,
        replica=application.replica,
    )
    app = create_app(services, socket_mode=socket_mode, observe_ack=metrics.ack)
    replayer = Replayer(
        app,
        session_factory,
        terms=LeaseTerms.of(application.replica, settings.inbox_lease_seconds),
        # A SQLite file has one bot process: a request another name holds is an orphan.
        sole_process=settings.database_url.startswith("sqlite"),
    )
    readiness = Readiness(
        session_factory,
        max_outbox_age=timedelta(seconds=settings.ready_outbox_max_age),
        clock=clock,
    )
    return SlackBot(application, chat, app, endpoints(readiness, metrics), replayer)


def http_server(
    app: App,
    settings: Settings,
    *,
    host: str,
    port: int,
    threads: int = HTTP_THREADS,
    others: WsgiApp | None = None,
) -> Any:
    """The waitress server in front of the Bolt app, as `run` serves it (tests serve the same);
    `others` answers every path but Slack's (the health endpoints)."""
    return create_http_server(
        app,
        path=EVENTS_PATH,
        host=host,
        port=port,
        max_body_bytes=settings.slack_max_body_bytes,
        threads=threads,
        others=others,
    )


def endpoints_server(bot: SlackBot, *, host: str, port: int) -> Any:
    """Socket Mode's own small HTTP server for the health endpoints."""
    return create_server(bot.endpoints, host=host, port=port, threads=HEALTH_THREADS)


def _learn_bot_user_id(chat: SlackChat, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            log.info("Connected to Slack as %s", chat.bot_user_id)
            return
        except (ChatUnavailable, ChatRejected) as error:
            log.warning("Slack did not say who the bot is yet (%s); retrying", error)
            stop.wait(10)


def _stop_on_sigterm() -> None:
    """SIGTERM (a deploy, `docker stop`, Kubernetes) stops the bot as Ctrl-C does: the
    calls under way finish and its leases are given up for the other replicas at once."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def run(settings: Settings, session_factory: sessionmaker[Session], host: str, port: int) -> None:
    """Serve until interrupted; pending chat work is replayed at start and retried meanwhile,
    and so are the requests that stopped replicas acknowledged but never handled."""
    _stop_on_sigterm()
    socket_mode = bool(settings.slack_app_token)
    bot = build(settings, session_factory, socket_mode=socket_mode)
    app = bot.app
    stop = threading.Event()
    threading.Thread(target=_learn_bot_user_id, args=(bot.chat, stop), daemon=True).start()
    bot.application.start()
    bot.replayer.start()
    try:
        if socket_mode:
            health = endpoints_server(bot, host=host, port=settings.health_port)
            threading.Thread(target=health.run, name="health", daemon=True).start()
            log.info(
                "Serving /healthz, /readyz and /metrics on http://%s:%s",
                host,
                health.effective_port,
            )
            log.info("Connecting to Slack in Socket Mode")
            SocketModeHandler(app, settings.slack_app_token).start()  # type: ignore[no-untyped-call]
        else:
            log.info("Serving Slack requests on http://%s:%s%s", host, port, EVENTS_PATH)
            http_server(app, settings, host=host, port=port, others=bot.endpoints).run()
    finally:
        stop.set()
        bot.replayer.stop()
        bot.application.stop()

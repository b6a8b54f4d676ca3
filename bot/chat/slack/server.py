"""Serving the Bolt app: Socket Mode, or HTTP behind a threaded production WSGI server."""

from __future__ import annotations

import logging
import threading

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.orm import Session, sessionmaker
from waitress import serve

from bot.chat.port import ChatRejected, ChatUnavailable
from bot.chat.slack.app import create_app
from bot.chat.slack.client import SlackChat, make_web_client
from bot.commands.handler import CommandHandler
from bot.config import Settings

log = logging.getLogger(__name__)
HTTP_THREADS = 16
EVENTS_PATH = "/slack/events"


def build(
    settings: Settings, session_factory: sessionmaker[Session], *, socket_mode: bool
) -> tuple[SlackChat, CommandHandler, App]:
    """The Slack chat, the command path on it, and the Bolt app."""
    chat = SlackChat(
        make_web_client(settings.slack_bot_token, settings.slack_api_url),
        private_channels=settings.slack_private_channels,
    )
    handler = CommandHandler(settings=settings, session_factory=session_factory, chat=chat)
    app = create_app(settings=settings, handler=handler, chat=chat, socket_mode=socket_mode)
    return chat, handler, app


def _learn_bot_user_id(chat: SlackChat, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            log.info("Connected to Slack as %s", chat.bot_user_id)
            return
        except (ChatUnavailable, ChatRejected) as error:
            log.warning("Slack did not say who the bot is yet (%s); retrying", error)
            stop.wait(10)


def run(settings: Settings, session_factory: sessionmaker[Session], host: str, port: int) -> None:
    """Serve until interrupted; pending chat work is replayed at start and retried meanwhile."""
    socket_mode = bool(settings.slack_app_token)
    chat, handler, app = build(settings, session_factory, socket_mode=socket_mode)
    stop = threading.Event()
    threading.Thread(target=_learn_bot_user_id, args=(chat, stop), daemon=True).start()
    handler.deliverer.start()
    handler.runbooks.recover()
    try:
        if socket_mode:
            log.info("Connecting to Slack in Socket Mode")
            SocketModeHandler(app, settings.slack_app_token).start()  # type: ignore[no-untyped-call]
        else:
            log.info("Serving Slack requests on http://%s:%s%s", host, port, EVENTS_PATH)
            serve(
                SlackRequestHandler(app, path=EVENTS_PATH),
                host=host,
                port=port,
                threads=HTTP_THREADS,
            )
    finally:
        stop.set()
        handler.deliverer.stop()
        handler.runbooks.shutdown()

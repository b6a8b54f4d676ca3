"""The Bolt app: one place that builds it and registers every listener."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult

from bot.chat.port import Reply
from bot.chat.slack import buttons, capture_events, forms, slash
from bot.chat.slack.blocks import payload
from bot.chat.slack.client import SlackChat
from bot.commands import inbox
from bot.commands.capture import MessageCapture
from bot.commands.handler import CommandHandler
from bot.config import Settings

log = logging.getLogger(__name__)
LISTENER_THREADS = 16


@dataclass
class SlackServices:
    """What the listeners need: the shared command path and the Slack client."""

    settings: Settings
    handler: CommandHandler
    capture: MessageCapture
    chat: SlackChat

    def first_delivery(self, event_key: str | None) -> bool:
        """True unless this Slack event was already acted on."""
        if event_key is None:
            return True
        with self.handler.session_factory() as session:
            first = inbox.claim(session, event_key, now=self.handler.clock())
            session.commit()
        return first

    def tell(self, *, user: str, channel: str | None, reply: Reply | None) -> None:
        """Answer one person privately: ephemeral in the channel, else a direct message."""
        if reply is None:
            return
        message = payload(reply.message)
        try:
            if channel:
                self.chat.client.chat_postEphemeral(channel=channel, user=user, **message)
                return
        except Exception as error:  # not a member there: fall back to a direct message
            log.info("Ephemeral answer to %s in %s failed (%s); sending a DM", user, channel, error)
        try:
            self.chat.client.chat_postMessage(channel=user, **message)
        except Exception:
            log.exception("Could not answer %s", user)


def create_app(
    *, settings: Settings, handler: CommandHandler, chat: SlackChat, socket_mode: bool
) -> App:
    """Build the Bolt app; nothing here talks to Slack until a request arrives."""

    def authorize(**_: Any) -> AuthorizeResult:
        # No network here: Slack being slow must not stop a request from being handled.
        return AuthorizeResult(
            enterprise_id=None,
            team_id=None,
            bot_token=settings.slack_bot_token,
            bot_user_id=chat.known_bot_user_id,
        )

    app = App(
        client=chat.client,
        signing_secret=settings.slack_signing_secret or None,
        authorize=authorize,
        request_verification_enabled=not socket_mode,
        token_verification_enabled=False,
        process_before_response=False,
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS),
    )
    services = SlackServices(
        settings=settings, handler=handler, capture=MessageCapture(handler), chat=chat
    )
    slash.register(app, services)
    forms.register(app, services)
    buttons.register(app, services)
    capture_events.register(app, services)
    return app

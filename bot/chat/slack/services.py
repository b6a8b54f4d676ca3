"""What the Slack listeners share: the command path, capture, the Slack client, sessions."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.chat.port import Reply
from bot.chat.slack.blocks import payload
from bot.chat.slack.client import SlackChat
from bot.clock import Clock
from bot.commands import inbox
from bot.commands.capture import MessageCapture
from bot.commands.handler import CommandHandler
from bot.config import Settings

log = logging.getLogger(__name__)


@dataclass
class SlackServices:
    """What the listeners need, handed to each listener module's `register`."""

    settings: Settings
    handler: CommandHandler
    capture: MessageCapture
    chat: SlackChat
    session_factory: sessionmaker[Session]
    clock: Clock
    replica: str  # this process's name on the requests it stores and replays

    def finish(self, key: str) -> None:
        """Mark a stored request handled, unless something already did; never raises (a
        request left unmarked is replayed, and a replay of it changes nothing)."""
        try:
            with self.session_factory() as session:
                inbox.finish(session, key, now=self.clock())
                session.commit()
        except Exception as error:
            log.warning(
                "Could not mark %s handled (%s); it will be replayed", key, inbox.in_one_line(error)
            )

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

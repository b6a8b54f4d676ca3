"""Chat messages people mark go on the timeline, and follow their edits and unmarking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.chat import messages
from bot.chat.port import Reply
from bot.commands import inbox
from bot.commands.services import CommandServices
from bot.errors import IncidentBotError, UsageError
from bot.incidents import lifecycle, timeline
from bot.storage import outbox
from bot.storage.models import Incident
from bot.storage.outbox import ConfirmCapture


@dataclass(frozen=True)
class ChatMessage:
    """A message as the chat knows it."""

    channel_id: str
    author: str
    text: str
    posted_at: datetime
    message_ref: str | None = None  # the chat's id of the message, to follow it and reply in thread
    permalink: str | None = None

    @property
    def source_ref(self) -> str | None:
        return f"{self.channel_id}/{self.message_ref}" if self.message_ref else None


class MessageCapture:
    """Adds, edits and removes captured chat messages, each at most once per chat request.

    `request_key` is the chat's id for the request (the event) that asks for it; its
    claim goes first in the transaction, so a redelivered or replayed event changes
    nothing.
    """

    def __init__(self, services: CommandServices) -> None:
        self.settings = services.settings
        self.session_factory = services.session_factory
        self.clock = services.clock
        self.deliver = services.deliver

    def add(
        self,
        message: ChatMessage,
        *,
        actor: str,
        request_key: str | None = None,
        confirm_in_thread: bool = False,
    ) -> Reply | None:
        """Put `message` on its channel's incident timeline at its original time."""
        try:
            with self.session_factory() as session:
                now = self.clock()
                if request_key is not None and not inbox.claim(session, request_key, now=now):
                    return None
                incident = self._incident(session, message.channel_id)
                if message.source_ref and timeline.find_captured(
                    session, incident=incident, source_ref=message.source_ref
                ):
                    session.commit()
                    return None
                event = timeline.record_chat_message(
                    session,
                    incident=incident,
                    actor=actor,
                    author=message.author,
                    text=message.text,
                    posted_at=message.posted_at,
                    now=now,
                    source_ref=message.source_ref,
                    reference={"permalink": message.permalink} if message.permalink else None,
                )
                if confirm_in_thread and message.message_ref:
                    session.flush()
                    work = ConfirmCapture(event_id=event.id, thread_ref=message.message_ref)
                    outbox.enqueue(session, incident=incident, work=work, now=now)
                session.commit()
                reply = Reply(messages.recorded(incident, event, self.settings.timezone))
        except IncidentBotError as problem:
            return Reply(messages.error(str(problem)))
        self.deliver(incident.id)
        return reply

    def edit(
        self, *, channel_id: str, message_ref: str, text: str, actor: str, request_key: str | None
    ) -> None:
        """A captured message was edited in chat: the entry follows, and the edit is recorded."""
        self._follow(channel_id, message_ref, actor, request_key, new_text=text)

    def remove(
        self, *, channel_id: str, message_ref: str, actor: str, request_key: str | None
    ) -> None:
        """Someone took their mark off: the entry leaves the timeline (the removal is recorded)."""
        self._follow(channel_id, message_ref, actor, request_key, new_text=None)

    def _follow(
        self,
        channel_id: str,
        message_ref: str,
        actor: str,
        request_key: str | None,
        *,
        new_text: str | None,
    ) -> None:
        with self.session_factory() as session:
            now = self.clock()
            if request_key is not None and not inbox.claim(session, request_key, now=now):
                return
            incident = lifecycle.incident_for_channel(session, channel_id)
            if incident is None:
                return
            entry = timeline.find_captured(
                session, incident=incident, source_ref=f"{channel_id}/{message_ref}"
            )
            if entry is None or incident.status == "closed":
                session.commit()
                return
            if new_text is None:
                timeline.delete_note(
                    session, incident=incident, event_id=entry.id, actor=actor, now=now
                )
            elif new_text.strip() and new_text != entry.text:
                timeline.edit_note(
                    session,
                    incident=incident,
                    event_id=entry.id,
                    actor=actor,
                    text=new_text,
                    now=now,
                )
            session.commit()

    def _incident(self, session: Session, channel_id: str) -> Incident:
        incident = lifecycle.incident_for_channel(session, channel_id)
        if incident is None:
            raise UsageError("Only messages in an incident's channel can go on a timeline.")
        lifecycle.refuse_if_closed(incident)
        return incident

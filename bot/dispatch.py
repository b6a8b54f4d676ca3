"""From a typed command to the domain and back: the one path every adapter uses.

Each command runs in its own session and commits before anything is said in
chat, so a chat failure can never lose what was recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TypedDict, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bot import actions, incidents, messages, roles, timeline
from bot.chat.port import ChatPort, Context, Message, Reply
from bot.commands import (
    ME,
    AddAction,
    AddNote,
    AssignRole,
    Close,
    Command,
    CompleteAction,
    Declare,
    DeleteNote,
    EditNote,
    Grammar,
    Help,
    ListOpen,
    Reopen,
    Resolve,
    SetMilestone,
    SetSeverity,
    SetStatus,
    Show,
    ShowTimeline,
    Targeted,
)
from bot.config import Settings
from bot.errors import IncidentBotError, UsageError
from bot.models import ActionKind, Incident, Status, TimelineEvent
from bot.naming import channel_name
from bot.when import Clock, parse_time, utc_now

log = logging.getLogger(__name__)
T = TypeVar("T")

UNEXPECTED = (
    "Something went wrong on our side and it has been logged. "
    "`show` tells what was recorded; please try again."
)


class _Common(TypedDict):
    """The arguments every domain change takes."""

    incident: Incident
    actor: str
    now: datetime


class CommandHandler:
    """Runs commands typed in any chat against the domain and answers in that chat."""

    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: sessionmaker[Session],
        chat: ChatPort,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.chat = chat
        self.clock = clock
        self.grammar = Grammar(settings.command_name, settings.severity_names)

    def handle(self, text: str, context: Context) -> Reply | None:
        """Run one command line; returns what to tell the person, if anything."""
        try:
            return self._run(self.grammar.parse(text), text, context)
        except IncidentBotError as problem:
            return Reply(messages.error(str(problem)))
        except Exception:
            log.exception("Unexpected error running %r for %s", text, context.actor)
            return Reply(messages.error(UNEXPECTED))

    def record_chat_message(
        self, context: Context, *, author: str, text: str, posted_at: datetime
    ) -> Reply:
        """Put a chat message someone marked on the timeline of the channel's incident."""
        try:
            with self.session_factory() as session:
                incident = self._incident_of_channel(session, context)
                incidents.refuse_if_closed(incident)
                event = timeline.record_chat_message(
                    session,
                    incident=incident,
                    actor=context.actor,
                    author=author,
                    text=text,
                    posted_at=posted_at,
                    now=self.clock(),
                )
                session.commit()
                return Reply(messages.recorded(incident, event, self.settings.timezone))
        except IncidentBotError as problem:
            return Reply(messages.error(str(problem)))

    # -- routing ---------------------------------------------------------------

    def _run(self, command: Command, text: str, context: Context) -> Reply | None:
        match command:
            case Help(topic=topic):
                return Reply(messages.help_message(self.grammar, topic))
            case Declare():
                return self._declare(command, context)
            case ListOpen():
                with self.session_factory() as session:
                    found = incidents.list_open(session)
                    return Reply(messages.incident_list(found, self.settings.timezone))
            case Show() | ShowTimeline():
                with self.session_factory() as session:
                    incident = self._target(session, command, text, context)
                    return Reply(self._view(session, incident, command))
            case _:
                return self._change(command, text, context)

    def _view(self, session: Session, incident: Incident, command: Command) -> Message:
        if isinstance(command, ShowTimeline):
            events = timeline.list_events(session, incident=incident)
            return messages.timeline(incident, events, self.settings.timezone, self.chat.mention)
        return messages.incident_summary(incident, self.settings, self.chat.mention)

    def _target(self, session: Session, command: Targeted, text: str, ctx: Context) -> Incident:
        if command.reference is not None:
            return incidents.get_incident(session, command.reference)
        if ctx.channel_id is not None:
            incident = incidents.incident_for_channel(session, ctx.channel_id)
            if incident is not None:
                return incident
        open_incidents = incidents.list_open(session)
        raise UsageError(messages.needs_incident(self.grammar, text, open_incidents))

    def _incident_of_channel(self, session: Session, ctx: Context) -> Incident:
        incident = (
            incidents.incident_for_channel(session, ctx.channel_id) if ctx.channel_id else None
        )
        if incident is None:
            raise UsageError("Only messages in an incident's channel can go on a timeline.")
        return incident

    # -- declaring ---------------------------------------------------------------

    def _declare(self, command: Declare, ctx: Context) -> Reply:
        with self.session_factory() as session:
            incident = incidents.declare(
                session,
                settings=self.settings,
                title=command.title,
                severity=command.severity,
                service=command.service,
                actor=ctx.actor,
                now=self.clock(),
            )
            session.commit()
        # The incident is safe in the database; chat work below may fail on its own.
        problems: list[str] = []
        channel = self._chat_step(
            problems,
            lambda: self.chat.create_channel(channel_name(incident.number, incident.title)),
        )
        if channel is not None:
            with self.session_factory() as session:
                incident = session.merge(incident)
                incident.channel_id, incident.channel_name = channel.id, channel.name
                session.commit()
                summary = messages.incident_summary(incident, self.settings, self.chat.mention)
                topic = messages.channel_topic(incident, self.chat.mention)
            self._chat_step(problems, lambda: self.chat.invite(channel.id, [ctx.actor]))
            self._chat_step(problems, lambda: self.chat.set_topic(channel.id, topic))
            posted = self._chat_step(problems, lambda: self.chat.post(channel.id, summary))
            if posted is not None:
                self._chat_step(problems, lambda: self.chat.pin(channel.id, posted))
        announcement = messages.declared_announcement(incident, self.chat.mention)
        self._chat_step(
            problems, lambda: self.chat.post(self.settings.announce_channel, announcement)
        )
        where = f" in #{channel.name}" if channel else ""
        text = f"Declared {incident.reference} ({incident.severity}): {incident.title}{where}."
        return Reply(self._with_problems(messages.done(text), problems), open_channel=channel)

    # -- changes ---------------------------------------------------------------

    def _change(self, command: Command, text: str, ctx: Context) -> Reply | None:
        assert isinstance(command, Targeted)
        with self.session_factory() as session:
            incident = self._target(session, command, text, ctx)
            event = self._apply(session, incident, command, ctx)
            session.commit()
            tz = self.settings.timezone
            if isinstance(command, AddNote | EditNote | DeleteNote):
                return Reply(messages.recorded(incident, event, tz))
            announcement = messages.change_announcement(incident, event, self.chat.mention)
            topic = messages.channel_topic(incident, self.chat.mention)
        problems: list[str] = []
        if incident.channel_id is not None:
            channel_id = incident.channel_id
            self._chat_step(problems, lambda: self.chat.post(channel_id, announcement))
            self._chat_step(problems, lambda: self.chat.set_topic(channel_id, topic))
            if ctx.channel_id == channel_id and not problems:
                return None  # the person sees the announcement in the channel itself
        return Reply(self._with_problems(messages.done(announcement.text), problems))

    def _apply(
        self, session: Session, incident: Incident, command: Command, ctx: Context
    ) -> TimelineEvent:
        if not isinstance(command, CompleteAction):
            # Follow-up work outlives the incident; nothing else may change once it is closed.
            incidents.refuse_if_closed(incident)
        now = self.clock()
        actor = ctx.actor
        common = _Common(incident=incident, actor=actor, now=now)
        match command:
            case SetStatus(status=status, at=at):
                to = incidents.parse_status(status)
                return incidents.change_status(session, to=to, at=self._time(at, now), **common)
            case Resolve(summary=summary):
                return incidents.change_status(
                    session, to=Status.RESOLVED, summary=summary, **common
                )
            case Close():
                return incidents.change_status(session, to=Status.CLOSED, **common)
            case Reopen():
                return incidents.reopen(session, **common)
            case SetSeverity(severity=severity):
                return incidents.change_severity(
                    session, settings=self.settings, severity=severity, **common
                )
            case SetMilestone(milestone=milestone, at=at):
                moment = self._time(at, now) or now
                return incidents.set_milestone(session, milestone=milestone, at=moment, **common)
            case AssignRole(role=role, holder=None):
                return roles.unassign_role(session, settings=self.settings, role=role, **common)
            case AssignRole(role=role, holder=str(holder)):
                holder = actor if holder == ME else holder
                return roles.assign_role(
                    session, settings=self.settings, role=role, holder=holder, **common
                )
            case AddNote(text=note, at=at):
                return timeline.add_note(
                    session, text=note, occurred_at=self._time(at, now), **common
                )
            case EditNote(note_id=note_id, text=note):
                return timeline.edit_note(session, event_id=note_id, text=note, **common)
            case DeleteNote(note_id=note_id):
                return timeline.delete_note(session, event_id=note_id, **common)
            case AddAction(text=item, owner=owner, due=due, kind=kind):
                return actions.add_action_item(
                    session,
                    text=item,
                    owner=actor if owner == ME else owner,
                    due_date=due,
                    kind=actions.parse_kind(kind) if kind else ActionKind.PREVENT,
                    **common,
                )
            case CompleteAction(item_id=item_id):
                return actions.complete_action_item(session, item_id=item_id, **common)
        raise AssertionError(f"no handler for {command!r}")

    def _time(self, typed: str | None, now: datetime) -> datetime | None:
        return parse_time(typed, now=now, tz=self.settings.timezone) if typed else None

    # -- chat work -------------------------------------------------------------

    def _chat_step(self, problems: list[str], step: Callable[[], T]) -> T | None:
        """Run one chat call; a failure is logged and noted, never raised."""
        try:
            return step()
        except Exception as error:
            log.warning("Chat call failed: %s", error, exc_info=True)
            problems.append(str(error) or type(error).__name__)
            return None

    @staticmethod
    def _with_problems(message: Message, problems: list[str]) -> Message:
        if not problems:
            return message
        note = "Recorded, but the chat did not take every update: " + "; ".join(problems)
        return Message(text=message.text, lines=(*message.lines, note), tone="warning")

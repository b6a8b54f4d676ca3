"""From a typed command to the domain and back: the one path every adapter uses.

Each command runs in its own session and commits before anything is said in
chat, so a chat failure can never lose what was recorded.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TypedDict

from sqlalchemy.orm import Session

from bot.chat import messages, run_messages
from bot.chat.port import Channel, Context, Message, Reply
from bot.commands.grammar import Grammar
from bot.commands.help import help_message
from bot.commands.runbooks import RunbookCommands
from bot.commands.services import CommandServices
from bot.commands.targets import find_target
from bot.commands.types import (
    ME,
    AddAction,
    AddNote,
    AssignRole,
    CancelRun,
    Close,
    Command,
    CompleteAction,
    DecideStep,
    Declare,
    DeleteNote,
    DraftPostmortem,
    EditNote,
    Help,
    ListOpen,
    ListRunbooks,
    Reopen,
    Resolve,
    SetMilestone,
    SetSeverity,
    SetStatus,
    Show,
    ShowRuns,
    ShowTimeline,
    StartRunbook,
    Targeted,
)
from bot.errors import IncidentBotError
from bot.incidents import actions, lifecycle, roles, timeline
from bot.incidents.permissions import NotAllowed, Permissions, record_refusal
from bot.postmortems import drafts, record
from bot.runbooks.engine import RunbookEngine
from bot.runbooks.triggers import run_triggers
from bot.storage import outbox
from bot.storage.models import MAX_ID, ActionKind, EventKind, Incident, Status, TimelineEvent
from bot.storage.outbox import (
    AnnounceDeclared,
    AnnounceEvent,
    Invite,
    OpenChannel,
    RefreshSummary,
    SharePostmortem,
)
from bot.times import parse_time

log = logging.getLogger(__name__)

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
        services: CommandServices,
        *,
        grammar: Grammar,
        runbooks: RunbookEngine,
        permissions: Permissions,
    ) -> None:
        self.settings = services.settings
        self.session_factory = services.session_factory
        self.clock = services.clock
        self.mention = services.mention
        self.deliver = services.deliver
        self.grammar = grammar
        self.runbooks = runbooks
        self.permissions = permissions
        self.runbook_commands = RunbookCommands(services, grammar=grammar, runbooks=runbooks)

    def handle(self, text: str, context: Context) -> Reply | None:
        """Run one command line; returns what to tell the person, if anything."""
        try:
            command = self.grammar.parse(text)
        except IncidentBotError as problem:
            return Reply(messages.error(str(problem)))
        return self.run(command, context, text)

    def run(self, command: Command, context: Context, text: str = "") -> Reply | None:
        """Run a command built from a line, a form or a button."""
        try:
            return self._run(command, text, context)
        except NotAllowed as refusal:
            self._record(refusal)
            return Reply(messages.not_allowed(refusal, self.mention))
        except IncidentBotError as problem:
            return Reply(messages.error(str(problem)))
        except Exception:
            log.exception("Unexpected error running %r for %s", command, context.actor)
            return Reply(messages.error(UNEXPECTED))

    def _record(self, refusal: NotAllowed) -> None:
        """Keep the refusal on the timeline; failing to must not hide the answer."""
        try:
            with self.session_factory() as session:
                record_refusal(session, refusal, self.clock())
                session.commit()
        except Exception:
            log.exception("Could not record the refusal of %r", refusal.doing)

    # -- routing ---------------------------------------------------------------

    def _run(self, command: Command, text: str, context: Context) -> Reply | None:
        match command:
            case Help(topic=topic):
                return Reply(help_message(self.grammar, topic))
            case Declare():
                return self._declare(command, context)
            case ListOpen():
                with self.session_factory() as session:
                    found = lifecycle.list_open(session)
                    return Reply(messages.incident_list(found, self.settings.timezone))
            case DraftPostmortem():
                return self._draft_postmortem(command, text, context)
            case ListRunbooks():
                catalog = self.runbooks.catalog()
                return Reply(run_messages.catalog_message(catalog, self.grammar.command_name))
            case StartRunbook():
                return self.runbook_commands.start(command, text, context)
            case ShowRuns():
                return self.runbook_commands.show_runs(command, text, context)
            case DecideStep() | CancelRun():
                return self.runbook_commands.steer(command, context)
            case Show() | ShowTimeline():
                with self.session_factory() as session:
                    incident = find_target(session, command, text, context, self.grammar)
                    return Reply(self._view(session, incident, command))
            case _:
                return self._change(command, text, context)

    def _view(self, session: Session, incident: Incident, command: Command) -> Message:
        if isinstance(command, ShowTimeline):
            events = timeline.list_events(session, incident=incident)
            return messages.timeline(incident, events, self.settings.timezone, self.mention)
        return messages.incident_summary(incident, self.settings, self.mention)

    # -- declaring ---------------------------------------------------------------

    def _declare(self, command: Declare, ctx: Context) -> Reply:
        now = self.clock()
        with self.session_factory() as session:
            incident = lifecycle.declare(
                session,
                settings=self.settings,
                title=command.title,
                severity=command.severity,
                service=command.service,
                description=command.description,
                started_at=self._time(command.started_at, now),
                actor=ctx.actor,
                now=now,
            )
            outbox.enqueue(session, incident=incident, work=OpenChannel(), now=now)
            outbox.enqueue(session, incident=incident, work=AnnounceDeclared(), now=now)
            session.commit()
        # The incident and its chat work are safe in the database; now tell the chat.
        lagging = self.deliver(incident.id)
        self._run_triggers(incident.id)
        with self.session_factory() as session:
            incident = session.get_one(Incident, incident.id)
        channel = (
            Channel(id=incident.channel_id, name=incident.channel_name or incident.channel_id)
            if incident.channel_id
            else None
        )
        where = f" in #{channel.name}" if channel else ""
        text = f"Declared {incident.reference} ({incident.severity}): {incident.title}{where}."
        return Reply(messages.lag_note(messages.done(text), lagging), open_channel=channel)

    # -- runbooks ---------------------------------------------------------------

    def _run_triggers(self, incident_id: int) -> None:
        """Start or offer matching runbooks; a failure here never undoes the change."""
        try:
            run_triggers(self.runbooks, incident_id)
        except Exception:
            log.exception("Runbook triggers failed for incident %s", incident_id)

    # -- postmortems ------------------------------------------------------------

    def _draft_postmortem(self, command: DraftPostmortem, text: str, ctx: Context) -> Reply:
        now = self.clock()
        with self.session_factory() as session:
            incident = find_target(session, command, text, ctx, self.grammar)
            review = record.open_postmortem(
                session, incident=incident, settings=self.settings, actor=ctx.actor, now=now
            )
            # Rendered now to check the template and review the text; shared by the outbox.
            draft = drafts.draft(
                session,
                incident,
                self.settings,
                now=now,
                template=command.template,
                fmt=command.fmt,
            )
            self._enqueue_postmortem(session, incident, now, command.template, command.fmt)
            session.commit()
            reply = messages.postmortem_drafted(incident, review, draft, self.mention)
        lagging = self.deliver(incident.id)
        return Reply(messages.lag_note(reply, lagging))

    @staticmethod
    def _enqueue_postmortem(
        session: Session, incident: Incident, now: datetime, template: str, fmt: str
    ) -> None:
        work = SharePostmortem(template=template, fmt=fmt)
        outbox.enqueue(session, incident=incident, work=work, now=now)

    # -- changes ---------------------------------------------------------------

    def _change(self, command: Command, text: str, ctx: Context) -> Reply | None:
        assert isinstance(command, Targeted)
        with self.session_factory() as session:
            incident = find_target(session, command, text, ctx, self.grammar)
            event = self._apply(session, incident, command, ctx)
            if isinstance(command, AddNote | EditNote | DeleteNote):
                session.commit()
                return Reply(messages.recorded(incident, event, self.settings.timezone))
            self._enqueue_announcement(session, incident, event)
            if self.settings.postmortem_auto_on_resolve and _resolves(event):
                record.open_postmortem(
                    session,
                    incident=incident,
                    settings=self.settings,
                    actor=ctx.actor,
                    now=event.recorded_at,
                )
                self._enqueue_postmortem(session, incident, event.recorded_at, "postmortem", "md")
            session.commit()
            announcement = messages.change_announcement(incident, event, self.mention)
        lagging = self.deliver(incident.id)
        if event.kind == EventKind.SEVERITY_CHANGED:
            self._run_triggers(incident.id)
        if ctx.channel_id == incident.channel_id and not lagging:
            return None  # the person sees the announcement in the channel itself
        return Reply(messages.lag_note(messages.done(announcement.text), lagging))

    def _enqueue_announcement(
        self, session: Session, incident: Incident, event: TimelineEvent
    ) -> None:
        now = event.recorded_at
        if event.kind == EventKind.ROLE_ASSIGNED:
            users = (str(event.data["holder"]),)
            outbox.enqueue(session, incident=incident, work=Invite(users=users), now=now)
        session.flush()  # the event needs its id for the outbox payload
        outbox.enqueue(session, incident=incident, work=AnnounceEvent(event_id=event.id), now=now)
        outbox.enqueue(session, incident=incident, work=RefreshSummary(), now=now)

    def _apply(
        self, session: Session, incident: Incident, command: Targeted, ctx: Context
    ) -> TimelineEvent:
        if not isinstance(command, CompleteAction):
            # Follow-up work outlives the incident; nothing else may change once it is closed.
            lifecycle.refuse_if_closed(incident)
        now = self.clock()
        actor = ctx.actor
        action = command.permission_on(incident.status)
        assert action is not None, f"{command!r} changes an incident but names no permission"
        owner = self._owner(session, incident, command)
        self.permissions.require(incident, actor, action, owner=owner)
        common = _Common(incident=incident, actor=actor, now=now)
        match command:
            case SetStatus(status=status, at=at):
                to = lifecycle.parse_status(status)
                return lifecycle.change_status(session, to=to, at=self._time(at, now), **common)
            case Resolve(summary=summary):
                return lifecycle.change_status(
                    session, to=Status.RESOLVED, summary=summary, **common
                )
            case Close():
                return lifecycle.change_status(session, to=Status.CLOSED, **common)
            case Reopen():
                return lifecycle.reopen(session, **common)
            case SetSeverity(severity=severity):
                return lifecycle.change_severity(
                    session, settings=self.settings, severity=severity, **common
                )
            case SetMilestone(milestone=milestone, at=at):
                moment = self._time(at, now) or now
                return lifecycle.set_milestone(session, milestone=milestone, at=moment, **common)
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

    def _owner(self, session: Session, incident: Incident, command: Targeted) -> str | None:
        """Who holds the role or wrote the note a command changes (None: nobody, or no such)."""
        match command:
            case AssignRole(role=role):
                return incident.current_roles().get(roles.parse_role(role, self.settings))
            case EditNote(note_id=note_id) | DeleteNote(note_id=note_id):
                note = session.get(TimelineEvent, note_id) if note_id <= MAX_ID else None
                if note is None or note.incident_id != incident.id or note.deleted_at:
                    return None  # the timeline says what is wrong with the id
                return note.actor if note.kind in timeline.NOTE_KINDS else None
        return None

    def _time(self, typed: str | None, now: datetime) -> datetime | None:
        return parse_time(typed, now=now, tz=self.settings.timezone) if typed else None


def _resolves(event: TimelineEvent) -> bool:
    return event.kind == EventKind.STATUS_CHANGED and event.data.get("to") == Status.RESOLVED

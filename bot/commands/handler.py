"""From a typed command to the domain and back: the one path every adapter uses.

Each command runs in its own session and commits before anything is said in
chat, so a chat failure can never lose what was recorded. Every transaction that
changes something first claims the command's request, so a replayed or redelivered
request is acted on once; a database that does not answer gets a few tries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from bot.chat import messages, record_messages, run_messages
from bot.chat.port import Channel, Context, Message, Reply
from bot.commands import changes
from bot.commands.grammar import Grammar
from bot.commands.help import help_message
from bot.commands.inbox import (
    AlreadyHandled,
    RequestClaim,
    database_unavailable,
    in_one_line,
)
from bot.commands.runbooks import RunbookCommands
from bot.commands.services import CommandServices
from bot.commands.targets import find_target
from bot.commands.typed_times import TypedTimes
from bot.commands.types import (
    AddNote,
    CancelRun,
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
    Show,
    ShowRuns,
    ShowTimeline,
    StartRunbook,
    Targeted,
)
from bot.errors import IncidentBotError
from bot.incidents import lifecycle, timeline
from bot.incidents.ordering import OutOfOrder
from bot.incidents.permissions import NotAllowed, Permissions, record_refusal
from bot.postmortems import drafts, record
from bot.runbooks.engine import RunbookEngine
from bot.runbooks.triggers import run_triggers
from bot.storage import outbox
from bot.storage.models import EventKind, Incident, Status, TimelineEvent
from bot.storage.outbox import (
    AnnounceDeclared,
    AnnounceEvent,
    Invite,
    OpenChannel,
    RefreshSummary,
    SharePostmortem,
)

log = logging.getLogger(__name__)

UNEXPECTED = (
    "Something went wrong on our side and it has been logged. "
    "`show` tells what was recorded; please try again."
)
# A database that does not answer gets this many tries, about 0.5 s and 1 s apart.
COMMAND_TRIES = 3


@dataclass(frozen=True)
class KeptForLater(Reply):
    """The answer when the database did not take a command: its request stays stored
    unhandled, and replaying it runs the command once the database is back."""


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
        """Run a command built from a line, a form or a button.

        A try that the database broke off is tried again while that is safe; nobody is
        told "failed" for what was saved, nor "done" for what was not.
        """
        claim = RequestClaim(context.request_key)
        retrying = Retrying(
            retry=retry_if_exception(lambda error: database_unavailable(error) and claim.may_retry),
            stop=stop_after_attempt(COMMAND_TRIES),
            wait=wait_exponential(multiplier=0.5, max=1.0),
            reraise=True,
        )
        try:
            return retrying(self._run, command, text, context, claim)
        except AlreadyHandled as repeated:
            if repeated.by_this_call:
                return Reply(messages.done_as_connection_broke())
            return Reply(messages.already_handled())
        except NotAllowed as refusal:
            self._record(refusal, claim)
            return Reply(messages.not_allowed(refusal, self.mention))
        except OutOfOrder as problem:
            return Reply(messages.error(problem.describe(self.settings.timezone)))
        except IncidentBotError as problem:
            return Reply(messages.error(str(problem)))
        except Exception as error:
            if database_unavailable(error):
                return self._database_away(command, context, error)
            log.exception("Unexpected error running %r for %s", command, context.actor)
            return Reply(messages.error(UNEXPECTED))

    def _database_away(self, command: Command, context: Context, error: Exception) -> Reply:
        reason = in_one_line(error)
        if context.request_key is None:
            log.warning("The database did not answer %r (%s)", command, reason)
            return Reply(messages.database_not_answering())
        log.warning(
            "The database did not answer %s (%s); it stays stored, to be replayed",
            context.request_key,
            reason,
        )
        return KeptForLater(messages.kept_for_later())

    def _record(self, refusal: NotAllowed, claim: RequestClaim) -> None:
        """Keep the refusal on the timeline; failing to must not hide the answer."""
        try:
            with self.session_factory() as session:
                claim.take(session, now=self.clock())
                record_refusal(session, refusal, self.clock())
                session.commit()
        except AlreadyHandled:
            return  # recorded when the request was first acted on
        except Exception:
            log.exception("Could not record the refusal of %r", refusal.doing)

    # -- routing ---------------------------------------------------------------

    def _run(
        self, command: Command, text: str, context: Context, claim: RequestClaim
    ) -> Reply | None:
        match command:
            case Help(topic=topic):
                return Reply(help_message(self.grammar, topic))
            case Declare():
                return self._declare(command, context, claim)
            case ListOpen():
                with self.session_factory() as session:
                    found = lifecycle.list_open(session)
                    return Reply(messages.incident_list(found, self.settings.timezone))
            case DraftPostmortem():
                return self._draft_postmortem(command, text, context, claim)
            case ListRunbooks():
                catalog = self.runbooks.catalog()
                return Reply(run_messages.catalog_message(catalog, self.grammar.command_name))
            case StartRunbook():
                return self.runbook_commands.start(command, text, context, claim)
            case ShowRuns():
                return self.runbook_commands.show_runs(command, text, context)
            case DecideStep() | CancelRun():
                return self.runbook_commands.steer(command, context, claim)
            case Show() | ShowTimeline():
                with self.session_factory() as session:
                    incident = find_target(session, command, text, context, self.grammar)
                    return Reply(self._view(session, incident, command))
            case _:
                return self._change(command, text, context, claim)

    def _view(self, session: Session, incident: Incident, command: Command) -> Message:
        if isinstance(command, ShowTimeline):
            events = timeline.list_events(session, incident=incident)
            return messages.timeline(incident, events, self.settings.timezone, self.mention)
        return messages.incident_summary(incident, self.settings, self.mention)

    # -- declaring ---------------------------------------------------------------

    def _declare(self, command: Declare, ctx: Context, claim: RequestClaim) -> Reply:
        now = self.clock()
        times = TypedTimes.about(None, now=now, tz=self.settings.timezone)
        with self.session_factory() as session:
            claim.take(session, now=now)
            incident = lifecycle.declare(
                session,
                settings=self.settings,
                title=command.title,
                severity=command.severity,
                service=command.service,
                description=command.description,
                started_at=times.read(command.started_at),
                declared_at=times.read(command.declared_at),
                actor=ctx.actor,
                now=now,
            )
            outbox.enqueue(session, incident=incident, work=OpenChannel(), now=now)
            outbox.enqueue(session, incident=incident, work=AnnounceDeclared(), now=now)
            session.commit()
        # The incident and its chat work are safe in the database; now tell the chat
        # (where delivery runs in the background, the channel may not be there yet).
        lagging = self.deliver(incident.id)
        self._run_triggers(incident.id)
        with self.session_factory() as session:
            incident = session.get_one(Incident, incident.id)
        channel = (
            Channel(id=incident.channel_id, name=incident.channel_name or incident.channel_id)
            if incident.channel_id
            else None
        )
        return Reply(messages.lag_note(messages.declared(incident), lagging), open_channel=channel)

    # -- runbooks ---------------------------------------------------------------

    def _run_triggers(self, incident_id: int) -> None:
        """Start or offer matching runbooks; a failure here never undoes the change."""
        try:
            run_triggers(self.runbooks, incident_id)
        except Exception:
            log.exception("Runbook triggers failed for incident %s", incident_id)

    # -- postmortems ------------------------------------------------------------

    def _draft_postmortem(
        self, command: DraftPostmortem, text: str, ctx: Context, claim: RequestClaim
    ) -> Reply:
        now = self.clock()
        with self.session_factory() as session:
            claim.take(session, now=now)
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

    def _change(
        self, command: Command, text: str, ctx: Context, claim: RequestClaim
    ) -> Reply | None:
        assert isinstance(command, Targeted)
        tz = self.settings.timezone
        with self.session_factory() as session:
            now = self.clock()
            claim.take(session, now=now)
            incident = find_target(session, command, text, ctx, self.grammar)
            times = TypedTimes.about(incident, now=now, tz=tz)
            event = self._apply(session, incident, command, ctx, times)
            day_note = _day_note(times, incident)
            if isinstance(command, AddNote | EditNote | DeleteNote):
                session.commit()
                recorded = messages.recorded(incident, event, tz)
                return Reply(record_messages.with_line(recorded, day_note))
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
            # The person sees the announcement in the channel itself.
            return Reply(Message(text=day_note)) if day_note else None
        answer = messages.lag_note(messages.done(announcement.text), lagging)
        return Reply(record_messages.with_line(answer, day_note))

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
        self,
        session: Session,
        incident: Incident,
        command: Targeted,
        ctx: Context,
        times: TypedTimes,
    ) -> TimelineEvent:
        if not isinstance(command, CompleteAction):
            # Follow-up work outlives the incident; nothing else may change once it is closed.
            lifecycle.refuse_if_closed(incident)
        actor = ctx.actor
        action = command.permission_on(incident.status)
        assert action is not None, f"{command!r} changes an incident but names no permission"
        owner = changes.owner_of(session, incident, command, self.settings)
        self.permissions.require(incident, actor, action, owner=owner)
        return changes.apply_change(
            session,
            incident=incident,
            command=command,
            actor=actor,
            settings=self.settings,
            times=times,
        )


def _day_note(times: TypedTimes, incident: Incident) -> str | None:
    """Which day bare clock times were taken on, when it was not today."""
    if times.day is None or not times.read_on_day:
        return None
    return record_messages.read_on_declaration_day(times.read_on_day, times.day, incident)


def _resolves(event: TimelineEvent) -> bool:
    return event.kind == EventKind.STATUS_CHANGED and event.data.get("to") == Status.RESOLVED

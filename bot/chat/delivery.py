"""Delivering the outbox to the chat, in order, until the chat has taken everything.

A chat that does not answer stops delivery until the next attempt (nothing is
lost, order is kept); a chat that refuses an item for good marks that item
failed and moves on, so one archived channel cannot block every incident.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import quote

from sqlalchemy.orm import Session, sessionmaker

from bot.chat import messages, run_messages
from bot.chat.port import ChatPort, ChatRejected, ChatUnavailable
from bot.clock import Clock, utc_now
from bot.config import Settings
from bot.errors import IncidentBotError
from bot.incidents.naming import channel_name
from bot.postmortems import drafts
from bot.storage import outbox
from bot.storage.models import Incident, OutboxItem, RunbookRun, TimelineEvent
from bot.storage.outbox import (
    AnnounceDeclared,
    AnnounceEvent,
    ConfirmCapture,
    Invite,
    OpenChannel,
    RefreshSummary,
    RunReport,
    SharePostmortem,
    Work,
    work_of,
)

log = logging.getLogger(__name__)
LOCK_WAIT_SECONDS = 10


class Deliverer:
    """Sends pending outbox items through a chat port."""

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
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def deliver_now(self, incident_id: int) -> bool:
        """Send pending chat work now; True when some of this incident's work still waits.

        Only work that waited when this call began counts: what another thread adds
        meanwhile (a runbook's next report) is not the chat lagging behind.
        """
        with self.session_factory() as session:
            newest = outbox.newest_pending_id(session, incident_id=incident_id)
        try:
            self.deliver_pending()
        except Exception:
            log.exception("Delivering chat work failed")
        if newest is None:
            return False
        with self.session_factory() as session:
            return outbox.waits_up_to(session, incident_id=incident_id, newest_id=newest)

    def deliver_pending(self) -> int:
        """Send what is pending; returns how many items still wait.

        One delivery runs at a time, to keep the order; a caller that cannot get
        its turn soon leaves the work to the delivery under way.
        """
        if not self._lock.acquire(timeout=LOCK_WAIT_SECONDS):
            with self.session_factory() as session:
                return outbox.pending_count(session)
        try:
            return self._deliver_all()
        finally:
            self._lock.release()

    def _deliver_all(self) -> int:
        with self.session_factory() as session:
            items = outbox.pending(session)
            latest = {_coalescing_key(item): item.id for item in items}
            for item in items:
                if latest[_coalescing_key(item)] != item.id:
                    item.delivered_at = self.clock()  # a later item shows the same and more
                    session.commit()
                    continue
                if not self._attempt(session, item):
                    break
            return outbox.pending_count(session)

    def _attempt(self, session: Session, item: OutboxItem) -> bool:
        """Deliver one item; False when the chat is unavailable and delivery should pause."""
        try:
            self._deliver(session, item)
        except ChatUnavailable as error:
            session.rollback()
            self._note_failure(session, item, error, give_up=False)
            log.warning(
                "Chat unavailable, %s for outbox item %s waits: %s", item.kind, item.id, error
            )
            return False
        except (ChatRejected, LookupError, IncidentBotError) as error:
            session.rollback()
            self._note_failure(session, item, error, give_up=True)
            log.error("Chat refused outbox item %s (%s): %s", item.id, item.kind, error)
            return True
        item.attempts += 1
        item.delivered_at = self.clock()
        session.commit()
        return True

    def _note_failure(
        self, session: Session, item: OutboxItem, error: Exception, *, give_up: bool
    ) -> None:
        item = session.merge(item)
        item.attempts += 1
        item.last_error = str(error) or type(error).__name__
        if give_up:
            item.failed_at = self.clock()
        session.commit()

    def _deliver(self, session: Session, item: OutboxItem) -> None:
        incident = item.incident
        if incident is None:
            raise LookupError(f"outbox item {item.id} has no incident")
        mention = self.chat.mention
        match work_of(item):
            case OpenChannel():
                self._open_channel(session, incident)
            case AnnounceDeclared():
                announcement = messages.declared_announcement(incident, mention)
                self.chat.post(self.settings.announce_channel, announcement)
            case AnnounceEvent(event_id=event_id):
                event = self._event(session, event_id)
                announcement = messages.change_announcement(incident, event, mention)
                self.chat.post(self._channel_of(incident), announcement)
            case ConfirmCapture(event_id=event_id, thread_ref=thread):
                confirmation = messages.captured(incident, self._event(session, event_id))
                self.chat.post(self._channel_of(incident), confirmation, thread_ref=thread)
            case RefreshSummary():
                channel_id = self._channel_of(incident)
                if incident.summary_message_ref is not None:
                    summary = messages.incident_summary(incident, self.settings, mention)
                    self.chat.update(channel_id, incident.summary_message_ref, summary)
                self.chat.set_topic(channel_id, messages.channel_topic(incident, mention))
            case SharePostmortem(template=template, fmt=fmt):
                # Rendered now, from what the database holds now: the newest draft is shared.
                draft = drafts.draft(
                    session, incident, self.settings, now=self.clock(), template=template, fmt=fmt
                )
                title = f"Postmortem draft for {incident.reference}: {incident.title}"
                self.chat.upload(self._channel_of(incident), draft.filename, draft.content, title)
            case RunReport(run_id=run_id):
                self._report_run(session, incident, run_id)
            case Invite(users=users):
                self.chat.invite(self._channel_of(incident), list(users))

    def _open_channel(self, session: Session, incident: Incident) -> None:
        # Each step is stored as soon as it is done, so a retry picks up where it stopped.
        if incident.channel_id is None:
            channel = self.chat.create_channel(channel_name(incident.number, incident.title))
            incident.channel_id, incident.channel_name = channel.id, channel.name
            session.commit()
        channel_id = self._channel_of(incident)
        people = {incident.declared_by, *incident.current_roles().values()}
        self.chat.invite(channel_id, sorted(people))
        mention = self.chat.mention
        self.chat.set_topic(channel_id, messages.channel_topic(incident, mention))
        self.chat.set_purpose(channel_id, f"{incident.reference}: {incident.title}")
        if incident.summary_message_ref is None:
            for title, url in self.settings.incident_links:
                self.chat.bookmark(channel_id, title, _fill_link(url, incident))
            summary = messages.incident_summary(incident, self.settings, mention)
            incident.summary_message_ref = self.chat.post(channel_id, summary)
            session.commit()
        self.chat.pin(channel_id, incident.summary_message_ref)

    def _report_run(self, session: Session, incident: Incident, run_id: int) -> None:
        run = session.get(RunbookRun, run_id)
        if run is None:
            raise LookupError(f"runbook run {run_id} is gone")
        report = run_messages.run_report(run, self.settings.timezone)
        channel_id = self._channel_of(incident)
        if run.message_ref is None:
            run.message_ref = self.chat.post(channel_id, report)
            session.commit()
        else:
            self.chat.update(channel_id, run.message_ref, report)

    @staticmethod
    def _event(session: Session, event_id: int) -> TimelineEvent:
        event = session.get(TimelineEvent, event_id)
        if event is None:
            raise LookupError(f"timeline event {event_id} is gone")
        return event

    @staticmethod
    def _channel_of(incident: Incident) -> str:
        if incident.channel_id is None:
            raise ChatRejected(f"{incident.reference} has no channel")
        return incident.channel_id

    # -- retrying in the background ------------------------------------------------

    def start(self, interval_seconds: float = 5.0) -> threading.Thread:
        """Keep delivering every `interval_seconds` until `stop()`; also replays after restarts."""
        self._stop.clear()
        thread = threading.Thread(
            target=self._loop, args=(interval_seconds,), name="outbox-delivery", daemon=True
        )
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, interval_seconds: float) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_pending()
            except Exception:
                log.exception("Outbox delivery failed; retrying in %s s", interval_seconds)
            self._stop.wait(interval_seconds)


def _fill_link(template: str, incident: Incident) -> str:
    """An INCIDENT_LINKS URL with `{service}` and `{reference}` filled in, each encoded whole
    (`/`, `?`, `#` and spaces too), so what someone typed cannot change where it points."""
    for name, value in (("service", incident.service or ""), ("reference", incident.reference)):
        template = template.replace(f"{{{name}}}", quote(value, safe=""))
    return template


def _coalescing_key(item: OutboxItem) -> tuple[object, ...]:
    """Pending items with the same key say the same thing and only the newest is sent:
    summary refreshes of one incident, reports of one run. Other work is never merged."""
    if item.kind == Work.REFRESH_SUMMARY:
        return (item.kind, item.incident_id)
    if item.kind == Work.RUN_REPORT:
        return (item.kind, item.payload["run_id"])
    return (item.id,)

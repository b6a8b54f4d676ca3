"""What each outbox item asks of the chat, done so that a retry never does it twice.

An item whose earlier attempt may have reached the chat (a timeout, a replica
killed mid-call) looks before it acts: a post carries a marker and is searched
for first, a channel is searched for by name before it is created. Opening an
incident's channel takes three steps one after another: create the channel;
then invite, topic, purpose, links, summary and the announcement all at once;
then pin the summary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from bot.chat import messages, run_messages
from bot.chat.port import ChatPort, ChatRejected, ChatUnavailable, Message
from bot.clock import Clock
from bot.config import Settings
from bot.incidents.naming import channel_name
from bot.postmortems import drafts
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
    work_of,
)

log = logging.getLogger(__name__)
# How far before an earlier attempt to look for what it may have posted (clocks differ).
LOOK_BACK = timedelta(minutes=1)


@dataclass(frozen=True)
class Announcement:
    """The declared announcement that goes out with the channel's set-up, and its item."""

    item: OutboxItem
    tried_since: datetime | None  # when an earlier attempt, which may have posted it, began


class ChatWorkSender:
    """Sends one outbox item's work through a chat port."""

    def __init__(
        self, *, settings: Settings, chat: ChatPort, clock: Clock, calls: Executor
    ) -> None:
        self.settings = settings
        self.chat = chat
        self.clock = clock
        self.calls = calls  # runs the channel set-up's calls side by side

    def may_double(self, session: Session, item: OutboxItem) -> bool:
        """Whether doing the item again could post or create a second time (so an attempt
        is recorded before it, and a retry looks first); updates and invites cannot."""
        match work_of(item):
            case RefreshSummary() | Invite():
                return False
            case RunReport(run_id=run_id):
                run = session.get(RunbookRun, run_id)
                return run is None or run.message_ref is None
        return True

    def send(
        self,
        session: Session,
        item: OutboxItem,
        *,
        tried_since: datetime | None,
        announcement: Announcement | None = None,
    ) -> Exception | None:
        """Do the item's work; `tried_since`: when an earlier attempt began, if one did.

        With `announcement` (an OpenChannel item), the announcement goes out with the
        set-up; what became of it is returned (None: posted) so it can be settled on
        its own, without failing the channel.
        """
        incident = item.incident
        if incident is None:
            raise LookupError(f"outbox item {item.id} has no incident")
        mention = self.chat.mention
        look = _look_from(tried_since)
        match work_of(item):
            case OpenChannel():
                return self._open_channel(session, incident, look, announcement)
            case AnnounceDeclared():
                self._announce_declared(session, incident, item, look)
            case AnnounceEvent(event_id=event_id):
                event = _event(session, event_id)
                announcement_text = messages.change_announcement(incident, event, mention)
                _end_reads(session)
                self._post_once(
                    _channel_of(incident), announcement_text, marker=_marker(item), look=look
                )
            case ConfirmCapture(event_id=event_id, thread_ref=thread):
                confirmation = messages.captured(incident, _event(session, event_id))
                _end_reads(session)
                self._post_once(
                    _channel_of(incident),
                    confirmation,
                    marker=_marker(item),
                    look=look,
                    thread_ref=thread,
                )
            case RefreshSummary():
                channel_id = _channel_of(incident)
                summary = messages.incident_summary(incident, self.settings, mention)
                topic = messages.channel_topic(incident, mention)
                _end_reads(session)
                if incident.summary_message_ref is not None:
                    self.chat.update(channel_id, incident.summary_message_ref, summary)
                self.chat.set_topic(channel_id, topic)
            case SharePostmortem(template=template, fmt=fmt):
                # Rendered now, from what the database holds now: the newest draft is shared.
                draft = drafts.draft(
                    session, incident, self.settings, now=self.clock(), template=template, fmt=fmt
                )
                title = f"Postmortem draft for {incident.reference}: {incident.title}"
                _end_reads(session)
                self.chat.upload(_channel_of(incident), draft.filename, draft.content, title)
            case RunReport(run_id=run_id):
                self._report_run(session, incident, run_id, look)
            case Invite(users=users):
                _end_reads(session)
                self.chat.invite(_channel_of(incident), list(users))
        return None

    # -- the channel -----------------------------------------------------------------

    def _open_channel(
        self,
        session: Session,
        incident: Incident,
        look: datetime | None,
        announcement: Announcement | None,
    ) -> Exception | None:
        # Each step is stored as soon as it is done, so a retry picks up where it stopped.
        if incident.channel_id is None:
            name = channel_name(incident.number, incident.title)
            _end_reads(session)
            found = self.chat.find_channel(name) if look else None
            channel = found or self.chat.create_channel(name)
            incident.channel_id, incident.channel_name = channel.id, channel.name
            session.commit()
        calls = self._set_up_calls(incident, look, announcement)
        _end_reads(session)
        results, errors = _together(self.calls, calls)
        if "summary" in results:
            incident.summary_message_ref = str(results["summary"])
        if "announcement" in results:
            incident.announcement_ref = str(results["announcement"])
        session.commit()
        announced = errors.pop("announcement", None)
        _raise_first(errors)
        if incident.summary_message_ref is not None:
            self.chat.pin(_channel_of(incident), incident.summary_message_ref)
        return announced

    def _set_up_calls(
        self, incident: Incident, look: datetime | None, announcement: Announcement | None
    ) -> dict[str, Callable[[], object]]:
        """The set-up's calls that need only the channel, each built here (they run in
        other threads, away from the session)."""
        channel_id, mention = _channel_of(incident), self.chat.mention
        people = sorted({incident.declared_by, *incident.current_roles().values()})
        topic = messages.channel_topic(incident, mention)
        purpose = f"{incident.reference}: {incident.title}"
        calls: dict[str, Callable[[], object]] = {
            "invite": partial(self.chat.invite, channel_id, people),
            "topic": partial(self.chat.set_topic, channel_id, topic),
            "purpose": partial(self.chat.set_purpose, channel_id, purpose),
        }
        if incident.summary_message_ref is None:
            for title, url in self.settings.incident_links:
                link = _fill_link(url, incident)
                calls[f"link {title}"] = partial(self.chat.bookmark, channel_id, title, link)
            summary = messages.incident_summary(incident, self.settings, mention)
            calls["summary"] = partial(
                self._post_once, channel_id, summary, marker=f"summary:{incident.id}", look=look
            )
        if announcement is not None and incident.announcement_ref is None:
            calls["announcement"] = partial(
                self._post_once,
                self.settings.announce_channel,
                messages.declared_announcement(incident, mention),
                marker=_marker(announcement.item),
                look=_look_from(announcement.tried_since),
            )
        return calls

    def _announce_declared(
        self, session: Session, incident: Incident, item: OutboxItem, look: datetime | None
    ) -> None:
        if incident.announcement_ref is not None:
            return  # it went out with the channel's set-up
        declared = messages.declared_announcement(incident, self.chat.mention)
        _end_reads(session)
        incident.announcement_ref = self._post_once(
            self.settings.announce_channel, declared, marker=_marker(item), look=look
        )
        session.commit()

    def _report_run(
        self, session: Session, incident: Incident, run_id: int, look: datetime | None
    ) -> None:
        run = session.get(RunbookRun, run_id)
        if run is None:
            raise LookupError(f"runbook run {run_id} is gone")
        report = run_messages.run_report(run, self.settings.timezone)
        channel_id = _channel_of(incident)
        _end_reads(session)
        if run.message_ref is None:
            run.message_ref = self._post_once(channel_id, report, marker=f"run:{run_id}", look=look)
            session.commit()
        else:
            self.chat.update(channel_id, run.message_ref, report)

    def _post_once(
        self,
        channel: str,
        message: Message,
        *,
        marker: str,
        look: datetime | None,
        thread_ref: str | None = None,
    ) -> str:
        """Post, unless an earlier attempt (when `look` is set) already did."""
        if look is not None:
            try:
                found = self.chat.find_posted(channel, marker, since=look, thread_ref=thread_ref)
            except ChatRejected as error:  # e.g. a channel the bot posts to but cannot read
                log.warning(
                    "Cannot tell whether %s reached %s (%s); posting", marker, channel, error
                )
                found = None
            if found is not None:
                log.info("Found %s already posted in %s; not posting it again", marker, channel)
                return found
        return self.chat.post(channel, message, thread_ref, marker=marker)


def _together(
    calls: Executor, work: dict[str, Callable[[], object]]
) -> tuple[dict[str, Any], dict[str, Exception]]:
    """Run the calls side by side and wait for all; what each returned, and what failed."""
    futures = {name: calls.submit(call) for name, call in work.items()}
    results: dict[str, Any] = {}
    errors: dict[str, Exception] = {}
    for name, future in futures.items():
        error = future.exception()
        if error is None:
            results[name] = future.result()
        elif isinstance(error, Exception):
            errors[name] = error
        else:
            raise error
    return results, errors


def _raise_first(errors: dict[str, Exception]) -> None:
    """A chat that did not answer counts before one that refused: that is retried."""
    for error in errors.values():
        if isinstance(error, ChatUnavailable):
            raise error
    for error in errors.values():
        raise error


def _end_reads(session: Session) -> None:
    """End the transaction that read what a chat call needs, before the call: a call may
    take seconds, and on SQLite an open transaction holds the one write lock."""
    session.commit()


def _look_from(tried_since: datetime | None) -> datetime | None:
    """Where to start looking for what an attempt begun at `tried_since` may have done."""
    return tried_since - LOOK_BACK if tried_since else None


def _marker(item: OutboxItem) -> str:
    return f"outbox:{item.id}"


def _event(session: Session, event_id: int) -> TimelineEvent:
    event = session.get(TimelineEvent, event_id)
    if event is None:
        raise LookupError(f"timeline event {event_id} is gone")
    return event


def _channel_of(incident: Incident) -> str:
    if incident.channel_id is None:
        raise ChatRejected(f"{incident.reference} has no channel")
    return incident.channel_id


def _fill_link(template: str, incident: Incident) -> str:
    """An INCIDENT_LINKS URL with `{service}` and `{reference}` filled in, each encoded whole
    (`/`, `?`, `#` and spaces too), so what someone typed cannot change where it points."""
    for name, value in (("service", incident.service or ""), ("reference", incident.reference)):
        template = template.replace(f"{{{name}}}", quote(value, safe=""))
    return template

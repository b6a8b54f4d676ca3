"""The outbox: chat work that a change decides, kept until the chat has taken it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from bot.storage.models import Incident, OutboxItem


class Work(StrEnum):
    """What an outbox item asks of the chat."""

    OPEN_CHANNEL = "open_channel"  # create the incident channel, invite, topic, pinned summary
    ANNOUNCE_DECLARED = "announce_declared"  # tell the announcements channel
    ANNOUNCE_EVENT = "announce_event"  # post a timeline event in the incident channel
    REFRESH_SUMMARY = "refresh_summary"  # bring the pinned summary and topic up to date
    INVITE = "invite"  # bring people into the incident channel
    CONFIRM_CAPTURE = "confirm_capture"  # reply in thread to a message put on the timeline
    SHARE_POSTMORTEM = "share_postmortem"  # upload the postmortem draft to the incident channel
    RUN_REPORT = "run_report"  # post or update the one message that follows a runbook run


@dataclass(frozen=True)
class OpenChannel:
    kind: ClassVar[Work] = Work.OPEN_CHANNEL


@dataclass(frozen=True)
class AnnounceDeclared:
    kind: ClassVar[Work] = Work.ANNOUNCE_DECLARED


@dataclass(frozen=True)
class AnnounceEvent:
    kind: ClassVar[Work] = Work.ANNOUNCE_EVENT
    event_id: int


@dataclass(frozen=True)
class RefreshSummary:
    kind: ClassVar[Work] = Work.REFRESH_SUMMARY


@dataclass(frozen=True)
class Invite:
    kind: ClassVar[Work] = Work.INVITE
    users: tuple[str, ...]


@dataclass(frozen=True)
class ConfirmCapture:
    kind: ClassVar[Work] = Work.CONFIRM_CAPTURE
    event_id: int
    thread_ref: str  # the chat's id of the captured message, to reply in its thread


@dataclass(frozen=True)
class SharePostmortem:
    kind: ClassVar[Work] = Work.SHARE_POSTMORTEM
    template: str
    fmt: str


@dataclass(frozen=True)
class RunReport:
    kind: ClassVar[Work] = Work.RUN_REPORT
    run_id: int


ChatWork = (
    OpenChannel
    | AnnounceDeclared
    | AnnounceEvent
    | RefreshSummary
    | Invite
    | ConfirmCapture
    | SharePostmortem
    | RunReport
)
_TYPES: dict[str, type[ChatWork]] = {
    kind.kind: kind
    for kind in (
        OpenChannel,
        AnnounceDeclared,
        AnnounceEvent,
        RefreshSummary,
        Invite,
        ConfirmCapture,
        SharePostmortem,
        RunReport,
    )
}


# An item not yet delivered and not given up.
WAITING = and_(OutboxItem.delivered_at.is_(None), OutboxItem.failed_at.is_(None))


def enqueue(session: Session, *, incident: Incident, work: ChatWork, now: datetime) -> OutboxItem:
    """Add chat work to the caller's transaction."""
    payload: dict[str, Any] = asdict(work)
    item = OutboxItem(
        incident=incident, kind=work.kind, payload=payload, created_at=now, attempts=0
    )
    session.add(item)
    return item


def work_of(item: OutboxItem) -> ChatWork:
    """The typed work an outbox row holds; LookupError for a kind this version does not know."""
    work_type = _TYPES.get(item.kind)
    if work_type is None:
        raise LookupError(f"unknown outbox work {item.kind!r}")
    payload = dict(item.payload)
    if work_type is Invite:
        payload["users"] = tuple(payload["users"])
    return work_type(**payload)


def pending_for(session: Session, *, incident_id: int, limit: int) -> list[OutboxItem]:
    """One incident's undelivered, not given-up items, oldest first."""
    query = (
        select(OutboxItem)
        .where(
            OutboxItem.incident_id == incident_id,
            WAITING,
        )
        .order_by(OutboxItem.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def incidents_waiting(session: Session) -> list[int]:
    """The incidents with undelivered, not given-up items, oldest work first."""
    query = (
        select(OutboxItem.incident_id)
        .where(
            WAITING,
            OutboxItem.incident_id.is_not(None),
        )
        .group_by(OutboxItem.incident_id)
        .order_by(func.min(OutboxItem.id))
    )
    return [incident_id for incident_id in session.scalars(query) if incident_id is not None]


def failing(session: Session, *, incident_id: int) -> bool:
    """Whether an item of the incident still waits after the chat failed to take it."""
    query = select(OutboxItem.id).where(
        OutboxItem.incident_id == incident_id,
        WAITING,
        OutboxItem.attempts > 0,
    )
    return session.scalar(query.limit(1)) is not None


def pending_count(session: Session, *, incident_id: int | None = None) -> int:
    """How many items still wait, overall or for one incident."""
    query = select(func.count(OutboxItem.id)).where(WAITING)
    if incident_id is not None:
        query = query.where(OutboxItem.incident_id == incident_id)
    return session.scalar(query) or 0


def oldest_pending_at(session: Session) -> datetime | None:
    """When the oldest item still waiting was enqueued; None when nothing waits."""
    query = select(func.min(OutboxItem.created_at)).where(WAITING)
    return session.scalar(query)

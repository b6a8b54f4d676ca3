"""The outbox: chat work that a change decides, kept until the chat has taken it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
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


def enqueue(
    session: Session,
    *,
    incident: Incident,
    work: Work,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> OutboxItem:
    """Add chat work to the caller's transaction."""
    item = OutboxItem(
        incident=incident, kind=work, payload=payload or {}, created_at=now, attempts=0
    )
    session.add(item)
    return item


def pending(session: Session, *, limit: int = 100) -> list[OutboxItem]:
    """Undelivered, not given-up items, oldest first."""
    query = (
        select(OutboxItem)
        .where(OutboxItem.delivered_at.is_(None), OutboxItem.failed_at.is_(None))
        .order_by(OutboxItem.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def pending_count(session: Session, *, incident_id: int | None = None) -> int:
    """How many items still wait, overall or for one incident."""
    query = select(func.count(OutboxItem.id)).where(
        OutboxItem.delivered_at.is_(None), OutboxItem.failed_at.is_(None)
    )
    if incident_id is not None:
        query = query.where(OutboxItem.incident_id == incident_id)
    return session.scalar(query) or 0

"""The incident timeline: recording events, notes and marked chat messages."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import NotFound, UsageError
from bot.storage.models import MAX_ID, EventKind, Incident, TimelineEvent

NOTE_KINDS = (EventKind.NOTE, EventKind.CHAT_MESSAGE)
# The longest note people may write, in characters: one section of a chat message.
NOTE_MAX_LENGTH = 3000


class _Doer(Enum):
    RECORDER = "recorder"


# Who did what an event says, unless told otherwise: whoever records it.
RECORDER = _Doer.RECORDER
DoneBy = str | None | Literal[_Doer.RECORDER]


def record_event(
    session: Session,
    *,
    incident: Incident,
    kind: EventKind,
    actor: str,
    text: str,
    now: datetime,
    occurred_at: datetime | None = None,
    data: dict[str, Any] | None = None,
    done_by: DoneBy = RECORDER,
) -> TimelineEvent:
    """Add one event to the incident's timeline, in the caller's transaction.

    Every timeline event is made here. `actor` recorded it; `done_by` did what it
    says: the actor unless given, None for nobody in particular.
    """
    event = TimelineEvent(
        incident=incident,
        kind=kind,
        actor=actor,
        done_by=actor if done_by is RECORDER else done_by,
        text=text,
        occurred_at=occurred_at or now,
        recorded_at=now,
        data=data or {},
    )
    session.add(event)
    incident.updated_at = now
    return event


def add_note(
    session: Session,
    *,
    incident: Incident,
    actor: str,
    text: str,
    now: datetime,
    occurred_at: datetime | None = None,
    done_by: DoneBy = RECORDER,
) -> TimelineEvent:
    """Put a note on the timeline, optionally at the time it happened and by whom it was done.

    `done_by` is who did what the note says (the person writing it unless given;
    None for nobody in particular, as in "traffic increases 88x").
    """
    text = text.strip()
    if not text:
        raise UsageError("A note needs some text: `note <text>`.")
    check_note_length(text)
    return record_event(
        session,
        incident=incident,
        kind=EventKind.NOTE,
        actor=actor,
        text=text,
        now=now,
        occurred_at=occurred_at,
        done_by=done_by,
    )


def record_chat_message(
    session: Session,
    *,
    incident: Incident,
    actor: str,
    author: str,
    text: str,
    posted_at: datetime,
    now: datetime,
    source_ref: str | None = None,
    reference: dict[str, Any] | None = None,
) -> TimelineEvent:
    """Put a chat message someone marked on the timeline, at its original post time.

    Its author did what it says; `actor` is who put it on the timeline.
    """
    if not text.strip():
        raise UsageError("That message is empty; there is nothing to put on the timeline.")
    event = record_event(
        session,
        incident=incident,
        kind=EventKind.CHAT_MESSAGE,
        actor=actor,
        text=text,
        now=now,
        occurred_at=posted_at,
        data={"author": author, **(reference or {})},
        done_by=author,
    )
    event.source_ref = source_ref
    return event


def find_captured(session: Session, *, incident: Incident, source_ref: str) -> TimelineEvent | None:
    """The live timeline entry made from the chat message at `source_ref`, if any."""
    query = select(TimelineEvent).where(
        TimelineEvent.incident_id == incident.id,
        TimelineEvent.source_ref == source_ref,
        TimelineEvent.deleted_at.is_(None),
    )
    return session.scalars(query).first()


def _editable_note(session: Session, incident: Incident, event_id: int) -> TimelineEvent:
    event = session.get(TimelineEvent, event_id) if event_id <= MAX_ID else None
    if event is None or event.incident_id != incident.id or event.deleted_at is not None:
        raise NotFound(f"{incident.reference} has no note #{event_id}. `timeline` shows the ids.")
    if event.kind not in NOTE_KINDS:
        raise UsageError(
            f"#{event_id} is a {event.kind.replace('_', ' ')} event; only notes and "
            "chat messages can be edited or deleted."
        )
    return event


def edit_note(
    session: Session, *, incident: Incident, event_id: int, actor: str, text: str, now: datetime
) -> TimelineEvent:
    """Change a note's text; the old text is kept on a `note_edited` event."""
    text = text.strip()
    if not text:
        raise UsageError("The new text is empty: `note edit <id> <new text>`.")
    note = _editable_note(session, incident, event_id)
    if note.kind == EventKind.NOTE:  # a captured chat message keeps the chat's own limit
        check_note_length(text)
    old_text = note.text
    note.text = text
    note.edited_at = now
    return record_event(
        session,
        incident=incident,
        kind=EventKind.NOTE_EDITED,
        actor=actor,
        text=f"edited note #{note.id}",
        now=now,
        data={"note_id": note.id, "old_text": old_text, "new_text": text},
    )


def check_note_length(text: str) -> None:
    """Refuse a note longer than people may write (NOTE_MAX_LENGTH)."""
    if len(text) > NOTE_MAX_LENGTH:
        raise UsageError(
            f"The note is {len(text)} characters long; the limit is {NOTE_MAX_LENGTH}. "
            "Split it into several notes."
        )


def delete_note(
    session: Session, *, incident: Incident, event_id: int, actor: str, now: datetime
) -> TimelineEvent:
    """Hide a note from the timeline; its text stays on a `note_deleted` event."""
    note = _editable_note(session, incident, event_id)
    note.deleted_at = now
    return record_event(
        session,
        incident=incident,
        kind=EventKind.NOTE_DELETED,
        actor=actor,
        text=f"deleted note #{note.id}",
        now=now,
        data={"note_id": note.id, "text": note.text},
    )


def list_events(
    session: Session, *, incident: Incident, include_deleted: bool = False
) -> list[TimelineEvent]:
    """The timeline in the order things happened (ties: in the order recorded)."""
    query = select(TimelineEvent).where(TimelineEvent.incident_id == incident.id)
    if not include_deleted:
        query = query.where(TimelineEvent.deleted_at.is_(None))
    query = query.order_by(TimelineEvent.occurred_at, TimelineEvent.id)
    return list(session.scalars(query))

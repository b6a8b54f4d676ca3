"""Each change command applied to the domain: which service call it is, with what.

The command path (`bot.commands.handler`) has found the incident and checked the
permission; this runs the change in the caller's transaction, reading the times
typed with it against the incident (`TypedTimes`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from sqlalchemy.orm import Session

from bot.commands.typed_times import TypedTimes
from bot.commands.types import (
    ME,
    AddAction,
    AddNote,
    AssignRole,
    Close,
    CompleteAction,
    DeleteNote,
    EditNote,
    Reopen,
    Resolve,
    SetImpact,
    SetMilestone,
    SetSeverity,
    SetStatus,
    Targeted,
)
from bot.config import Settings
from bot.incidents import actions, impact, lifecycle, roles, timeline
from bot.storage.models import MAX_ID, ActionKind, Incident, Status, TimelineEvent


class _Common(TypedDict):
    """The arguments every domain change takes."""

    incident: Incident
    actor: str
    now: datetime


def apply_change(
    session: Session,
    *,
    incident: Incident,
    command: Targeted,
    actor: str,
    settings: Settings,
    times: TypedTimes,
) -> TimelineEvent:
    """Run one change command; returns the timeline event it wrote."""
    now = times.now
    common = _Common(incident=incident, actor=actor, now=now)
    match command:
        case SetStatus(status=status, at=at):
            to = lifecycle.parse_status(status)
            return lifecycle.change_status(session, to=to, at=times.read(at), **common)
        case Resolve(summary=summary, at=at):
            return lifecycle.change_status(
                session, to=Status.RESOLVED, summary=summary, at=times.read(at), **common
            )
        case Close():
            return lifecycle.change_status(session, to=Status.CLOSED, **common)
        case Reopen():
            return lifecycle.reopen(session, **common)
        case SetSeverity(severity=severity):
            return lifecycle.change_severity(
                session, settings=settings, severity=severity, **common
            )
        case SetMilestone(milestone=milestone, at=at):
            moment = times.read(at) or now
            return lifecycle.set_milestone(session, milestone=milestone, at=moment, **common)
        case SetImpact(started_at=started_at, ended_at=ended_at, fraction=fraction):
            return impact.set_impact(
                session,
                started_at=times.read(started_at),
                ended_at=times.read(ended_at),
                fraction=impact.parse_fraction(fraction) if fraction else None,
                tz=settings.timezone,
                **common,
            )
        case AssignRole(role=role, holder=None, at=at):
            return roles.unassign_role(
                session, settings=settings, role=role, at=times.read(at), **common
            )
        case AssignRole(role=role, holder=str(holder), at=at):
            holder = actor if holder == ME else holder
            return roles.assign_role(
                session,
                settings=settings,
                role=role,
                holder=holder,
                at=times.read(at),
                **common,
            )
        case AddNote(text=note, at=at, done_by=done_by):
            return timeline.add_note(
                session,
                text=note,
                occurred_at=times.read(at),
                done_by=actor if done_by == ME else done_by,
                **common,
            )
        case EditNote(note_id=note_id, text=note):
            return timeline.edit_note(session, event_id=note_id, text=note, **common)
        case DeleteNote(note_id=note_id):
            return timeline.delete_note(session, event_id=note_id, **common)
        case AddAction(text=item, owner=owner, due=due, kind=kind, at=at):
            return actions.add_action_item(
                session,
                text=item,
                owner=actor if owner == ME else owner,
                due_date=due,
                kind=actions.parse_kind(kind) if kind else ActionKind.PREVENT,
                at=times.read(at),
                **common,
            )
        case CompleteAction(item_id=item_id, at=at):
            return actions.complete_action_item(
                session, item_id=item_id, at=times.read(at), **common
            )
    raise AssertionError(f"no handler for {command!r}")


def owner_of(
    session: Session, incident: Incident, command: Targeted, settings: Settings
) -> str | None:
    """Who holds the role or wrote the note a command changes (None: nobody, or no such)."""
    match command:
        case AssignRole(role=role):
            return incident.current_roles().get(roles.parse_role(role, settings))
        case EditNote(note_id=note_id) | DeleteNote(note_id=note_id):
            note = session.get(TimelineEvent, note_id) if note_id <= MAX_ID else None
            if note is None or note.incident_id != incident.id or note.deleted_at:
                return None  # the timeline says what is wrong with the id
            return note.actor if note.kind in timeline.NOTE_KINDS else None
    return None

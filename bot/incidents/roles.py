"""Incident roles: assign, reassign and unassign, keeping the full history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.errors import UsageError
from bot.incidents.lifecycle import mark_acknowledged
from bot.incidents.timeline import record_event
from bot.storage.models import EventKind, Incident, RoleAssignment, TimelineEvent


def parse_role(value: str, settings: Settings) -> str:
    """Accept a configured role name in any case."""
    role = value.strip().lower()
    if role not in settings.roles:
        raise UsageError(f"Unknown role `{value}`. Use one of {', '.join(settings.roles)}.")
    return role


def _current(incident: Incident, role: str) -> RoleAssignment | None:
    return next((a for a in incident.roles if a.role == role and a.ended_at is None), None)


def assign_role(
    session: Session,
    *,
    settings: Settings,
    incident: Incident,
    role: str,
    holder: str,
    actor: str,
    now: datetime,
) -> TimelineEvent:
    """Give `role` to `holder`, ending whoever held it before."""
    role = parse_role(role, settings)
    previous = _current(incident, role)
    if previous is not None and previous.holder == holder:
        raise UsageError(f"{holder} is already the {role} of {incident.reference}.")
    if previous is not None:
        previous.ended_at = now
        previous.ended_by = actor
    assignment = RoleAssignment(
        incident=incident, role=role, holder=holder, assigned_by=actor, started_at=now
    )
    session.add(assignment)
    mark_acknowledged(incident, now)
    text = f"{holder} is now {role}"
    if previous is not None:
        text += f" (was {previous.holder})"
    return record_event(
        session,
        incident=incident,
        kind=EventKind.ROLE_ASSIGNED,
        actor=actor,
        text=text,
        now=now,
        data={
            "role": role,
            "holder": holder,
            "previous": previous.holder if previous else None,
        },
    )


def unassign_role(
    session: Session,
    *,
    settings: Settings,
    incident: Incident,
    role: str,
    actor: str,
    now: datetime,
) -> TimelineEvent:
    """Leave `role` empty; the ended assignment stays in the history."""
    role = parse_role(role, settings)
    current = _current(incident, role)
    if current is None:
        raise UsageError(f"Nobody is {role} of {incident.reference}.")
    current.ended_at = now
    current.ended_by = actor
    return record_event(
        session,
        incident=incident,
        kind=EventKind.ROLE_UNASSIGNED,
        actor=actor,
        text=f"{current.holder} is no longer {role}",
        now=now,
        data={"role": role, "holder": current.holder},
    )

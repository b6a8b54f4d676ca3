"""Incident roles: assign, reassign and unassign, keeping the full history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.errors import UsageError
from bot.incidents import ordering
from bot.incidents.lifecycle import acknowledgement, set_moments
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


def _check_after(incident: Incident, role: str, at: datetime) -> None:
    """A role's history is kept in order: it cannot change hands before it last did."""
    held = [a for a in incident.roles if a.role == role]
    if not held:
        return
    last = max(held, key=lambda a: (a.ended_at or a.started_at, a.id))
    if last.ended_at is None:
        fact, since = f"{last.holder} became {role} of {incident.reference}", last.started_at
    else:
        fact, since = f"{last.holder} stopped being {role} of {incident.reference}", last.ended_at
    if at < since:
        raise ordering.OutOfOrder(fact, since, "the role cannot change hands before that")


def assign_role(
    session: Session,
    *,
    settings: Settings,
    incident: Incident,
    role: str,
    holder: str,
    actor: str,
    now: datetime,
    at: datetime | None = None,
) -> TimelineEvent:
    """Give `role` to `holder` (at `at`, for a change dated back), ending whoever held it before.

    Taking a role acknowledges the incident, if nothing did earlier.
    """
    role = parse_role(role, settings)
    moment = at or now
    previous = _current(incident, role)
    if previous is not None and previous.holder == holder:
        raise UsageError(f"{holder} is already the {role} of {incident.reference}.")
    _check_after(incident, role, moment)
    acknowledged = acknowledgement(incident, moment)
    ordering.check(incident, acknowledged)
    if previous is not None:
        previous.ended_at = moment
        previous.ended_by = actor
    assignment = RoleAssignment(
        incident=incident, role=role, holder=holder, assigned_by=actor, started_at=moment
    )
    session.add(assignment)
    set_moments(incident, acknowledged)
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
        occurred_at=moment,
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
    at: datetime | None = None,
) -> TimelineEvent:
    """Leave `role` empty (from `at`, for a change dated back); the history keeps who held it."""
    role = parse_role(role, settings)
    moment = at or now
    current = _current(incident, role)
    if current is None:
        raise UsageError(f"Nobody is {role} of {incident.reference}.")
    _check_after(incident, role, moment)
    current.ended_at = moment
    current.ended_by = actor
    return record_event(
        session,
        incident=incident,
        kind=EventKind.ROLE_UNASSIGNED,
        actor=actor,
        text=f"{current.holder} is no longer {role}",
        now=now,
        occurred_at=moment,
        data={"role": role, "holder": current.holder},
    )

"""The postmortem of an incident as a record: its status, owner and due date.

`ensure_postmortem` creates it (a draft, owned by the commander at resolution,
due some business days after it) the first time it is asked for;
`open_postmortem` does the same and puts the start on the timeline.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.incidents.timeline import record_event
from bot.storage.models import EventKind, Incident, Postmortem, PostmortemStatus

# The role whose holder at resolution owns the postmortem (else the declarer).
OWNER_ROLE = "commander"


def add_business_days(start: date, days: int) -> date:
    """The date `days` working days (Monday to Friday) after `start`."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


def proposed_due_date(incident: Incident, settings: Settings) -> date | None:
    """N business days after the resolution, in the configured time zone; None while open."""
    if incident.resolved_at is None:
        return None
    resolved_on = incident.resolved_at.astimezone(settings.timezone).date()
    return add_business_days(resolved_on, settings.postmortem_due_business_days)


def proposed_owner(incident: Incident) -> str:
    """The commander when the incident was resolved (or now, if open), else the declarer."""
    moment = incident.resolved_at
    for assignment in sorted(incident.roles, key=lambda a: (a.started_at, a.id), reverse=True):
        if assignment.role != OWNER_ROLE:
            continue
        if moment is None:
            if assignment.ended_at is None:
                return assignment.holder
        elif assignment.started_at <= moment and (
            assignment.ended_at is None or assignment.ended_at > moment
        ):
            return assignment.holder
    return incident.declared_by


def find_postmortem(session: Session, incident: Incident) -> Postmortem | None:
    return session.scalar(select(Postmortem).where(Postmortem.incident_id == incident.id))


def ensure_postmortem(
    session: Session, incident: Incident, settings: Settings, now: datetime
) -> Postmortem:
    """The incident's postmortem, created as a draft the first time, in the caller's transaction.

    A new one is owned by the commander at resolution (else the declarer) and is due
    `POSTMORTEM_DUE_BUSINESS_DAYS` working days after the resolution. An existing one
    keeps its owner and due date; only values still missing are filled in (the due
    date of a postmortem started before the incident was resolved).
    """
    postmortem = find_postmortem(session, incident)
    if postmortem is None:
        postmortem = Postmortem(
            incident_id=incident.id,
            status=PostmortemStatus.DRAFT,
            owner=proposed_owner(incident),
            due_date=proposed_due_date(incident, settings),
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(postmortem)
        except IntegrityError:
            # Someone else created it at the same moment: use theirs.
            postmortem = find_postmortem(session, incident)
            if postmortem is None:  # pragma: no cover - the conflict was something else
                raise
        else:
            return postmortem
    changed = False
    if postmortem.owner is None:
        postmortem.owner = proposed_owner(incident)
        changed = True
    if postmortem.due_date is None:
        due = proposed_due_date(incident, settings)
        if due is not None:
            postmortem.due_date = due
            changed = True
    if changed:
        postmortem.updated_at = now
    return postmortem


def open_postmortem(
    session: Session, *, incident: Incident, settings: Settings, actor: str, now: datetime
) -> Postmortem:
    """The incident's postmortem; the first time, its creation goes on the timeline."""
    is_new = find_postmortem(session, incident) is None
    postmortem = ensure_postmortem(session, incident, settings, now)
    if is_new:
        due = postmortem.due_date.isoformat() if postmortem.due_date else "once resolved"
        record_event(
            session,
            incident=incident,
            kind=EventKind.POSTMORTEM_STARTED,
            actor=actor,
            text=f"Postmortem draft started (owner {postmortem.owner}, due {due})",
            now=now,
            data={"owner": postmortem.owner, "due_date": due},
        )
    return postmortem

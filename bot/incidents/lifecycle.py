"""The incident domain: declare, status, severity, milestones, resolve, close, reopen."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.errors import InvalidTransition, NotFound, UsageError
from bot.incidents import ordering
from bot.incidents.timeline import record_event
from bot.storage.models import MAX_ID, EventKind, Incident, IncidentSequence, Status, TimelineEvent

SERVICE_MAX_LENGTH = 200
# The longest resolution summary, in characters: it is shown whole on the pinned summary.
SUMMARY_MAX_LENGTH = 1500
REFERENCE = re.compile(r"^INC-(\d+)$", re.IGNORECASE)

# Where an incident may go from each status. Going back from resolved is a reopen.
TRANSITIONS: dict[Status, tuple[Status, ...]] = {
    Status.INVESTIGATING: (Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED),
    Status.IDENTIFIED: (Status.INVESTIGATING, Status.MONITORING, Status.RESOLVED),
    Status.MONITORING: (Status.INVESTIGATING, Status.IDENTIFIED, Status.RESOLVED),
    Status.RESOLVED: (Status.CLOSED, Status.INVESTIGATING),
    Status.CLOSED: (),
}

# Milestones people may set by hand; the others follow from status changes.
SETTABLE_MILESTONES = ("started", "detected", "acknowledged", "mitigated")


def next_number(session: Session) -> int:
    """The next incident number, for a declaration or an import in this transaction."""
    # The UPDATE locks the sequence row until this transaction ends, so numbers
    # stay unique and gap-free under concurrent declarations on any database.
    number = session.execute(
        update(IncidentSequence)
        .where(IncidentSequence.id == 1)
        .values(last_number=IncidentSequence.last_number + 1)
        .returning(IncidentSequence.last_number)
    ).scalar_one()
    return int(number)


def parse_severity(value: str, settings: Settings) -> str:
    """Accept `SEV2`, `sev2` or `2`; return the configured name."""
    names = settings.severity_names
    candidate = value.strip().upper()
    if candidate.isdigit() and 1 <= int(candidate) <= len(names):
        return names[int(candidate) - 1]
    if candidate in names:
        return candidate
    raise UsageError(f"Unknown severity `{value}`. Use one of {', '.join(names)}.")


def parse_status(value: str) -> Status:
    """Accept a status name in any case."""
    try:
        return Status(value.strip().lower())
    except ValueError:
        names = ", ".join(status.value for status in Status)
        raise UsageError(f"Unknown status `{value}`. Use one of {names}.") from None


def check_title(title: str, settings: Settings) -> str:
    """The title, trimmed, if it is usable; else a UsageError saying why."""
    title = title.strip()
    if not title:
        raise UsageError("An incident needs a title: `declare [sevN] <title> [service:<name>]`.")
    if len(title) > settings.title_max_length:
        raise UsageError(
            f"The title is {len(title)} characters long; the limit is "
            f"{settings.title_max_length}. Put the details in a note instead."
        )
    return title


def check_service(service: str | None) -> str | None:
    """The service name, trimmed (None when empty), if it is not too long."""
    service = (service or "").strip() or None
    if service is not None and len(service) > SERVICE_MAX_LENGTH:
        raise UsageError(f"The service name is longer than {SERVICE_MAX_LENGTH} characters.")
    return service


def check_summary_length(summary: str) -> None:
    """Refuse a resolution summary longer than SUMMARY_MAX_LENGTH."""
    length = len(summary.strip())
    if length > SUMMARY_MAX_LENGTH:
        raise UsageError(
            f"The summary is {length} characters long; the limit is {SUMMARY_MAX_LENGTH}. "
            "Resolve with a short summary and put the details in notes."
        )


def declare(
    session: Session,
    *,
    settings: Settings,
    title: str,
    actor: str,
    now: datetime,
    severity: str | None = None,
    service: str | None = None,
    description: str | None = None,
    started_at: datetime | None = None,
    declared_at: datetime | None = None,
) -> Incident:
    """Open a new incident with the next INC number and record the declaration.

    `started_at` is when the impact began, if the declarer knows it; `declared_at`
    when it was declared, for an incident recorded after the fact (default `now`).
    """
    title = check_title(title, settings)
    severity = parse_severity(severity, settings) if severity else settings.default_severity
    service = check_service(service)
    if started_at is not None and started_at > now:
        raise UsageError("The impact cannot start in the future.")
    declared_at = declared_at or now
    if declared_at > now:
        raise UsageError("An incident cannot be declared in the future.")

    incident = Incident(
        number=next_number(session),
        title=title,
        description=(description or "").strip(),
        summary="",
        severity=severity,
        service=service,
        status=Status.INVESTIGATING,
        declared_by=actor,
        started_at=started_at,
        declared_at=declared_at,
        updated_at=now,
    )
    session.add(incident)
    record_event(
        session,
        incident=incident,
        kind=EventKind.DECLARED,
        actor=actor,
        text=f"Declared {severity}: {title}",
        now=now,
        occurred_at=declared_at,
        data={
            "severity": severity,
            "service": service,
            "title": title,
            "started_at": started_at.isoformat() if started_at else None,
        },
    )
    session.flush()
    return incident


def get_incident(session: Session, reference: str) -> Incident:
    """Find an incident by `INC-n`."""
    match = REFERENCE.match(reference.strip())
    if match is None:
        raise UsageError(f"`{reference}` is not an incident reference; they look like INC-12.")
    number = int(match.group(1))
    query = select(Incident).where(Incident.number == number)
    incident = session.scalar(query) if number <= MAX_ID else None
    if incident is None:
        raise NotFound(f"There is no incident {reference.upper()}. `list` shows open incidents.")
    return incident


def incident_for_channel(session: Session, channel_id: str) -> Incident | None:
    """The incident whose channel this is, if any."""
    return session.scalar(select(Incident).where(Incident.channel_id == channel_id))


def list_open(session: Session) -> list[Incident]:
    """Incidents not yet resolved, oldest first."""
    query = select(Incident).where(Incident.status.not_in([Status.RESOLVED, Status.CLOSED]))
    return list(session.scalars(query.order_by(Incident.number)))


def _closed(incident: Incident) -> str:
    return f"{incident.reference} is closed; nothing can change it. Declare a new incident."


def refuse_if_closed(incident: Incident) -> None:
    """A closed incident is final: refuse any change to it."""
    if incident.status == Status.CLOSED:
        raise InvalidTransition(_closed(incident))


def acknowledgement(incident: Incident, at: datetime) -> dict[str, datetime]:
    """Someone took ownership at `at`: the acknowledgement it makes, if it is the first.

    The earliest such moment is the acknowledgement, so a change dated back moves it.
    """
    if incident.acknowledged_at is None or at < incident.acknowledged_at:
        return {"acknowledged": at}
    return {}


def set_moments(incident: Incident, changes: Mapping[str, datetime | None]) -> None:
    """Set the incident's `<name>_at` moments, once `ordering.check` has passed them."""
    for name, moment in changes.items():
        setattr(incident, f"{name}_at", moment)


def change_status(
    session: Session,
    *,
    incident: Incident,
    to: Status,
    actor: str,
    now: datetime,
    at: datetime | None = None,
    summary: str | None = None,
) -> TimelineEvent:
    """Move the incident along its lifecycle, setting the milestones that go with it."""
    current = Status(incident.status)
    if to == current:
        raise InvalidTransition(f"{incident.reference} is already {current}.")
    if to not in TRANSITIONS[current]:
        raise InvalidTransition(_refusal(incident, current, to))
    if summary is not None:
        check_summary_length(summary)
    moment = at or now

    changes: dict[str, datetime | None] = {}
    if current == Status.RESOLVED and to == Status.INVESTIGATING:
        changes["resolved"] = None
        text = f"Reopened (was resolved); status {to}"
        kind = EventKind.REOPENED
    else:
        text = f"Status changed from {current} to {to}"
        kind = EventKind.STATUS_CHANGED
        if to != Status.CLOSED:
            changes.update(acknowledgement(incident, moment))
        if to in (Status.MONITORING, Status.RESOLVED) and incident.mitigated_at is None:
            changes["mitigated"] = moment
        if to == Status.RESOLVED:
            changes["resolved"] = moment
            if summary and summary.strip():
                text = f"Resolved: {summary.strip()}"
        if to == Status.CLOSED:
            changes["closed"] = moment
    ordering.check(incident, changes)
    ordering.check_status_time(session, incident, moment)
    set_moments(incident, changes)
    if to == Status.RESOLVED and summary and summary.strip():
        incident.summary = summary.strip()
    incident.status = to
    return record_event(
        session,
        incident=incident,
        kind=kind,
        actor=actor,
        text=text,
        now=now,
        occurred_at=moment,
        data={"from": current.value, "to": to.value, "summary": summary},
    )


def reopen(session: Session, *, incident: Incident, actor: str, now: datetime) -> TimelineEvent:
    """Take a resolved incident back to investigating."""
    if incident.status != Status.RESOLVED:
        raise InvalidTransition(
            f"{incident.reference} is {incident.status}; only a resolved incident can be reopened."
        )
    return change_status(session, incident=incident, to=Status.INVESTIGATING, actor=actor, now=now)


def _refusal(incident: Incident, current: Status, to: Status) -> str:
    legal = TRANSITIONS[current]
    if current == Status.CLOSED:
        return _closed(incident)
    if to == Status.CLOSED:
        return (
            f"{incident.reference} is {current}; resolve it before closing (`resolve <summary>`)."
        )
    options = ", ".join(status.value for status in legal)
    return f"{incident.reference} cannot go from {current} to {to}. From {current}: {options}."


def change_severity(
    session: Session,
    *,
    settings: Settings,
    incident: Incident,
    severity: str,
    actor: str,
    now: datetime,
) -> TimelineEvent:
    """Raise or lower the severity."""
    new = parse_severity(severity, settings)
    if new == incident.severity:
        raise UsageError(f"{incident.reference} is already {new}.")
    if not incident.is_open:
        raise InvalidTransition(
            f"{incident.reference} is {incident.status}; reopen it to change its severity."
        )
    old = incident.severity
    incident.severity = new
    return record_event(
        session,
        incident=incident,
        kind=EventKind.SEVERITY_CHANGED,
        actor=actor,
        text=f"Severity changed from {old} to {new}",
        now=now,
        data={"from": old, "to": new},
    )


def set_milestone(
    session: Session,
    *,
    incident: Incident,
    milestone: str,
    at: datetime,
    actor: str,
    now: datetime,
) -> TimelineEvent:
    """Record when impact started, or when the incident was detected, acknowledged or mitigated.

    The time given replaces the one recorded, if it keeps the record in order.
    """
    if milestone not in SETTABLE_MILESTONES:
        raise UsageError(f"Unknown milestone `{milestone}`; use {', '.join(SETTABLE_MILESTONES)}.")
    previous = ordering.moment_of(incident, milestone)
    ordering.check(incident, {milestone: at})
    set_moments(incident, {milestone: at})
    return record_event(
        session,
        incident=incident,
        kind=EventKind.MILESTONE_SET,
        actor=actor,
        text=f"Marked as {milestone}",
        now=now,
        occurred_at=at,
        data={
            "milestone": milestone,
            "at": at.isoformat(),
            "previous": previous.isoformat() if previous else None,
        },
    )

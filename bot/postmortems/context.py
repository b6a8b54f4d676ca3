"""Everything a postmortem draft is made from, as plain data for the templates.

`build_context` reads the incident record (milestones, roles with their
history, the timeline, runbook runs, action items) for the templates in
`bot.postmortems.render`. It only reads, never looks at the clock, and sorts
everything, so the same record always gives the same draft.

One module, a little past the usual 400 lines: each part is a small function
from the record to the data under one key, all showing times the same way
(`_Times`), and the templates read them as one context.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.config import Settings
from bot.incidents.measures import MILESTONES, Measure, Measures, measures_of, moment, percent
from bot.incidents.timeline import list_events
from bot.postmortems.record import find_postmortem, proposed_due_date, proposed_owner
from bot.storage.models import (
    ActionItem,
    EventKind,
    Incident,
    Postmortem,
    PostmortemStatus,
    RoleAssignment,
    RunbookRun,
    TimelineEvent,
)
from bot.times import format_duration

# What each milestone marks, in the order of the key timestamps table.
MILESTONE_MEANINGS: tuple[tuple[str, str], ...] = (
    ("started", "the impact on users began"),
    ("detected", "the problem was first noticed"),
    ("declared", "the incident was declared"),
    ("acknowledged", "someone took ownership"),
    ("mitigated", "the impact stopped or was contained"),
    ("impact_ended", "users stopped being affected"),
    ("resolved", "the incident was resolved"),
    ("closed", "the incident was closed"),
)

EVENT_LABELS: dict[str, str] = {
    EventKind.DECLARED: "Declared",
    EventKind.STATUS_CHANGED: "Status",
    EventKind.REOPENED: "Reopened",
    EventKind.SEVERITY_CHANGED: "Severity",
    EventKind.ROLE_ASSIGNED: "Role",
    EventKind.ROLE_UNASSIGNED: "Role",
    EventKind.MILESTONE_SET: "Milestone",
    EventKind.NOTE: "Note",
    EventKind.CHAT_MESSAGE: "Chat",
    EventKind.ACTION_ADDED: "Action item",
    EventKind.ACTION_DONE: "Action item",
}
# Bookkeeping about other entries: the edited or removed note itself tells the story.
HIDDEN_EVENT_KINDS: frozenset[str] = frozenset({EventKind.NOTE_EDITED, EventKind.NOTE_DELETED})

STEP_RESULT_MAX_LENGTH = 200
# An entry recorded this long after it happened was logged after the fact.
LOGGED_LATE_AFTER = timedelta(minutes=1)
NOBODY = "—"  # who did an entry nobody in particular did ("traffic increases 88x")


class _Times:
    """Formats moments in UTC and in the configured time zone."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.name = str(tz)
        self.show_local = self.name not in ("UTC", "Etc/UTC", "Zulu", "Etc/Zulu")

    def moment(self, at: datetime | None) -> dict[str, str] | None:
        if at is None:
            return None
        utc = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        local = at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        both = f"{utc} UTC" + (f" ({local} {self.name})" if self.show_local else "")
        return {"utc": utc, "local": local, "both": both, "iso": at.astimezone(UTC).isoformat()}


def _span(start: datetime | None, end: datetime | None) -> str:
    """How long a role was held or a runbook step ran; "" while it is not over."""
    return format_duration(end - start) if start is not None and end is not None else ""


def _header(
    incident: Incident,
    settings: Settings,
    postmortem: Postmortem | None,
    authors: Sequence[str],
    times: _Times,
) -> dict[str, Any]:
    descriptions = {level.name: level.description for level in settings.severities}
    status = postmortem.status if postmortem is not None else PostmortemStatus.DRAFT
    owner = postmortem.owner if postmortem is not None else None
    due = postmortem.due_date if postmortem is not None else None
    owner = owner or proposed_owner(incident)
    due = due or proposed_due_date(incident, settings)
    first = incident.started_at or incident.declared_at
    return {
        "reference": incident.reference,
        "number": incident.number,
        "title": incident.title,
        "severity": incident.severity,
        "severity_description": descriptions.get(incident.severity, ""),
        "status": incident.status,
        "service": incident.service or "",
        "channel": f"#{incident.channel_name}" if incident.channel_name else "",
        "declared_by": incident.declared_by,
        "postmortem_status": str(status),
        "postmortem_status_label": str(status).replace("_", " ").capitalize(),
        "owner": owner,
        "due_date": due.isoformat() if due else "",
        "authors": list(authors),
        "date": first.astimezone(times.tz).date().isoformat(),
    }


def _impact(incident: Incident, figures: Measures, times: _Times) -> dict[str, Any]:
    """The window users were affected, how many, and the bad minutes it adds up to."""
    impact, bad = figures.impact_duration, figures.bad_minutes
    end = moment(incident, impact.counted_to)
    return {
        "service": incident.service or "",
        "start": times.moment(incident.started_at),
        "end": times.moment(end),
        "until_mitigated": impact.counted_to == "mitigated",
        "duration": impact.text,
        "note": impact.note,
        "unknown_because": impact.unknown_because,
        "fraction": percent(bad.fraction) if bad.fraction is not None else "",
        "bad_minutes": bad.text,
        "bad_minutes_note": bad.note,
        "bad_minutes_unknown_because": bad.unknown_because,
    }


def _milestones(incident: Incident, times: _Times) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "label": MILESTONES[name].label,
            "meaning": meaning,
            "at": times.moment(moment(incident, name)),
        }
        for name, meaning in MILESTONE_MEANINGS
    ]


def _measure(measure: Measure) -> dict[str, Any]:
    return {
        "name": measure.name,
        "label": measure.label,
        "from": MILESTONES[measure.counted_from].label,
        "to": MILESTONES[measure.counted_to].label,
        "measures": measure.counts,
        "value": measure.text,
        "note": measure.note,
        "negative": measure.negative,
        "unknown_because": measure.unknown_because,
    }


def _role_order(settings: Settings) -> dict[str, int]:
    return {role: index for index, role in enumerate(settings.roles)}


def _sorted_assignments(
    assignments: Iterable[RoleAssignment], settings: Settings
) -> list[RoleAssignment]:
    order = _role_order(settings)
    return sorted(
        assignments,
        key=lambda a: (order.get(a.role, len(order)), a.role, a.started_at, a.id),
    )


def _roles(
    assignments: Sequence[RoleAssignment], times: _Times
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every assignment as a table row, and the handovers between consecutive holders."""
    rows: list[dict[str, Any]] = []
    handovers: list[dict[str, Any]] = []
    previous: RoleAssignment | None = None
    for assignment in assignments:
        rows.append(
            {
                "role": assignment.role,
                "role_label": assignment.role.replace("_", " ").capitalize(),
                "holder": assignment.holder,
                "assigned_by": assignment.assigned_by,
                "from": times.moment(assignment.started_at),
                "until": times.moment(assignment.ended_at),
                "ended_by": assignment.ended_by or "",
                "duration": _span(assignment.started_at, assignment.ended_at),
            }
        )
        if (
            previous is not None
            and previous.role == assignment.role
            and previous.ended_at is not None
            and previous.ended_at == assignment.started_at
        ):
            handovers.append(
                {
                    "role": assignment.role,
                    "role_label": assignment.role.replace("_", " ").capitalize(),
                    "from_holder": previous.holder,
                    "to_holder": assignment.holder,
                    "at": times.moment(assignment.started_at),
                    "by": assignment.assigned_by,
                }
            )
        previous = assignment
    return rows, handovers


def _participants(
    incident: Incident,
    assignments: Sequence[RoleAssignment],
    events: Sequence[TimelineEvent],
    runs: Sequence[RunbookRun],
    settings: Settings,
) -> list[dict[str, Any]]:
    people: dict[str, dict[str, Any]] = {}

    def person(name: str) -> dict[str, Any]:
        return people.setdefault(
            name, {"name": name, "roles": [], "notes": 0, "messages": 0, "declared": False}
        )

    person(incident.declared_by)["declared"] = True
    for assignment in assignments:
        roles = person(assignment.holder)["roles"]
        if assignment.role not in roles:
            roles.append(assignment.role)
    for event in events:
        done_by = _doer(event)
        if done_by is not None:
            person(done_by)
        if event.kind == EventKind.CHAT_MESSAGE:
            person(str(event.data.get("author") or event.actor))["messages"] += 1
        elif event.kind == EventKind.NOTE:
            person(event.actor)["notes"] += 1
        else:
            person(event.actor)
    for run in runs:
        person(run.requested_by)
    order = _role_order(settings)
    result = []
    for name in sorted(people):
        entry = people[name]
        entry["roles"] = sorted(entry["roles"], key=lambda r: (order.get(r, len(order)), r))
        entry["roles_text"] = ", ".join(entry["roles"])
        result.append(entry)
    return result


def _permalink(event: TimelineEvent) -> str:
    link = event.data.get("permalink") if isinstance(event.data, dict) else None
    return link if isinstance(link, str) else ""


def _doer(event: TimelineEvent) -> str | None:
    """Who did what the entry says: a captured message's author, else `done_by` (None: nobody)."""
    if event.kind == EventKind.CHAT_MESSAGE and event.data.get("author"):
        return str(event.data["author"])
    return event.done_by


def _timeline(events: Sequence[TimelineEvent], times: _Times) -> list[dict[str, Any]]:
    entries = []
    for event in events:
        if event.kind in HIDDEN_EVENT_KINDS:
            continue
        done_by = _doer(event)
        entries.append(
            {
                "id": event.id,
                "kind": event.kind,
                "label": EVENT_LABELS.get(event.kind, event.kind.replace("_", " ").capitalize()),
                "at": times.moment(event.occurred_at),
                "recorded": times.moment(event.recorded_at),
                "logged_late": event.recorded_at - event.occurred_at >= LOGGED_LATE_AFTER,
                "actor": event.actor,
                "done_by": done_by or "",
                "who": done_by or NOBODY,
                "recorded_by": event.actor if event.actor != done_by else "",
                "text": event.text,
                "edited": event.edited_at is not None,
                "permalink": _permalink(event),
            }
        )
    return entries


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _runs(runs: Sequence[RunbookRun], times: _Times) -> list[dict[str, Any]]:
    result = []
    for run in runs:
        steps = []
        for number, step in enumerate(sorted(run.steps, key=lambda s: (s.position, s.id)), 1):
            error = _one_line(step.error or "", STEP_RESULT_MAX_LENGTH)
            output = _one_line(step.output or "", STEP_RESULT_MAX_LENGTH)
            steps.append(
                {
                    "number": number,
                    "name": step.name,
                    "status": step.status,
                    "attempts": step.attempts,
                    "approved_by": step.approved_by or "",
                    "started": times.moment(step.started_at),
                    "finished": times.moment(step.finished_at),
                    "duration": _span(step.started_at, step.finished_at),
                    "error": error,
                    "output": output,
                    "result": error or output,
                }
            )
        params = run.params if isinstance(run.params, dict) else {}
        result.append(
            {
                "id": run.id,
                "runbook": run.runbook,
                "requested_by": run.requested_by,
                "status": run.status,
                "dry_run": run.dry_run,
                "params": ", ".join(f"{key}={params[key]}" for key in sorted(params)),
                "created": times.moment(run.created_at),
                "started": times.moment(run.started_at),
                "finished": times.moment(run.finished_at),
                "duration": _span(run.started_at, run.finished_at),
                "error": _one_line(run.error or "", STEP_RESULT_MAX_LENGTH),
                "steps": steps,
            }
        )
    return result


def _action_items(items: Sequence[ActionItem], times: _Times) -> list[dict[str, Any]]:
    return [
        {
            "id": item.id,
            "text": item.text,
            "owner": item.owner or "",
            "due": item.due_date.isoformat() if item.due_date else "",
            "kind": item.kind,
            "status": item.status,
            "completed": times.moment(item.completed_at),
        }
        for item in sorted(items, key=lambda i: i.id)
    ]


def build_context(session: Session, incident: Incident, settings: Settings) -> dict[str, Any]:
    """Everything a postmortem template may use, as plain data, read from the record.

    Keys: `incident` (reference, title, severity, status, service, channel, owner,
    due_date, postmortem status, authors, date), `description` (the impact as
    declared), `summary` (what resolved it), `timezone` (name, show_local),
    `impact` (the window, the share affected, bad minutes), `milestones`, `measures`
    (each figure of `bot.incidents.measures`, with what it counts, a note, or why it
    is unknown), `roles`, `handovers`, `participants`, `timeline` (each entry with
    who did it, who recorded it where different, and whether it was logged after the
    fact), `runbook_runs`, `action_items` and `command_name`.

    Times are given in UTC and in the configured zone (`moment` dicts: utc, local,
    both, iso; None when not recorded). Missing text is "" and missing numbers None.
    """
    times = _Times(settings.timezone)
    events = list_events(session, incident=incident)
    assignments = _sorted_assignments(
        session.scalars(select(RoleAssignment).where(RoleAssignment.incident_id == incident.id)),
        settings,
    )
    runs = list(
        session.scalars(
            select(RunbookRun)
            .where(RunbookRun.incident_id == incident.id)
            .options(selectinload(RunbookRun.steps))
            .order_by(RunbookRun.created_at, RunbookRun.id)
        )
    )
    items = list(session.scalars(select(ActionItem).where(ActionItem.incident_id == incident.id)))
    postmortem = find_postmortem(session, incident)

    authors = sorted(
        {a.holder for a in assignments} | {e.actor for e in events if e.kind == EventKind.NOTE}
    )
    role_rows, handovers = _roles(assignments, times)
    figures = measures_of(incident)
    return {
        "incident": _header(incident, settings, postmortem, authors, times),
        "description": incident.description or "",
        "summary": incident.summary or "",
        "timezone": {"name": times.name, "show_local": times.show_local},
        "impact": _impact(incident, figures, times),
        "milestones": _milestones(incident, times),
        "measures": [_measure(measure) for measure in figures.durations],
        "roles": role_rows,
        "handovers": handovers,
        "participants": _participants(incident, assignments, events, runs, settings),
        "timeline": _timeline(events, times),
        "runbook_runs": _runs(runs, times),
        "action_items": _action_items(items, times),
        "command_name": settings.command_name,
    }

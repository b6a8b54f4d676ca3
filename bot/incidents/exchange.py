"""The incident exchange format: one incident as a JSON document, to export and import.

The format is published as a JSON Schema (`schemas/incident.schema.json`, shipped in
the wheel). The same incident always gives the same bytes: keys in a fixed order (data
sorted), lists in the order things happened, times in UTC with `Z`. Timeline entries,
action items and runbook runs are numbered within the document, and a timeline entry's
data names them by those numbers, so a document means the same in any database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import resources
from bot.storage.models import (
    ActionItem,
    Incident,
    Postmortem,
    RoleAssignment,
    RunbookRun,
    TimelineEvent,
)

FORMAT = "incident-bot/incident"
VERSION = 1
SCHEMA_FILE = "incident.schema.json"

# The milestones in the document, each kept in the incident's `<name>_at` column.
MILESTONES = (
    "started",
    "impact_ended",
    "detected",
    "declared",
    "acknowledged",
    "mitigated",
    "resolved",
    "closed",
)
# Keys of a timeline entry's data that name another row of the incident, and its list.
REFERENCES = {"note_id": "timeline", "action_id": "action_items", "run_id": "runbook_runs"}
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@cache
def schema() -> dict[str, Any]:
    """The published JSON Schema of the format."""
    text = (resources.schemas() / SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def utc_text(moment: datetime | None) -> str | None:
    """A time as ISO 8601 in UTC with `Z` (microseconds only when there are some)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def parse_time(text: str) -> datetime:
    """A time written as RFC 3339 (a date, a time with seconds, a zone), in UTC.

    Raises ValueError for anything else, such as a date alone or a 13th month.
    """
    if not _TIME.fullmatch(text):
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    return datetime.fromisoformat(text).astimezone(UTC)


def parse_date(text: str) -> date:
    """A date written as YYYY-MM-DD; ValueError for anything else."""
    if not _DATE.fullmatch(text):
        raise ValueError(f"not a YYYY-MM-DD date: {text!r}")
    return date.fromisoformat(text)


def _date_text(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


def _numbering(ids: Sequence[int]) -> dict[int, int]:
    """Database id -> the row's number in the document (its place in the list, from 1)."""
    return {row_id: number for number, row_id in enumerate(ids, start=1)}


def _local_data(data: dict[str, Any], numbers: dict[str, dict[int, int]]) -> dict[str, Any]:
    local = dict(data)
    for key, listed in REFERENCES.items():
        value = local.get(key)
        if isinstance(value, int) and value in numbers[listed]:
            local[key] = numbers[listed][value]
    return dict(_sorted_keys(local))


def _role(assignment: RoleAssignment) -> dict[str, Any]:
    return {
        "role": assignment.role,
        "holder": assignment.holder,
        "assigned_by": assignment.assigned_by,
        "started_at": utc_text(assignment.started_at),
        "ended_at": utc_text(assignment.ended_at),
        "ended_by": assignment.ended_by,
    }


def _event(number: int, event: TimelineEvent, numbers: dict[str, dict[int, int]]) -> dict[str, Any]:
    return {
        "id": number,
        "kind": event.kind,
        "occurred_at": utc_text(event.occurred_at),
        "recorded_at": utc_text(event.recorded_at),
        "actor": event.actor,
        "done_by": event.done_by,
        "text": event.text,
        "data": _local_data(event.data or {}, numbers),
        "edited_at": utc_text(event.edited_at),
        "deleted_at": utc_text(event.deleted_at),
    }


def _action_item(number: int, item: ActionItem) -> dict[str, Any]:
    return {
        "id": number,
        "text": item.text,
        "owner": item.owner,
        "due_date": _date_text(item.due_date),
        "kind": item.kind,
        "status": item.status,
        "created_by": item.created_by,
        "created_at": utc_text(item.created_at),
        "completed_at": utc_text(item.completed_at),
    }


def _runbook_run(number: int, run: RunbookRun) -> dict[str, Any]:
    """What a run did and when; its parameters, outputs and errors stay out."""
    return {
        "id": number,
        "runbook": run.runbook,
        "status": run.status,
        "dry_run": run.dry_run,
        "requested_by": run.requested_by,
        "created_at": utc_text(run.created_at),
        "started_at": utc_text(run.started_at),
        "finished_at": utc_text(run.finished_at),
        "steps": [
            {
                "name": step.name,
                "status": step.status,
                "started_at": utc_text(step.started_at),
                "finished_at": utc_text(step.finished_at),
            }
            for step in run.steps
        ],
    }


def _postmortem(postmortem: Postmortem | None) -> dict[str, Any] | None:
    if postmortem is None:
        return None
    return {
        "status": postmortem.status,
        "owner": postmortem.owner,
        "due_date": _date_text(postmortem.due_date),
        "created_at": utc_text(postmortem.created_at),
        "updated_at": utc_text(postmortem.updated_at),
    }


def document_of(session: Session, incident: Incident) -> dict[str, Any]:
    """The incident with everything recorded about it, as a document of the format.

    `external_id` is where the incident came from: the id it was imported under, or
    its own reference for an incident first recorded here.
    """
    roles = sorted(incident.roles, key=lambda assignment: (assignment.started_at, assignment.id))
    events = list(
        session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident.id)
            .order_by(TimelineEvent.occurred_at, TimelineEvent.id)
        )
    )
    items = list(
        session.scalars(
            select(ActionItem)
            .where(ActionItem.incident_id == incident.id)
            .order_by(ActionItem.created_at, ActionItem.id)
        )
    )
    runs = list(
        session.scalars(
            select(RunbookRun)
            .where(RunbookRun.incident_id == incident.id)
            .order_by(RunbookRun.created_at, RunbookRun.id)
        )
    )
    postmortem = session.scalar(select(Postmortem).where(Postmortem.incident_id == incident.id))
    numbers = {
        "timeline": _numbering([event.id for event in events]),
        "action_items": _numbering([item.id for item in items]),
        "runbook_runs": _numbering([run.id for run in runs]),
    }
    return {
        "format": FORMAT,
        "version": VERSION,
        "reference": incident.reference,
        "number": incident.number,
        "external_id": incident.external_id or incident.reference,
        "title": incident.title,
        "description": incident.description,
        "severity": incident.severity,
        "service": incident.service,
        "status": incident.status,
        "summary": incident.summary,
        "declared_by": incident.declared_by,
        "channel_name": incident.channel_name,
        "impact_fraction": incident.impact_fraction,
        "milestones": {name: utc_text(getattr(incident, f"{name}_at")) for name in MILESTONES},
        "roles": [_role(assignment) for assignment in roles],
        "timeline": [_event(number, event, numbers) for number, event in enumerate(events, 1)],
        "action_items": [_action_item(number, item) for number, item in enumerate(items, 1)],
        "runbook_runs": [_runbook_run(number, run) for number, run in enumerate(runs, 1)],
        "postmortem": _postmortem(postmortem),
    }


def dumps(document: dict[str, Any]) -> str:
    """The document as JSON text: indented, non-ASCII kept as it is, a newline at the end."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"

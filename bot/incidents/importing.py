"""Importing incidents from exchange documents: every file checked whole before any is written.

An imported incident gets the next number here and keeps the id it had where it came
from (`external_id`), so importing the same file again finds it and changes nothing.
It is history, not a live incident: no channel is opened, no chat work is queued and no
runbook starts (only runs that are over are imported).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.errors import IncidentBotError
from bot.incidents.exchange import MILESTONES, REFERENCES, parse_date, parse_time
from bot.incidents.import_checks import problems_in
from bot.incidents.lifecycle import REFERENCE, next_number
from bot.storage.models import (
    MAX_ID,
    ActionItem,
    ActionKind,
    ActionStatus,
    Incident,
    Postmortem,
    RoleAssignment,
    RunbookRun,
    RunbookStepRun,
    TimelineEvent,
)

# A row a timeline entry's data may name, by the document's id for it.
Named = TimelineEvent | ActionItem | RunbookRun


class ImportRefused(IncidentBotError):
    """Some files cannot be imported; nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Imported:
    """What became of one file: the incident it is here, and whether it was new."""

    file: str
    reference: str
    created: bool

    def __str__(self) -> str:
        if self.created:
            return f"{self.file}: imported as {self.reference}"
        return f"{self.file}: already here as {self.reference}; nothing changed"


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def read_document(path: Path) -> tuple[object, list[str]]:
    """The JSON value in a file, or the reason it has none (as `FILE: ...` lines)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as problem:
        return None, [f"{path}: cannot read it: {problem.strerror or problem}"]
    except UnicodeDecodeError:
        return None, [f"{path}: is not UTF-8 text"]
    try:
        return json.loads(text, parse_constant=_refuse_constant), []
    except json.JSONDecodeError as problem:
        where = f"line {problem.lineno}, column {problem.colno}"
        return None, [f"{path}: is not JSON: {problem.msg} at {where}"]
    except ValueError as problem:
        return None, [f"{path}: is not JSON: {problem}"]


def import_files(
    session: Session, paths: Sequence[Path], *, settings: Settings, now: datetime
) -> list[Imported]:
    """Import every file in the caller's transaction, or none: ImportRefused lists why not."""
    documents: list[tuple[Path, dict[str, Any]]] = []
    problems: list[str] = []
    for path in paths:
        document, unread = read_document(path)
        problems += unread
        if unread:
            continue
        found = problems_in(document, settings=settings, now=now)
        problems += [f"{path}: {problem}" for problem in found]
        if not found and isinstance(document, dict):
            documents.append((path, document))
    if problems:
        raise ImportRefused(problems)
    return [_import(session, str(path), document, now) for path, document in documents]


def find_existing(session: Session, key: str, declared_at: datetime) -> Incident | None:
    """The incident a document with this key already is here, if any.

    Besides an incident imported under the key, that is this database's own `INC-n`
    when the key is its reference and it was declared at the same moment: a file
    exported here and imported back.
    """
    imported = session.scalar(select(Incident).where(Incident.external_id == key))
    if imported is not None:
        return imported
    match = REFERENCE.match(key)
    if match is None or int(match.group(1)) > MAX_ID:
        return None
    own = session.scalar(
        select(Incident).where(
            Incident.number == int(match.group(1)), Incident.external_id.is_(None)
        )
    )
    return own if own is not None and own.declared_at == declared_at else None


def _time(value: str | None) -> datetime | None:
    return parse_time(value) if value is not None else None


def _import(session: Session, file: str, document: dict[str, Any], now: datetime) -> Imported:
    key = str(document.get("external_id") or document["reference"])
    milestones = document["milestones"]
    existing = find_existing(session, key, parse_time(milestones["declared"]))
    if existing is not None:
        return Imported(file=file, reference=existing.reference, created=False)
    incident = Incident(
        number=next_number(session),
        external_id=key,
        title=document["title"].strip(),
        description=document.get("description", ""),
        summary=document.get("summary", ""),
        severity=document["severity"],
        service=document.get("service"),
        status=document["status"],
        declared_by=document["declared_by"],
        channel_name=document.get("channel_name"),
        impact_fraction=document.get("impact_fraction"),
        updated_at=now,
        **{f"{name}_at": _time(milestones.get(name)) for name in MILESTONES},
    )
    session.add(incident)
    for role in document.get("roles", []):
        session.add(_role(incident, role))
    rows: dict[str, dict[int, Named]] = {listed: {} for listed in REFERENCES.values()}
    events = [_event(incident, entry) for entry in document.get("timeline", [])]
    for entry, event in zip(document.get("timeline", []), events, strict=True):
        session.add(event)
        if "id" in entry:
            rows["timeline"][entry["id"]] = event
    for entry in document.get("action_items", []):
        item = _action_item(incident, entry)
        session.add(item)
        if "id" in entry:
            rows["action_items"][entry["id"]] = item
    for entry in document.get("runbook_runs", []):
        run = _runbook_run(incident, entry)
        session.add(run)
        if "id" in entry:
            rows["runbook_runs"][entry["id"]] = run
    if document.get("postmortem") is not None:
        session.add(_postmortem(incident, document["postmortem"]))
    session.flush()
    for event in events:
        _point_at_rows(event, rows)
    session.flush()
    return Imported(file=file, reference=incident.reference, created=True)


def _point_at_rows(event: TimelineEvent, rows: dict[str, dict[int, Named]]) -> None:
    """Turn the document's ids in the event's data into the ids of the rows written here."""
    data = dict(event.data)
    for key, listed in REFERENCES.items():
        if key in data:
            data[key] = rows[listed][data[key]].id
    if data != event.data:
        event.data = data


def _role(incident: Incident, role: dict[str, Any]) -> RoleAssignment:
    return RoleAssignment(
        incident=incident,
        role=role["role"],
        holder=role["holder"],
        assigned_by=role["assigned_by"],
        started_at=parse_time(role["started_at"]),
        ended_at=_time(role.get("ended_at")),
        ended_by=role.get("ended_by"),
    )


def _event(incident: Incident, entry: dict[str, Any]) -> TimelineEvent:
    occurred_at = parse_time(entry["occurred_at"])
    return TimelineEvent(
        incident=incident,
        kind=entry["kind"],
        occurred_at=occurred_at,
        recorded_at=_time(entry.get("recorded_at")) or occurred_at,
        actor=entry["actor"],
        done_by=entry.get("done_by", entry["actor"]),
        text=entry["text"],
        data=entry.get("data", {}),
        edited_at=_time(entry.get("edited_at")),
        deleted_at=_time(entry.get("deleted_at")),
    )


def _action_item(incident: Incident, entry: dict[str, Any]) -> ActionItem:
    due_date = entry.get("due_date")
    return ActionItem(
        incident=incident,
        text=entry["text"],
        owner=entry.get("owner"),
        due_date=parse_date(due_date) if due_date is not None else None,
        kind=entry.get("kind", ActionKind.PREVENT),
        status=entry.get("status", ActionStatus.OPEN),
        created_by=entry["created_by"],
        created_at=parse_time(entry["created_at"]),
        completed_at=_time(entry.get("completed_at")),
    )


def _runbook_run(incident: Incident, entry: dict[str, Any]) -> RunbookRun:
    run = RunbookRun(
        incident=incident,
        runbook=entry["runbook"],
        requested_by=entry["requested_by"],
        params={},
        dry_run=entry.get("dry_run", False),
        status=entry["status"],
        created_at=parse_time(entry["created_at"]),
        started_at=_time(entry.get("started_at")),
        finished_at=_time(entry.get("finished_at")),
    )
    for position, step in enumerate(entry.get("steps", [])):
        run.steps.append(
            RunbookStepRun(
                position=position,
                name=step["name"],
                status=step["status"],
                started_at=_time(step.get("started_at")),
                finished_at=_time(step.get("finished_at")),
            )
        )
    return run


def _postmortem(incident: Incident, entry: dict[str, Any]) -> Postmortem:
    created_at = parse_time(entry["created_at"])
    due_date = entry.get("due_date")
    return Postmortem(
        incident=incident,
        status=entry["status"],
        owner=entry.get("owner"),
        due_date=parse_date(due_date) if due_date is not None else None,
        created_at=created_at,
        updated_at=_time(entry.get("updated_at")) or created_at,
    )

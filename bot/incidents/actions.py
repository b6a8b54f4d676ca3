"""Action items: the follow-up work an incident leaves behind."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from bot.errors import NotFound, UsageError
from bot.incidents import ordering
from bot.incidents.timeline import record_event
from bot.storage.models import (
    MAX_ID,
    ActionItem,
    ActionKind,
    ActionStatus,
    EventKind,
    Incident,
    TimelineEvent,
)


def parse_kind(value: str) -> ActionKind:
    """Accept an action kind name in any case."""
    try:
        return ActionKind(value.strip().lower())
    except ValueError:
        kinds = ", ".join(kind.value for kind in ActionKind)
        raise UsageError(f"Unknown action kind `{value}`. Use one of {kinds}.") from None


def add_action_item(
    session: Session,
    *,
    incident: Incident,
    text: str,
    actor: str,
    now: datetime,
    owner: str | None = None,
    due_date: date | None = None,
    kind: ActionKind = ActionKind.PREVENT,
    at: datetime | None = None,
) -> TimelineEvent:
    """Record a follow-up with its owner and due date, agreed at `at` if it was earlier."""
    text = text.strip()
    if not text:
        raise UsageError("An action item needs text: `action <text> [@owner] [due:YYYY-MM-DD]`.")
    moment = at or now
    ordering.check_after_beginning(incident, moment, "an action item cannot be agreed before that")
    item = ActionItem(
        incident=incident,
        text=text,
        owner=owner,
        due_date=due_date,
        status=ActionStatus.OPEN,
        kind=kind,
        created_by=actor,
        created_at=moment,
    )
    session.add(item)
    session.flush()
    details = [f"owner {owner}" if owner else "no owner", kind.value]
    if due_date:
        details.append(f"due {due_date.isoformat()}")
    return record_event(
        session,
        incident=incident,
        kind=EventKind.ACTION_ADDED,
        actor=actor,
        text=f"Action item #{item.id}: {text} ({', '.join(details)})",
        now=now,
        occurred_at=moment,
        data={
            "action_id": item.id,
            "owner": owner,
            "due_date": due_date.isoformat() if due_date else None,
            "kind": kind.value,
        },
    )


def complete_action_item(
    session: Session,
    *,
    incident: Incident,
    item_id: int,
    actor: str,
    now: datetime,
    at: datetime | None = None,
) -> TimelineEvent:
    """Mark an action item done, at `at` for work done before it was recorded.

    It may have been done before the item was written down, never before the incident began.
    """
    item = session.get(ActionItem, item_id) if item_id <= MAX_ID else None
    if item is None or item.incident_id != incident.id:
        raise NotFound(f"{incident.reference} has no action item #{item_id}.")
    if item.status == ActionStatus.DONE:
        raise UsageError(f"Action item #{item_id} is already done.")
    moment = at or now
    ordering.check_after_beginning(
        incident, moment, f"action item #{item.id} cannot be done before that"
    )
    item.status = ActionStatus.DONE
    item.completed_at = moment
    return record_event(
        session,
        incident=incident,
        kind=EventKind.ACTION_DONE,
        actor=actor,
        text=f"Action item #{item.id} done: {item.text}",
        now=now,
        occurred_at=moment,
        data={"action_id": item.id},
    )

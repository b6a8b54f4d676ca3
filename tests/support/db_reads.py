"""Reading the database in tests: what a scenario left behind, row by row."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.models import ActionItem, Base, Incident, RoleAssignment, TimelineEvent

Factory = sessionmaker[Session]


def incident(session_factory: Factory, number: int = 1) -> Incident:
    with session_factory() as session:
        found = session.scalar(select(Incident).where(Incident.number == number))
        assert found is not None, f"INC-{number} is not in the database"
        return found


def events(session_factory: Factory, number: int = 1) -> list[TimelineEvent]:
    """Every event of the incident, deleted ones too, in the order recorded."""
    with session_factory() as session:
        query = (
            select(TimelineEvent)
            .join(Incident)
            .where(Incident.number == number)
            .order_by(TimelineEvent.id)
        )
        return list(session.scalars(query))


def assignments(session_factory: Factory) -> list[RoleAssignment]:
    with session_factory() as session:
        return list(session.scalars(select(RoleAssignment).order_by(RoleAssignment.id)))


def action_items(session_factory: Factory) -> list[ActionItem]:
    with session_factory() as session:
        return list(session.scalars(select(ActionItem).order_by(ActionItem.id)))


def snapshot(session_factory: Factory) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, to compare before and after a command."""
    with session_factory() as session:
        return {
            table.name: [
                tuple(row)
                for row in session.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


def assert_error(reply, *fragments: str) -> None:
    """A one-line error the person can act on, with no Python internals in it."""
    assert reply is not None
    message = reply.message
    assert message.tone == "error", message
    assert "\n" not in message.text
    assert message.lines == ()
    assert "Traceback" not in message.text
    assert "Error" not in message.text  # no exception class names
    for fragment in fragments:
        assert fragment in message.text


def at(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)

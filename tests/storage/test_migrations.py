"""The migrations build exactly the schema the models describe, on every database."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.storage import database
from bot.storage.models import Base


def _differences(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_migrations_match_the_models(engine):
    assert database.current_revision(engine) is not None
    assert _differences(engine) == []


def test_downgrade_to_base_and_upgrade_again(engine):
    database.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    database.upgrade(engine)
    assert {"incidents", "timeline_events", "role_assignments", "action_items"} <= set(
        inspect(engine).get_table_names()
    )
    assert _differences(engine) == []


def test_timestamps_come_back_timezone_aware_in_utc(session, settings):
    from datetime import datetime, timedelta, timezone

    from bot.incidents.lifecycle import declare

    seoul = timezone(timedelta(hours=9))
    declared = datetime(2026, 11, 25, 23, 30, tzinfo=seoul)
    incident = declare(session, settings=settings, title="x", actor="alice", now=declared)
    session.commit()
    session.expire_all()
    stored = session.get(type(incident), incident.id)
    assert stored.declared_at.utcoffset() == timedelta(0)
    assert stored.declared_at == declared
    assert stored.declared_at.hour == 14

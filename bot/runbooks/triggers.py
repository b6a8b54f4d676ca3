"""Runbooks that start (or are offered) by themselves when an incident matches them.

Checked when an incident is declared and again when its severity changes; each
runbook starts at most once per incident, guarded by a unique key in the database.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.errors import IncidentBotError
from bot.incidents.timeline import record_event
from bot.runbooks.engine import RunbookEngine
from bot.runbooks.journal import BOT
from bot.runbooks.spec import RunbookSpec, TriggerSpec
from bot.storage import outbox
from bot.storage.models import EventKind, Incident, RunbookRun, TimelineEvent
from bot.storage.outbox import AnnounceEvent

log = logging.getLogger(__name__)


def matches(trigger: TriggerSpec, incident: Incident) -> bool:
    """Empty lists in a trigger match anything."""
    severity_ok = not trigger.severities or incident.severity in trigger.severities
    service_ok = not trigger.services or (incident.service or "") in trigger.services
    return severity_ok and service_ok


def run_triggers(engine: RunbookEngine, incident_id: int) -> list[int]:
    """Start or offer every runbook whose trigger matches the incident now; returns run ids."""
    launches: list[tuple[int, dict[str, str]]] = []
    offered = False
    for spec in engine.catalog().runbooks.values():
        with engine.session_factory() as session:
            incident = session.get_one(Incident, incident_id)
            trigger = next((t for t in spec.triggers if matches(t, incident)), None)
            if trigger is None or not incident.is_open:
                continue
            key = f"{incident.id}:{spec.name}"
            if trigger.mode == "start":
                started = _start(engine, session, incident, spec, key)
                if started is not None:
                    launches.append(started)
            else:
                offered = _offer(engine, session, incident, spec, key) or offered
    for run_id, secrets in launches:
        engine.launch(run_id, secrets)
    if offered:
        engine.deliver(incident_id)
    return [run_id for run_id, _ in launches]


def _start(
    engine: RunbookEngine, session: Session, incident: Incident, spec: RunbookSpec, key: str
) -> tuple[int, dict[str, str]] | None:
    if session.scalar(select(RunbookRun.id).where(RunbookRun.trigger_key == key)) is not None:
        return None
    try:
        run, secrets = engine.start(
            session,
            incident=incident,
            name=spec.name,
            words=(),
            actor=BOT,
            trigger_key=key,
            by_trigger=True,
        )
        session.commit()
    except IntegrityError:  # the same trigger, handled at the same moment elsewhere
        session.rollback()
        return None
    except IncidentBotError as problem:
        session.rollback()
        record_event(
            session,
            incident=incident,
            kind=EventKind.RUNBOOK_REFUSED,
            actor=BOT,
            text=f"Runbook {spec.name} matches but could not start by itself: {problem}",
            now=engine.clock(),
            data={"runbook": spec.name},
        )
        session.commit()
        return None
    return run.id, secrets


def _offer(
    engine: RunbookEngine, session: Session, incident: Incident, spec: RunbookSpec, key: str
) -> bool:
    """Offer the runbook with a button, once; True when an offer was made now."""
    offered = select(TimelineEvent.id).where(
        TimelineEvent.incident_id == incident.id, TimelineEvent.source_ref == f"offer:{key}"
    )
    if session.scalar(offered) is not None:
        return False
    now = engine.clock()
    event = record_event(
        session,
        incident=incident,
        kind=EventKind.RUNBOOK_OFFERED,
        actor=BOT,
        text=f"Runbook {spec.name} matches this incident: {spec.summary}",
        now=now,
        data={"runbook": spec.name},
    )
    event.source_ref = f"offer:{key}"
    session.flush()
    outbox.enqueue(
        session,
        incident=incident,
        work=AnnounceEvent(event_id=event.id),
        now=now,
    )
    session.commit()
    return True

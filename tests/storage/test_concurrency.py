"""Many people declaring at once get distinct, consecutive incident numbers."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from sqlalchemy import select

from bot.incidents.lifecycle import declare
from bot.storage.models import Incident, TimelineEvent

DECLARERS = 20


def test_concurrent_declarations_get_gap_free_numbers(session_factory, settings, clock):
    barrier = Barrier(DECLARERS)

    def declare_one(index: int) -> int:
        barrier.wait()
        with session_factory() as session:
            incident = declare(
                session,
                settings=settings,
                title=f"outage {index}",
                actor=f"u{index}",
                now=clock(),
            )
            session.commit()
            return incident.number

    with ThreadPoolExecutor(max_workers=DECLARERS) as pool:
        numbers = list(pool.map(declare_one, range(DECLARERS)))

    assert sorted(numbers) == list(range(1, DECLARERS + 1))
    with session_factory() as session:
        stored = session.scalars(select(Incident.number)).all()
        events = session.scalars(select(TimelineEvent.kind)).all()
    assert sorted(stored) == list(range(1, DECLARERS + 1))
    assert events.count("declared") == DECLARERS


def test_a_rolled_back_declaration_gives_its_number_back(session_factory, settings, clock):
    with session_factory() as session:
        declare(session, settings=settings, title="abandoned", actor="alice", now=clock())
        session.rollback()
    with session_factory() as session:
        incident = declare(session, settings=settings, title="kept", actor="alice", now=clock())
        session.commit()
    assert incident.reference == "INC-1"

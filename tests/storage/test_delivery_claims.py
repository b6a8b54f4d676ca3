"""One replica at a time delivers an incident's chat work; a lapsed lease is taken over."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from bot.storage import outbox
from bot.storage.delivery_claims import DeliveryClaims
from bot.storage.models import Incident, Status
from bot.storage.outbox import AnnounceDeclared, OpenChannel
from bot.storage.replicas import LeaseTerms
from tests.support.clock import START, FakeClock


def claims_for(session_factory, replica: str, wall: FakeClock) -> DeliveryClaims:
    return DeliveryClaims(session_factory, terms=LeaseTerms(replica, timedelta(seconds=30), wall))


def incident_with_work(session_factory, number: int) -> int:
    with session_factory() as session:
        incident = Incident(
            number=number,
            title=f"Incident {number}",
            severity="SEV2",
            status=Status.INVESTIGATING,
            declared_by="alice",
            declared_at=START,
            updated_at=START,
        )
        session.add(incident)
        outbox.enqueue(session, incident=incident, work=OpenChannel(), now=START)
        outbox.enqueue(session, incident=incident, work=AnnounceDeclared(), now=START)
        session.commit()
        return incident.id


def test_of_two_replicas_asking_at_once_exactly_one_takes_an_incident(session_factory):
    wall = FakeClock()
    incidents = [incident_with_work(session_factory, number) for number in range(1, 21)]
    replicas = [claims_for(session_factory, f"replica-{n}", wall) for n in range(4)]

    def take(incident_id: int) -> int:
        with ThreadPoolExecutor(len(replicas)) as pool:
            return sum(pool.map(lambda claims: claims.claim(incident_id), replicas))

    assert [take(incident_id) for incident_id in incidents] == [1] * len(incidents)
    assert all(claims.waiting(limit=100) == [] for claims in replicas)


def test_waiting_work_is_listed_oldest_first_and_a_held_incident_is_not(session_factory):
    wall = FakeClock()
    first, second, third = (incident_with_work(session_factory, n) for n in (1, 2, 3))
    one, other = (
        claims_for(session_factory, "one", wall),
        claims_for(session_factory, "other", wall),
    )

    assert one.waiting(limit=10) == [first, second, third]
    assert one.claim(second)
    assert other.waiting(limit=10) == [first, third]
    assert not other.claim(second)


def test_a_lapsed_lease_is_taken_over_and_its_old_holder_learns_it_lost_it(session_factory):
    wall = FakeClock()
    incident_id = incident_with_work(session_factory, 1)
    dead, survivor = (
        claims_for(session_factory, "dead", wall),
        claims_for(session_factory, "alive", wall),
    )
    assert dead.claim(incident_id)

    wall.advance(seconds=29)
    assert survivor.waiting(limit=10) == [] and not survivor.claim(incident_id)
    wall.advance(seconds=2)
    assert survivor.waiting(limit=10) == [incident_id]
    assert survivor.claim(incident_id)

    assert dead.renew([incident_id]) == {incident_id}
    assert survivor.renew([incident_id]) == set()


def test_renewing_keeps_a_lease_alive_past_its_first_term(session_factory):
    wall = FakeClock()
    incident_id = incident_with_work(session_factory, 1)
    holder, other = (
        claims_for(session_factory, "holder", wall),
        claims_for(session_factory, "other", wall),
    )
    assert holder.claim(incident_id)
    for _ in range(5):
        wall.advance(seconds=20)
        assert holder.renew([incident_id]) == set()
    assert not other.claim(incident_id)


def test_work_the_chat_asked_to_wait_for_is_left_until_then_unless_asked_now(session_factory):
    wall = FakeClock()
    incident_id = incident_with_work(session_factory, 1)
    holder, other = (
        claims_for(session_factory, "holder", wall),
        claims_for(session_factory, "other", wall),
    )
    assert holder.claim(incident_id)
    holder.release(incident_id, not_before=wall() + timedelta(seconds=10))

    assert other.waiting(limit=10) == [] and not other.claim(incident_id)
    asked_now = claims_for(session_factory, "asked-now", wall)  # a delivery asked for now
    assert asked_now.claim(incident_id, deferred_too=True)
    asked_now.release(incident_id, not_before=wall() + timedelta(seconds=10))
    wall.advance(seconds=11)
    assert other.waiting(limit=10) == [incident_id]
    assert other.claim(incident_id)


def test_a_stopping_replica_gives_up_its_leases_for_others_to_take_at_once(session_factory):
    wall = FakeClock()
    incidents = [incident_with_work(session_factory, n) for n in (1, 2)]
    stopping, other = (
        claims_for(session_factory, "stopping", wall),
        claims_for(session_factory, "other", wall),
    )
    assert all(stopping.claim(incident_id) for incident_id in incidents)

    stopping.release_all()

    assert other.waiting(limit=10) == incidents
    assert all(other.claim(incident_id) for incident_id in incidents)

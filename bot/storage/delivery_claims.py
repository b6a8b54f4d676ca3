"""Which replica delivers which incident's chat work: one lease per incident.

One replica at a time delivers an incident's outbox items, so they reach the chat
in order and once; incidents go in parallel. A lease is taken by one
insert-or-conditional-update, so of two replicas asking at once exactly one gets
it; it lapses when its replica stops renewing it (killed), and another replica
takes the work over. Leases use the machine's wall clock (replicas' clocks agree
within seconds, as NTP keeps them), never the domain clock tests move by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from bot.storage import outbox
from bot.storage.models import DeliveryLease, OutboxItem
from bot.storage.replicas import LeaseTerms

_Insert = postgresql.Insert | sqlite.Insert


class DeliveryClaims:
    """Takes, renews and gives up this replica's leases on incidents' chat work."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        terms: LeaseTerms,
    ) -> None:
        self.session_factory = session_factory
        self.terms = terms

    def waiting(self, *, limit: int) -> list[int]:
        """Incidents with chat work pending that no live lease holds and the chat has not
        asked to wait for, oldest work first."""
        now = self.terms.wall_clock()
        free = and_(
            or_(DeliveryLease.incident_id.is_(None), _lapsed(now)),
            or_(DeliveryLease.not_before.is_(None), DeliveryLease.not_before <= now),
        )
        query = (
            select(OutboxItem.incident_id)
            .outerjoin(DeliveryLease, DeliveryLease.incident_id == OutboxItem.incident_id)
            .where(
                outbox.WAITING,
                OutboxItem.incident_id.is_not(None),
                free,
            )
            .group_by(OutboxItem.incident_id)
            .order_by(func.min(OutboxItem.id))
            .limit(limit)
        )
        with self.session_factory() as session:
            found = [incident_id for incident_id in session.scalars(query) if incident_id]
            session.commit()
        return found

    def claim(self, incident_id: int, *, deferred_too: bool = False) -> bool:
        """Take the incident's delivery if no live lease holds it; True when taken."""
        now = self.terms.wall_clock()
        taken = {
            "owner": self.terms.replica,
            "lease_until": now + self.terms.lease,
            "not_before": None,
        }
        free = _lapsed(now)
        if not deferred_too:
            free = and_(
                free, or_(DeliveryLease.not_before.is_(None), DeliveryLease.not_before <= now)
            )
        with self.session_factory() as session:
            insert = _insert_for(session)
            statement = (
                insert(DeliveryLease)
                .values(incident_id=incident_id, **taken)
                .on_conflict_do_update(index_elements=["incident_id"], set_=taken, where=free)
                .returning(DeliveryLease.incident_id)
            )
            claimed = session.execute(statement).first() is not None
            session.commit()
        return claimed

    def renew(self, incident_ids: Iterable[int]) -> set[int]:
        """Extend these leases; returns the incidents this replica no longer holds."""
        wanted = set(incident_ids)
        if not wanted:
            return set()
        with self.session_factory() as session:
            held = self._renew_in(session, wanted)
            session.commit()
        return wanted - held

    def renew_in(self, session: Session, incident_id: int) -> bool:
        """Extend one lease in the caller's transaction (committed with its work);
        False when this replica no longer holds it."""
        return bool(self._renew_in(session, {incident_id}))

    def _renew_in(self, session: Session, incident_ids: set[int]) -> set[int]:
        held_here = and_(
            DeliveryLease.incident_id.in_(incident_ids), DeliveryLease.owner == self.terms.replica
        )
        renewed = session.scalars(
            update(DeliveryLease)
            .where(held_here)
            .values(lease_until=self.terms.until())
            .returning(DeliveryLease.incident_id)
        )
        return set(renewed)

    def release(self, incident_id: int, *, not_before: datetime | None = None) -> None:
        """Give the incident's delivery up; `not_before`: nobody tries again until then."""
        with self.session_factory() as session:
            if not_before is None:
                session.execute(
                    delete(DeliveryLease).where(
                        DeliveryLease.incident_id == incident_id,
                        DeliveryLease.owner == self.terms.replica,
                    )
                )
            else:
                session.execute(
                    update(DeliveryLease)
                    .where(
                        DeliveryLease.incident_id == incident_id,
                        DeliveryLease.owner == self.terms.replica,
                    )
                    .values(owner=None, lease_until=None, not_before=not_before)
                )
            session.commit()

    def release_all(self) -> None:
        """Give up every lease this replica holds (it is stopping), for others to take now."""
        with self.session_factory() as session:
            session.execute(delete(DeliveryLease).where(DeliveryLease.owner == self.terms.replica))
            session.commit()


def _lapsed(now: datetime) -> ColumnElement[bool]:
    return or_(DeliveryLease.lease_until.is_(None), DeliveryLease.lease_until < now)


def _insert_for(session: Session) -> Callable[[type[DeliveryLease]], _Insert]:
    """The dialect's INSERT, which knows ON CONFLICT ... DO UPDATE ... WHERE."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert

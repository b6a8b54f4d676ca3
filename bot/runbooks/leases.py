"""Which replica executes which run: a lease per run, with an owner and an expiry.

The replica that executes a run holds its lease and renews it by a heartbeat;
a run with no owner or an expired lease is claimed by one conditional UPDATE,
so however many replicas look at once, exactly one takes it. Leases use the
machine's wall clock (replicas' clocks must agree within a few seconds, as NTP
keeps them), never the domain clock that tests move by hand.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.models import ACTIVE_RUN_STATUSES, RunbookRun
from bot.storage.replicas import LeaseTerms

log = logging.getLogger(__name__)


class RunLeases:
    """Takes, renews and gives up this replica's leases on runs."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        terms: LeaseTerms,
    ) -> None:
        self.session_factory = session_factory
        self.terms = terms

    def hold(self, run: RunbookRun) -> None:
        """A run this replica starts is its own from the start (in the caller's transaction)."""
        run.owner, run.lease_until = self.terms.replica, self.terms.until()

    def claim_orphans(self, *, sole_process: bool = False) -> list[int]:
        """Take the unfinished runs whose owner is gone; returns their ids, oldest first.

        `sole_process`: this is the only bot process on the database (a SQLite file
        at start), so any other owner is a dead one and its runs are taken too.
        """
        now = self.terms.wall_clock()
        orphaned = self._orphaned(now, sole_process=sole_process)
        with self.session_factory() as session:
            candidates = list(
                session.scalars(
                    select(RunbookRun.id)
                    .where(RunbookRun.status.in_(ACTIVE_RUN_STATUSES), orphaned)
                    .order_by(RunbookRun.id)
                )
            )
            session.commit()
        taken: list[int] = []
        for run_id in candidates:  # each one on its own, so a replica that lost a race moves on
            with self.session_factory() as session:
                claimed = session.execute(
                    update(RunbookRun)
                    .where(
                        RunbookRun.id == run_id,
                        RunbookRun.status.in_(ACTIVE_RUN_STATUSES),
                        orphaned,
                    )
                    .values(owner=self.terms.replica, lease_until=now + self.terms.lease)
                )
                session.commit()
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                taken.append(run_id)
        return taken

    def renew(self, run_ids: Iterable[int]) -> set[int]:
        """Extend the leases of these runs; returns the ones this replica no longer holds."""
        wanted = set(run_ids)
        if not wanted:
            return set()
        with self.session_factory() as session:
            session.execute(
                update(RunbookRun)
                .where(RunbookRun.id.in_(wanted), RunbookRun.owner == self.terms.replica)
                .values(lease_until=self.terms.until())
            )
            held = set(
                session.scalars(
                    select(RunbookRun.id).where(
                        RunbookRun.id.in_(wanted), RunbookRun.owner == self.terms.replica
                    )
                )
            )
            session.commit()
        return wanted - held

    def held_elsewhere(self, run: RunbookRun) -> bool:
        """Another replica holds the run and its lease has not lapsed."""
        until = run.lease_until
        return (
            run.owner not in (None, self.terms.replica)
            and until is not None
            and (until >= self.terms.wall_clock())
        )

    def cancelled(self, run_ids: Iterable[int]) -> set[int]:
        """Of these runs, the ones someone cancelled (perhaps through another replica)."""
        wanted = set(run_ids)
        if not wanted:
            return set()
        with self.session_factory() as session:
            found = set(
                session.scalars(
                    select(RunbookRun.id).where(
                        RunbookRun.id.in_(wanted), RunbookRun.cancelled_by.is_not(None)
                    )
                )
            )
            session.commit()
        return found

    def release(self) -> None:
        """Give up every unfinished run this replica holds, for another to take at once."""
        with self.session_factory() as session:
            session.execute(
                update(RunbookRun)
                .where(
                    RunbookRun.owner == self.terms.replica,
                    RunbookRun.status.in_(ACTIVE_RUN_STATUSES),
                )
                .values(owner=None, lease_until=None)
            )
            session.commit()

    def _orphaned(self, now: datetime, *, sole_process: bool) -> ColumnElement[bool]:
        if sole_process:
            return or_(RunbookRun.owner.is_(None), RunbookRun.owner != self.terms.replica)
        return or_(
            RunbookRun.owner.is_(None),
            RunbookRun.lease_until.is_(None),
            RunbookRun.lease_until < now,
        )


class LeaseKeeper:
    """A thread that renews this replica's leases and, every few seconds, recovers orphans.

    It renews three times per lease, so one slow round never lets a lease lapse;
    `sweep` is the engine's recovery, `lost` is told of runs another replica took
    and `cancel` of runs cancelled through another replica.
    """

    def __init__(
        self,
        leases: RunLeases,
        *,
        sweep_seconds: float,
        held: Callable[[], Iterable[int]],
        lost: Callable[[set[int]], None],
        cancel: Callable[[set[int]], None],
        sweep: Callable[[], object],
    ) -> None:
        self.leases = leases
        self.sweep_seconds = sweep_seconds
        self.held, self.lost, self.cancel, self.sweep = held, lost, cancel, sweep
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runbook-leases", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        beat = min(self.leases.terms.lease.total_seconds() / 3, self.sweep_seconds)
        since_sweep = 0.0
        while not self._stop.wait(beat):
            try:
                held = list(self.held())
                gone = self.leases.renew(held)
                if gone:
                    self.lost(gone)
                cancelled = self.leases.cancelled(set(held) - gone)
                if cancelled:
                    self.cancel(cancelled)
                since_sweep += beat
                if since_sweep >= self.sweep_seconds:
                    since_sweep = 0.0
                    self.sweep()
            except Exception:  # the database may be away for a moment: try again next beat
                log.exception("Renewing runbook leases or recovering runs failed")

"""Replaying the requests a replica stored and acknowledged but never handled (it died).

Every few seconds each replica looks for stored requests that are unhandled, not
given up, and whose lease has lapsed, and takes each with one conditional UPDATE
(owner, lease, attempts + 1), so two replicas never take the same one. It then hands
the stored body to the Bolt app again, marked as a replay: intake does not store it
again and the HTTP signature check does not apply. Acting on it still claims its key,
so a request that was handled meanwhile changes nothing. After `MAX_ATTEMPTS` a request
is given up and logged. On a SQLite file (one process) a request another name holds is
an orphan at once, as a runbook run is (bot/runbooks/leases.py).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from slack_bolt import App, BoltRequest
from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.slack.intake import REPLAYED
from bot.commands.inbox import database_unavailable, in_one_line
from bot.storage.models import InboxRequest
from bot.storage.replicas import LeaseTerms

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # the first arrival counts as one
BATCH = 50  # requests taken in one round at most
# How long a handled request's key is kept: far longer than Slack redelivers or a signed
# request stays valid (minutes), so a late copy is still known; given-up ones stay longer,
# for someone to look at.
KEEP_HANDLED = timedelta(days=1)
KEEP_GIVEN_UP = timedelta(days=7)


class Replayer:
    """This replica's thread that takes and replays orphaned requests."""

    def __init__(
        self,
        app: App,
        session_factory: sessionmaker[Session],
        *,
        terms: LeaseTerms,
        sole_process: bool,
    ) -> None:
        self.app = app
        self.session_factory = session_factory
        self.terms = terms
        self.interval = max(terms.lease.total_seconds() / 4, 1.0)
        self.sole_process = sole_process
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Look now, then every `interval` seconds, until `stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="inbox-replay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def replay_orphans(self) -> list[str]:
        """Take the orphaned requests and hand each to the app again; returns their keys."""
        replayed = []
        for key, body, attempt in self._take_orphans():
            request = BoltRequest(body=body, mode="socket_mode", context={REPLAYED: True})
            answer = self.app.dispatch(request)
            log.info("Replayed %s (attempt %d): %s", key, attempt, answer.status)
            replayed.append(key)
        return replayed

    def forget_old(self) -> int:
        """Delete requests handled more than a day ago (their bodies hold response URLs
        nobody needs any more); returns how many."""
        now = self.terms.wall_clock()
        with self.session_factory() as session:
            forgotten = session.execute(
                delete(InboxRequest).where(
                    or_(
                        InboxRequest.handled_at < now - KEEP_HANDLED,
                        InboxRequest.failed_at < now - KEEP_GIVEN_UP,
                    )
                )
            )
            session.commit()
        return int(forgotten.rowcount)  # type: ignore[attr-defined]

    def _loop(self) -> None:
        while True:
            try:
                self.replay_orphans()
                self.forget_old()
            except Exception as error:  # the database may be away for a moment: next round
                if database_unavailable(error):
                    log.warning("Could not look for requests to replay (%s)", in_one_line(error))
                else:
                    log.exception("Replaying stored requests failed")
            if self._stop.wait(self.interval):
                return

    def _take_orphans(self) -> list[tuple[str, dict[str, Any], int]]:
        now = self.terms.wall_clock()
        orphaned = self._orphaned(now)
        with self.session_factory() as session:
            candidates = session.execute(
                select(InboxRequest.key, InboxRequest.attempts)
                .where(orphaned)
                .order_by(InboxRequest.received_at)
                .limit(BATCH)
            ).all()
            session.commit()
        taken = []
        for key, attempts in candidates:  # one at a time: a replica that lost a race moves on
            if attempts >= MAX_ATTEMPTS:
                self._give_up(key, orphaned, now, f"after {attempts} attempts")
                continue
            with self.session_factory() as session:
                claimed = session.execute(
                    update(InboxRequest)
                    .where(InboxRequest.key == key, InboxRequest.attempts == attempts, orphaned)
                    .values(
                        owner=self.terms.replica,
                        lease_until=now + self.terms.lease,
                        attempts=InboxRequest.attempts + 1,
                    )
                )
                won = claimed.rowcount == 1  # type: ignore[attr-defined]
                body = session.get_one(InboxRequest, key).body if won else None
                session.commit()
            if not won:
                continue
            if body is None:
                held = InboxRequest.owner == self.terms.replica
                self._give_up(key, held, now, "as nothing of it was kept to replay")
                continue
            taken.append((key, body, attempts + 1))
        return taken

    def _give_up(self, key: str, still: ColumnElement[bool], now: datetime, why: str) -> None:
        with self.session_factory() as session:
            marked = session.execute(
                update(InboxRequest)
                .where(InboxRequest.key == key, InboxRequest.handled_at.is_(None), still)
                .values(failed_at=now)
            )
            session.commit()
        if marked.rowcount == 1:  # type: ignore[attr-defined]
            log.error("Gave up on %s %s; it was never handled", key, why)

    def _orphaned(self, now: datetime) -> ColumnElement[bool]:
        """Unhandled, not given up, and no live replica holds it."""
        gone = or_(
            InboxRequest.owner.is_(None),
            InboxRequest.lease_until.is_(None),
            InboxRequest.lease_until < now,
        )
        if self.sole_process:
            gone = or_(gone, InboxRequest.owner != self.terms.replica)
        return and_(InboxRequest.handled_at.is_(None), InboxRequest.failed_at.is_(None), gone)

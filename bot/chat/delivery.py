"""Delivering the outbox to the chat: each incident's work in order, incidents side by side,
each incident by one replica at a time.

A dispatcher finds incidents with work waiting, takes each one's lease
(bot/storage/delivery_claims.py) and hands it to a small pool; a worker delivers
the incident's items in order, renewing the lease before each one. A chat that
does not answer puts that incident aside until it may be tried again (the chat's
Retry-After, or a short backoff); a chat that refuses an item for good marks the
item failed and goes on, so one archived channel cannot block an incident, and
one throttled method cannot hold up the others' work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bot.chat.chat_work import Announcement, ChatWorkSender
from bot.chat.port import ChatPort, ChatRejected, ChatUnavailable
from bot.clock import Clock, utc_now
from bot.config import Settings
from bot.errors import IncidentBotError
from bot.storage import outbox
from bot.storage.delivery_claims import DeliveryClaims
from bot.storage.models import OutboxItem
from bot.storage.outbox import Work
from bot.storage.replicas import LeaseTerms

log = logging.getLogger(__name__)
LOCK_WAIT_SECONDS = 10  # how long a caller delivering in its own thread waits for its turn
# Chat calls in flight at once per delivery worker: a channel's set-up makes six at once.
CALLS_PER_WORKER = 8
BATCH = 50  # items read at a time for one incident
BACKOFF_MAX_SECONDS = 10.0
T = TypeVar("T")


class Deliverer:
    """Sends pending outbox items through a chat port, from any number of replicas."""

    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: sessionmaker[Session],
        chat: ChatPort,
        replica: str,
        side_by_side: bool,
        clock: Clock = utc_now,
        wall_clock: Clock = utc_now,
    ) -> None:
        """`side_by_side`: a channel's set-up calls run at once (Slack); otherwise one
        after another (the terminal, whose output must read in order)."""
        self.session_factory = session_factory
        self.clock = clock
        self.wall_clock = wall_clock  # leases and "tried since" are real time, never test time
        terms = LeaseTerms(replica, timedelta(seconds=settings.delivery_lease_seconds), wall_clock)
        self.claims = DeliveryClaims(session_factory, terms=terms)
        self._calls: Executor = (
            ThreadPoolExecutor(
                settings.delivery_workers * CALLS_PER_WORKER, thread_name_prefix="chat-call"
            )
            if side_by_side
            else InlineExecutor()
        )
        self.sender = ChatWorkSender(settings=settings, chat=chat, clock=clock, calls=self._calls)
        self._workers = settings.delivery_workers
        self._pool: ThreadPoolExecutor | None = None  # the background workers, once started
        self._busy: set[int] = set()  # incidents this process is delivering now
        self._renewed: dict[int, float] = {}  # when their leases were last renewed (monotonic)
        self._turns = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._dispatcher: threading.Thread | None = None

    # -- what commands and runs call ---------------------------------------------------

    def wake(self, incident_id: int) -> bool:
        """Have the pool deliver soon (never waits on the chat); True when the incident's
        earlier chat work has been failing, so the person can be told the chat lags."""
        self._wake.set()
        with self.session_factory() as session:
            return outbox.failing(session, incident_id=incident_id)

    def deliver_now(self, incident_id: int) -> bool:
        """Deliver the incident's pending work in this thread; True when some of what
        waited when this call began still waits (the chat is not answering).

        For the terminal, whose output should stay in order; what another thread adds
        meanwhile (a runbook's next report) is not the chat lagging behind.
        """
        if not self._take(incident_id, wait=LOCK_WAIT_SECONDS):
            return True  # another thread has been delivering it all this while
        return self._deliver_taken(incident_id, in_background=False)

    def deliver_pending(self) -> int:
        """Deliver everything pending now, in this thread; returns how many items still wait.

        An incident this process's pool is delivering is waited for and then done here;
        one another replica holds is left to it.
        """
        with self.session_factory() as session:
            incidents = outbox.incidents_waiting(session)
        for incident_id in incidents:
            if self._take(incident_id, wait=LOCK_WAIT_SECONDS):
                self._deliver_taken(incident_id, in_background=False)
        with self.session_factory() as session:
            return outbox.pending_count(session)

    # -- the pool ----------------------------------------------------------------------

    def start(self, interval_seconds: float = 1.0) -> threading.Thread:
        """Deliver in the background, looking every `interval_seconds` (and when woken)
        for work: new work, work a stopped replica left, work whose wait is over."""
        self._stop.clear()
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="delivery")
        self._dispatcher = threading.Thread(
            target=self._dispatch, args=(interval_seconds,), name="outbox-dispatch", daemon=True
        )
        self._dispatcher.start()
        return self._dispatcher

    def stop(self) -> None:
        """Finish the items under way, then give every lease up for other replicas."""
        self._stop.set()
        self._wake.set()
        if self._dispatcher is not None and self._dispatcher.is_alive():
            self._dispatcher.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            self.claims.release_all()
        except Exception:  # the database may be gone; the leases then lapse by themselves
            log.exception("Could not give up this replica's delivery leases")

    def _dispatch(self, interval_seconds: float) -> None:
        beat = min(interval_seconds, self.claims.terms.lease.total_seconds() / 3)
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._renew()
                self._hand_out()
            except Exception:
                log.exception("Finding chat work to deliver failed; retrying in %s s", beat)
            self._wake.wait(beat)

    def _renew(self) -> None:
        """The heartbeat: a worker finds out at its next item whether it lost a lease."""
        with self._turns:
            held = set(self._busy)
        renewed_at = time.monotonic()
        renewed = held - self.claims.renew(held)
        with self._turns:
            self._renewed.update((incident_id, renewed_at) for incident_id in renewed & self._busy)

    def _hand_out(self) -> None:
        pool = self._pool
        if pool is None:
            return
        for incident_id in self.claims.waiting(limit=2 * self._workers):
            with self._turns:
                full = len(self._busy) >= self._workers
            if full or self._stop.is_set():
                return
            if self._take(incident_id, wait=0):
                pool.submit(self._deliver_taken, incident_id, in_background=True)

    def _take(self, incident_id: int, *, wait: float) -> bool:
        """Hold the incident's delivery in this process and in the database, or False."""
        with self._turns:
            if not self._turns.wait_for(lambda: incident_id not in self._busy, timeout=wait):
                return False
            self._busy.add(incident_id)
        try:
            taken_at = time.monotonic()
            if self.claims.claim(incident_id, deferred_too=wait > 0):
                with self._turns:
                    self._renewed[incident_id] = taken_at
                return True
        except Exception:
            log.exception("Could not take the delivery of incident %s", incident_id)
        self._done(incident_id)
        return False

    def _done(self, incident_id: int) -> None:
        with self._turns:
            self._busy.discard(incident_id)
            self._renewed.pop(incident_id, None)
            self._turns.notify_all()

    def _still_held(self, session: Session, incident_id: int) -> bool:
        """Whether this replica still holds the incident, renewing its lease in the
        caller's transaction when a third of it has passed (a lease renewed since cannot
        have lapsed, so nobody else can hold it)."""
        with self._turns:
            renewed = self._renewed.get(incident_id, 0.0)
        now = time.monotonic()
        if now - renewed < self.claims.terms.lease.total_seconds() / 3:
            return True
        if not self.claims.renew_in(session, incident_id):
            return False
        with self._turns:
            self._renewed[incident_id] = now
        return True

    # -- one incident ------------------------------------------------------------------

    def _deliver_taken(self, incident_id: int, *, in_background: bool) -> bool:
        """Deliver an incident this process holds until nothing waits, then let it go;
        in the background, a stopping replica leaves the rest to the others. True when
        delivery stopped with work still waiting (the chat did not answer).

        Work added while a batch goes out is left to the next call or the pool.
        """
        not_before: datetime | None = None
        lost = False
        try:
            while not (in_background and self._stop.is_set()):
                with self.session_factory() as session:
                    items = outbox.pending_for(session, incident_id=incident_id, limit=BATCH)
                    if not items:
                        break
                    outcome = self._deliver_items(session, incident_id, items, in_background)
                if outcome == "lost":
                    lost = True
                    break
                if isinstance(outcome, datetime):
                    not_before = outcome
                    break
                if len(items) < BATCH:
                    break
        except Exception:
            log.exception("Delivering the chat work of incident %s failed", incident_id)
            not_before = self.wall_clock() + timedelta(seconds=BACKOFF_MAX_SECONDS)
        finally:
            if not lost:
                self._release(incident_id, not_before)
            self._done(incident_id)
            self._wake.set()  # work may have arrived meanwhile
        return lost or not_before is not None

    def _release(self, incident_id: int, not_before: datetime | None) -> None:
        try:
            self.claims.release(incident_id, not_before=not_before)
        except Exception:  # the lease lapses by itself
            log.exception("Could not give up the delivery lease of incident %s", incident_id)

    def _deliver_items(
        self, session: Session, incident_id: int, items: list[OutboxItem], in_background: bool
    ) -> str | datetime | None:
        """Deliver a batch in order: None when done, "lost" when another replica took the
        incident over, or until when to wait because the chat did not answer."""
        latest = {_coalescing_key(item): item.id for item in items}
        settled: set[int] = set()
        for position, item in enumerate(items):
            if in_background and self._stop.is_set():
                return None
            if item.id in settled:
                continue
            if latest[_coalescing_key(item)] != item.id:
                item.delivered_at = self.clock()  # a later item shows the same and more
                session.commit()
                continue
            if not self._still_held(session, incident_id):
                session.rollback()
                log.warning("Another replica took over delivering incident %s", incident_id)
                return "lost"
            announce = _announcement_after(item, items[position + 1 :])
            wait = self._attempt(session, item, announce)
            if announce is not None and (announce.delivered_at or announce.failed_at):
                settled.add(announce.id)  # it went with the set-up
            if wait is not None:
                return wait
        return None

    def _attempt(
        self, session: Session, item: OutboxItem, announce: OutboxItem | None
    ) -> datetime | None:
        """Deliver one item; returns until when to wait when the chat did not answer."""
        tried_since = item.attempted_at
        announcement = None
        if announce is not None:
            announcement = Announcement(announce, tried_since=announce.attempted_at)
            announce.attempted_at = announce.attempted_at or self.wall_clock()
        if self.sender.may_double(session, item):
            item.attempted_at = tried_since or self.wall_clock()
        session.commit()  # with the lease's renewal, if it was due
        try:
            announced = self.sender.send(
                session, item, tried_since=tried_since, announcement=announcement
            )
        except ChatUnavailable as error:
            session.rollback()
            return self._note_failure(session, item, error, give_up=False)
        except (ChatRejected, LookupError, IncidentBotError) as error:
            session.rollback()
            self._note_failure(session, item, error, give_up=True)
            return None
        self._delivered(session, item)
        if announce is not None:
            if announced is None:
                self._delivered(session, announce)
            elif isinstance(announced, ChatUnavailable):
                return self._note_failure(session, announce, announced, give_up=False)
            else:
                self._note_failure(session, announce, announced, give_up=True)
        return None

    def _delivered(self, session: Session, item: OutboxItem) -> None:
        item.attempts += 1
        item.delivered_at = self.clock()
        session.commit()

    def _note_failure(
        self, session: Session, item: OutboxItem, error: Exception, *, give_up: bool
    ) -> datetime | None:
        """Count the failure; returns until when to wait, unless the item is given up."""
        item = session.merge(item)
        item.attempts += 1
        item.last_error = str(error) or type(error).__name__
        if give_up:
            item.failed_at = self.clock()
            log.error("Chat refused outbox item %s (%s): %s", item.id, item.kind, error)
        session.commit()
        if give_up:
            return None
        retry_after = getattr(error, "retry_after", None)
        seconds = retry_after or min(BACKOFF_MAX_SECONDS, 0.5 * 2 ** (item.attempts - 1))
        log.warning(
            "Chat unavailable, %s for outbox item %s waits %.1f s: %s",
            item.kind,
            item.id,
            seconds,
            error,
        )
        return self.wall_clock() + timedelta(seconds=seconds)


class InlineExecutor(Executor):
    """Runs each call at once in the caller's thread: the set-up one call after another."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future


def _announcement_after(item: OutboxItem, rest: list[OutboxItem]) -> OutboxItem | None:
    """The declared announcement that goes out with an OpenChannel item's set-up."""
    if item.kind != Work.OPEN_CHANNEL:
        return None
    return next((later for later in rest if later.kind == Work.ANNOUNCE_DECLARED), None)


def _coalescing_key(item: OutboxItem) -> tuple[object, ...]:
    """Pending items with the same key say the same thing and only the newest is sent:
    summary refreshes of one incident, reports of one run. Other work is never merged."""
    if item.kind == Work.REFRESH_SUMMARY:
        return (item.kind, item.incident_id)
    if item.kind == Work.RUN_REPORT:
        return (item.kind, item.payload["run_id"])
    return (item.id,)

"""The inbox of chat requests: kept before they are acknowledged, acted on once.

A request is stored on arrival (`store`), marked handled in the transaction that
acts on it (`claim`) or, when nothing in it changes anything, once its listener is
done (`finish`). So a replay or redelivery changes nothing, and a request whose
replica died before acting is still there for another replica to replay.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from bot.storage.models import InboxRequest


def database_unavailable(error: BaseException) -> bool:
    """The database did not answer (refused, reset or closed the connection, restarting):
    trying again in a moment may work. psycopg raises OperationalError for all of these,
    which SQLAlchemy passes on as its own OperationalError."""
    if isinstance(error, OperationalError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def in_one_line(error: BaseException) -> str:
    """The driver's message, for a log line (SQLAlchemy's own adds the statement and a link)."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def store(
    session: Session,
    key: str,
    *,
    body: dict[str, Any],
    owner: str,
    now: datetime,
    lease: timedelta,
) -> bool:
    """Keep a request that has just arrived, held by `owner` for `lease`; the caller commits.

    False when it was already kept: a replay, a redelivery, or the same request sent to
    another replica. A row this very call stored (an earlier try whose commit landed
    although its connection broke) is not taken for a replay: same owner, same `now`.
    """
    session.add(
        InboxRequest(
            key=key,
            received_at=now,
            body=body,
            owner=owner,
            lease_until=now + lease,
            attempts=1,
        )
    )
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        kept = session.get(InboxRequest, key)
        return kept is not None and (kept.owner, kept.received_at) == (owner, now)
    return True


def claim(session: Session, key: str, *, now: datetime) -> bool:
    """True the first time `key` is acted on; call first in the transaction that acts on it.

    A request stored on arrival is marked handled here, so of two replicas acting on
    it at once the second waits for the first and then finds it handled.
    """
    if finish(session, key, now=now):
        return True
    if session.get(InboxRequest, key) is not None:
        return False
    session.add(InboxRequest(key=key, received_at=now, handled_at=now, attempts=0))
    try:
        session.flush()
    except IntegrityError:  # the same request, acted on twice at once
        session.rollback()
        return False
    return True


def finish(session: Session, key: str, *, now: datetime) -> bool:
    """Mark a stored request handled unless it already is; True when this marked it."""
    marked = session.execute(
        update(InboxRequest)
        .where(InboxRequest.key == key, InboxRequest.handled_at.is_(None))
        .values(handled_at=now)
    )
    return bool(marked.rowcount == 1)  # type: ignore[attr-defined]


class AlreadyHandled(Exception):
    """The request was acted on before; `by_this_call` when an earlier try of this very
    call claimed it (its commit landed although the connection broke)."""

    def __init__(self, *, by_this_call: bool) -> None:
        super().__init__("the request was already acted on")
        self.by_this_call = by_this_call


class RequestClaim:
    """One call's claim on its request, across the tries of a bounded retry.

    `take` goes first in every transaction that changes something. Without a key
    (the terminal, where a request cannot repeat) nothing is claimed, and a try that
    got as far as a change is not repeated, since nothing could tell whether it landed.
    """

    def __init__(self, key: str | None) -> None:
        self.key = key
        self._taken = False  # some try of this call claimed the key (and perhaps committed)
        self._changing = False  # some try began a transaction that changes something

    def take(self, session: Session, *, now: datetime) -> None:
        """Claim the request in `session`'s transaction; AlreadyHandled if it was acted on."""
        self._changing = True
        if self.key is None:
            return
        if not claim(session, self.key, now=now):
            raise AlreadyHandled(by_this_call=self._taken)
        self._taken = True

    @property
    def may_retry(self) -> bool:
        """Whether another try is safe: a claimed key makes a repeat harmless."""
        return self.key is not None or not self._changing

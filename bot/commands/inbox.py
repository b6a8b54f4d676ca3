"""Remembering which chat requests were acted on, so a replay or redelivery changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.storage.models import InboxRequest


def claim(session: Session, key: str, *, now: datetime) -> bool:
    """True the first time `key` is acted on; call first in the transaction that acts on it.

    A request stored on arrival is marked handled here, so of two replicas acting on
    it at once the second waits for the first and then finds it handled.
    """
    marked = session.execute(
        update(InboxRequest)
        .where(InboxRequest.key == key, InboxRequest.handled_at.is_(None))
        .values(handled_at=now)
    )
    if marked.rowcount == 1:  # type: ignore[attr-defined]
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

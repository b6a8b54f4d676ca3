"""Remembering which chat events were acted on, so a redelivery changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.storage.models import ReceivedEvent


def claim(session: Session, key: str, *, now: datetime) -> bool:
    """True the first time `key` is seen; call first in the transaction that acts on it."""
    if session.get(ReceivedEvent, key) is not None:
        return False
    session.add(ReceivedEvent(key=key, received_at=now))
    try:
        session.flush()
    except IntegrityError:  # the same event, delivered twice at once
        session.rollback()
        return False
    return True

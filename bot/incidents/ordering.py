"""The order an incident's moments must keep, checked before any of them changes.

Records are often made after the fact, so times are typed rather than taken from
the clock; a time that would make the record impossible (resolved before it was
declared, impact ending before it began) is refused, naming what it meets and when.
Orders that are merely unusual (detected before the impact reached users,
acknowledged before the declaration) are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import InvalidTransition
from bot.storage.models import EventKind, Incident, TimelineEvent
from bot.times import format_moment

# Each moment an incident records, by the name of its `<name>_at` column:
# how a sentence states it ("INC-3 was declared") and refuses it ("it cannot be declared").
MOMENTS: dict[str, tuple[str, str]] = {
    "started": ("'s impact started", "its impact cannot start"),
    "impact_ended": ("'s impact ended", "its impact cannot end"),
    "detected": (" was detected", "it cannot be detected"),
    "declared": (" was declared", "it cannot be declared"),
    "acknowledged": (" was acknowledged", "it cannot be acknowledged"),
    "mitigated": (" was mitigated", "it cannot be mitigated"),
    "resolved": (" was resolved", "it cannot be resolved"),
    "closed": (" was closed", "it cannot be closed"),
}
# (earlier, later): the first moment may not come after the second.
RULES: tuple[tuple[str, str], ...] = (
    ("started", "impact_ended"),
    ("started", "mitigated"),
    ("started", "resolved"),
    ("detected", "declared"),
    ("detected", "acknowledged"),
    ("declared", "resolved"),
    ("declared", "closed"),
    ("acknowledged", "resolved"),
    ("mitigated", "resolved"),
    ("resolved", "closed"),
)
# The moments an incident may have begun with, for work that cannot come before it.
BEGINNINGS = ("started", "detected", "acknowledged", "declared")
STATUS_EVENTS = (EventKind.DECLARED, EventKind.STATUS_CHANGED, EventKind.REOPENED)


class OutOfOrder(InvalidTransition):
    """A time that would put the record out of order: what it meets, when, and why not.

    `describe` writes it in a given time zone; the plain text is in UTC.
    """

    def __init__(self, fact: str, moment: datetime, refusal: str) -> None:
        self.fact = fact  # "INC-3 was declared"
        self.moment = moment
        self.refusal = refusal  # "it cannot be resolved before that"
        super().__init__(self.describe(UTC))

    def describe(self, tz: tzinfo) -> str:
        return f"{self.fact} at {format_moment(self.moment, tz)}; {self.refusal}."


def moment_of(incident: Incident, name: str) -> datetime | None:
    value: datetime | None = getattr(incident, f"{name}_at")
    return value


def check(incident: Incident, changes: Mapping[str, datetime | None]) -> None:
    """Refuse `changes` (moment name -> new time) that would break one of the RULES.

    The refusal is said from the changed moment's side: the one it would come before
    (or after) is named with its time.
    """
    proposed = {name: changes.get(name, moment_of(incident, name)) for name in MOMENTS}
    for earlier, later in RULES:
        first, second = proposed[earlier], proposed[later]
        if first is None or second is None or first <= second:
            continue
        if later in changes:
            raise _refusal(incident, known=earlier, at=first, moved=later, side="before")
        if earlier in changes:
            raise _refusal(incident, known=later, at=second, moved=earlier, side="after")


def _refusal(incident: Incident, *, known: str, at: datetime, moved: str, side: str) -> OutOfOrder:
    fact = f"{incident.reference}{MOMENTS[known][0]}"
    return OutOfOrder(fact, at, f"{MOMENTS[moved][1]} {side} that")


def check_status_time(session: Session, incident: Incident, at: datetime) -> None:
    """A status change may not be dated before the status it changes was reached."""
    query = (
        select(TimelineEvent)
        .where(
            TimelineEvent.incident_id == incident.id,
            TimelineEvent.kind.in_(STATUS_EVENTS),
            TimelineEvent.deleted_at.is_(None),
        )
        .order_by(TimelineEvent.occurred_at.desc(), TimelineEvent.id.desc())
        .limit(1)
    )
    latest = session.scalars(query).first()
    if latest is None or latest.occurred_at <= at:
        return
    if latest.kind == EventKind.DECLARED:
        fact = f"{incident.reference} was declared"
    else:
        fact = f"{incident.reference} became {latest.data.get('to', 'its status')}"
    raise OutOfOrder(fact, latest.occurred_at, "its status cannot change before that")


def beginning(incident: Incident) -> tuple[str, datetime]:
    """The earliest moment the incident records, and its name."""
    known = [(when, name) for name in BEGINNINGS if (when := moment_of(incident, name))]
    when, name = min(known)
    return name, when


def check_after_beginning(incident: Incident, at: datetime, refusal: str) -> None:
    """Refuse work dated before the incident began; `refusal` says what cannot be."""
    name, when = beginning(incident)
    if at < when:
        raise OutOfOrder(f"{incident.reference}{MOMENTS[name][0]}", when, refusal)

"""The impact of an incident: when users were affected, and what share of them."""

from __future__ import annotations

import math
import re
from datetime import datetime, tzinfo

from sqlalchemy.orm import Session

from bot.errors import UsageError
from bot.incidents import ordering
from bot.incidents.lifecycle import set_moments
from bot.incidents.measures import percent
from bot.incidents.timeline import record_event
from bot.storage.models import EventKind, Incident, TimelineEvent
from bot.times import format_moment

_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
FRACTION_FORMS = "a percentage like `12%` or a fraction like `0.12`"


def parse_fraction(text: str) -> float:
    """The share of users or requests affected, typed as `12%` or `0.12`: 0 < f <= 1.

    A bare number must be below 1, so `5` (5%? 500%?) is never guessed at.
    """
    value = text.strip()
    percent = value.endswith("%")
    number = value.removesuffix("%").strip()
    if not _NUMBER.fullmatch(number):
        raise UsageError(f"`{value}` is not a share I can read; give {FRACTION_FORMS}.")
    fraction = float(number) / 100 if percent else float(number)
    if not percent and fraction >= 1:
        raise UsageError(f"`{value}` is ambiguous; give {FRACTION_FORMS} (`100%` for everyone).")
    if not (0 < fraction <= 1) or not math.isfinite(fraction):
        raise UsageError(f"The share affected must be above 0% and at most 100%, not `{value}`.")
    return fraction


def set_impact(
    session: Session,
    *,
    incident: Incident,
    actor: str,
    now: datetime,
    tz: tzinfo,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    fraction: float | None = None,
) -> TimelineEvent:
    """Record the window users were affected (either end or both) and the share affected.

    The event sits at the start given (else the end given, else the recorded start), so
    the timeline reads in the order things happened.
    """
    changes: dict[str, datetime | None] = {}
    if started_at is not None:
        changes["started"] = started_at
    if ended_at is not None:
        changes["impact_ended"] = ended_at
    if not changes and fraction is None:
        raise UsageError("Say what the impact was: `--from TIME`, `--until TIME`, `--fraction N%`.")
    ordering.check(incident, changes)
    previous = {
        "started_at": _iso(incident.started_at),
        "impact_ended_at": _iso(incident.impact_ended_at),
        "impact_fraction": incident.impact_fraction,
    }
    set_moments(incident, changes)
    if fraction is not None:
        incident.impact_fraction = fraction
    parts = [f"from {format_moment(started_at, tz)}"] if started_at else []
    if ended_at is not None:
        parts.append(f"until {format_moment(ended_at, tz)}")
    if fraction is not None:
        parts.append(f"{percent(fraction)} affected")
    return record_event(
        session,
        incident=incident,
        kind=EventKind.MILESTONE_SET,
        actor=actor,
        text=f"Impact: {', '.join(parts)}",
        now=now,
        occurred_at=started_at or ended_at or incident.started_at or now,
        data={
            "milestone": "impact",
            "started_at": _iso(incident.started_at),
            "impact_ended_at": _iso(incident.impact_ended_at),
            "impact_fraction": incident.impact_fraction,
            "previous": previous,
        },
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None

"""The times typed with one command, read against the incident it is about."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from bot.storage.models import Incident
from bot.times import is_bare_time, parse_time


@dataclass
class TypedTimes:
    """Reads the times typed with one command, and remembers the bare ones read on `day`.

    For an incident declared on an earlier day, a bare `HH:MM` is on that day in the
    configured zone: a scribe replaying yesterday's incident types yesterday's clock.
    """

    now: datetime
    tz: tzinfo
    day: date | None = None  # the earlier day bare times are on; None: today
    read_on_day: list[str] = field(default_factory=list)

    @classmethod
    def about(cls, incident: Incident | None, *, now: datetime, tz: tzinfo) -> TypedTimes:
        if incident is None:
            return cls(now, tz)
        declared_on = incident.declared_at.astimezone(tz).date()
        return cls(now, tz, declared_on if declared_on < now.astimezone(tz).date() else None)

    def read(self, typed: str | None) -> datetime | None:
        """The time typed, in UTC (None when none was); a time in the future is refused."""
        if typed is None:
            return None
        moment = parse_time(typed, now=self.now, tz=self.tz, day=self.day)
        if self.day is not None and is_bare_time(typed):
            self.read_on_day.append(typed.strip())
        return moment

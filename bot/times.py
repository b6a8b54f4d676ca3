"""Reading the times people type (`14:51`, `2026-11-25T14:51Z`) and writing times for people."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from bot.errors import UsageError

TIME_FORMATS = "HH:MM, YYYY-MM-DD HH:MM or 2026-11-25T14:51Z"
_BARE_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def is_bare_time(text: str) -> bool:
    """Whether `text` is a clock time without a date (`14:51`, `14:51:30`)."""
    return _BARE_TIME.match(text.strip()) is not None


def parse_time(text: str, *, now: datetime, tz: tzinfo, day: date | None = None) -> datetime:
    """Turn a typed time into an aware UTC datetime; times in the future are refused.

    Bare times (`14:51`) are on `day` in `tz`, today when no day is given; a date
    without a zone is in `tz` too.
    """
    value = text.strip()
    bare = _BARE_TIME.match(value)
    try:
        if bare:
            hour, minute, second = (int(part or 0) for part in bare.groups())
            on = day or now.astimezone(tz).date()
            moment = datetime.combine(on, time(hour, minute, second), tzinfo=tz)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=tz)
    except ValueError:
        raise UsageError(f"`{value}` is not a time I can read. Use {TIME_FORMATS}.") from None
    moment = moment.astimezone(UTC)
    if moment > now:
        shown = moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        hint = " For an earlier day, give the date: `--at YYYY-MM-DD HH:MM`." if bare else ""
        raise UsageError(f"`{value}` ({shown}) is in the future.{hint}")
    return moment


def parse_date(text: str) -> date:
    """A due date typed as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"`{text}` is not a date I can read. Use YYYY-MM-DD.") from None


def format_time(moment: datetime | None, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else "—"


def format_moment(moment: datetime, tz: tzinfo) -> str:
    """A time with its zone, for sentences read on their own: `2015-10-21 15:01 UTC`."""
    local = moment.astimezone(tz)
    return f"{local.strftime('%Y-%m-%d %H:%M')} {local.tzname() or tz}"


def format_duration(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return " ".join(parts)

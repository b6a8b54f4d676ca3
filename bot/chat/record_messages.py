"""What the bot says about times given after the fact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from bot.chat.port import Message
from bot.storage.models import Incident


def read_on_declaration_day(typed: Sequence[str], day: date, incident: Incident) -> str:
    """Say on which day bare clock times were taken, so a wrong guess is seen at once."""
    times = " and ".join(f"`{time}`" for time in typed)
    verb = "was" if len(typed) == 1 else "were"
    return (
        f"{times} {verb} taken as {day.isoformat()}, the day {incident.reference} was "
        "declared; for another day, give the date (`--at YYYY-MM-DD HH:MM`)."
    )


def with_line(message: Message, line: str | None) -> Message:
    """`message` with one more line under it, if there is one."""
    return replace(message, lines=(*message.lines, line)) if line else message

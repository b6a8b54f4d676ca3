"""What a submitted Slack modal holds, read as untrusted input.

Slack sends what its form allows, but nothing here relies on that: a field that is
missing or not of its kind becomes an error shown next to it, as a typo would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.errors import UsageError

OUT_OF_DATE = "This form is out of date: close it and use the incident summary's button again."
NOT_A_TIME = "Pick the date and time with the picker."


class Submission:
    """A submitted modal's fields by block id, and what is wrong with them (`errors`,
    by block id, as Slack's `response_action: errors` wants them)."""

    def __init__(self, body: dict[str, Any]) -> None:
        view = body.get("view")
        view = view if isinstance(view, dict) else {}
        state = view.get("state")
        values = state.get("values") if isinstance(state, dict) else None
        self._fields = {
            block: fields["value"]
            for block, fields in (values.items() if isinstance(values, dict) else ())
            if isinstance(fields, dict) and isinstance(fields.get("value"), dict)
        }
        self.metadata = _metadata(view.get("private_metadata"))
        self.errors: dict[str, str] = {}

    def _get(self, block: str, key: str) -> Any:
        return self._fields.get(block, {}).get(key)

    def text(self, block: str) -> str:
        """Typed text, trimmed; empty when there is none."""
        value = self._get(block, "value")
        if value is not None and not isinstance(value, str):
            self.errors[block] = "Type this again as text."
            return ""
        return (value or "").strip()

    def choice(self, block: str, missing: str, key: str = "selected_option") -> str:
        """The value chosen in a menu (or the user picked); `missing` says to choose one."""
        chosen = self._get(block, key)
        if key == "selected_option":
            chosen = chosen.get("value") if isinstance(chosen, dict) else None
        if not isinstance(chosen, str) or not chosen:
            self.errors[block] = missing
            return ""
        return chosen

    def moment(self, block: str, now: datetime, *, in_future: str) -> datetime | None:
        """The date and time picked, if any: never in the future (`in_future` says why not)."""
        picked = self._get(block, "selected_date_time")
        if picked is None:
            return None
        try:
            if isinstance(picked, bool) or not isinstance(picked, int | str):
                raise ValueError(picked)
            moment = datetime.fromtimestamp(int(picked), UTC)
        except (ValueError, OverflowError, OSError):
            self.errors[block] = NOT_A_TIME
            return None
        if moment > now:
            self.errors[block] = in_future
        return moment

    def target(self, block: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
        """The command the form was opened for (verb, reference), from its metadata."""
        command = self.metadata.get("command")
        found = pattern.fullmatch(command) if isinstance(command, str) else None
        if found is None:
            self.errors[block] = OUT_OF_DATE
            return ()
        return found.groups()

    def check(self, block: str, checker: Callable[..., Any], *args: Any) -> Any:
        """What the domain's `checker` makes of a field; its refusal becomes the field's error."""
        try:
            return checker(*args)
        except UsageError as problem:
            self.errors.setdefault(block, str(problem))
            return None

    @property
    def channel(self) -> str | None:
        channel = self.metadata.get("channel")
        return channel if isinstance(channel, str) and channel else None


def _metadata(raw: Any) -> dict[str, Any]:
    try:
        data = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}

"""What an incident document must be to be imported: the published schema, then the
rules of the domain it cannot express (configured names, the order of milestones as
`ordering.RULES` keeps it for commands, references inside the document, times in the
future).

Each problem names the field by its path in the document (`timeline[3].occurred_at`),
so a file of years of incidents can be put right without guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from bot.config import Settings
from bot.incidents import ordering
from bot.incidents.exchange import MILESTONES, REFERENCES, parse_date, parse_time, schema
from bot.storage.models import ACTIVE_RUN_STATUSES, Status


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of a document."""

    path: str  # "" for the document as a whole
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def _path(parts: Sequence[str | int]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _is_time(value: object) -> bool:
    return not isinstance(value, str) or _parses(parse_time, value)


def _is_date(value: object) -> bool:
    return not isinstance(value, str) or _parses(parse_date, value)


def _parses(parse: Callable[[str], object], value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


# The schema's type names, as a sentence says them.
TYPE_NAMES = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}


def _type_of(value: object) -> str:
    """A JSON value's type, as the schema names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    names = {dict: "object", list: "array", str: "string", int: "integer"}
    return names.get(type(value), "number")


@cache
def _validator() -> Draft202012Validator:
    formats = FormatChecker(formats=())
    formats.checks("date-time")(_is_time)
    formats.checks("date")(_is_date)
    return Draft202012Validator(schema(), format_checker=formats)


def _schema_problems(error: ValidationError) -> Iterator[tuple[list[str | int], str]]:
    """Where one schema error is (the path's parts) and what it says."""
    where = list(error.absolute_path)
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        for name in missing:
            yield [*where, name], "is missing"
    elif error.validator == "format":
        yield where, f"{error.instance!r} is not a {error.validator_value}"
    elif error.validator == "type":
        wanted = error.validator_value
        names = [wanted] if isinstance(wanted, str) else wanted
        shown = " or ".join(TYPE_NAMES[name] for name in names)
        yield where, f"is {TYPE_NAMES[_type_of(error.instance)]}, not {shown}"
    elif error.validator == "minLength" and error.instance == "":
        yield where, "is empty"
    elif error.validator == "maxLength":
        length, limit = len(error.instance), error.validator_value
        yield where, f"is {length} characters long; the limit is {limit}"
    else:
        yield where, error.message


def schema_problems(document: object) -> list[Problem]:
    """Where the document breaks the published schema, in the order of its fields."""
    found = [
        located
        for error in _validator().iter_errors(document)
        for located in _schema_problems(error)
    ]
    found.sort(key=lambda located: [(isinstance(part, str), part) for part in located[0]])
    problems: list[Problem] = []
    for parts, message in found:
        problem = Problem(_path(parts), message)
        if problem not in problems:
            problems.append(problem)
    return problems


class _Checks:
    """Collects the domain's problems with a document the schema accepted."""

    def __init__(self, settings: Settings, now: datetime) -> None:
        self.settings = settings
        self.now = now
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def time(self, value: str | None, path: str) -> datetime | None:
        """The time at `path`, refused when it is in the future."""
        if value is None:
            return None
        moment = parse_time(value)
        if moment > self.now:
            self.add(path, f"{value!r} is in the future")
        return moment

    def identity(self, document: dict[str, Any]) -> None:
        if not document.get("external_id") and not document.get("reference"):
            self.add(
                "external_id",
                "is missing, and so is reference: one of them names the incident, so that "
                "importing it again changes nothing",
            )

    def names(self, document: dict[str, Any]) -> None:
        severities = self.settings.severity_names
        if document["severity"] not in severities:
            self.add(
                "severity",
                f"{document['severity']!r} is not a severity here; use one of "
                f"{', '.join(severities)}",
            )
        title = document["title"].strip()
        if not title:
            self.add("title", "is empty")
        elif len(title) > self.settings.title_max_length:
            self.add(
                "title",
                f"is {len(title)} characters long; the limit here is "
                f"{self.settings.title_max_length} (INCIDENT_TITLE_MAX_LENGTH)",
            )

    def milestones(self, document: dict[str, Any]) -> None:
        given = document["milestones"]
        times = {name: self.time(given.get(name), f"milestones.{name}") for name in MILESTONES}
        for earlier, later in ordering.RULES:
            first, then = times[earlier], times[later]
            if first is not None and then is not None and then < first:
                self.add(
                    f"milestones.{later}",
                    f"{given[later]} is before milestones.{earlier} ({given[earlier]})",
                )
        status = Status(document["status"])
        for name, needed in (
            ("resolved", status in (Status.RESOLVED, Status.CLOSED)),
            ("closed", status == Status.CLOSED),
        ):
            if needed and times[name] is None:
                self.add(f"milestones.{name}", f"is missing; a {status} incident has one")
            if not needed and times[name] is not None:
                self.add(f"milestones.{name}", f"is set, but the incident is {status}")

    def roles(self, roles: list[dict[str, Any]]) -> None:
        holding: dict[str, int] = {}
        for index, role in enumerate(roles):
            path = f"roles[{index}]"
            if role["role"] not in self.settings.roles:
                self.add(
                    f"{path}.role",
                    f"{role['role']!r} is not a role here; use one of "
                    f"{', '.join(self.settings.roles)}",
                )
            started = self.time(role["started_at"], f"{path}.started_at")
            ended = self.time(role.get("ended_at"), f"{path}.ended_at")
            if started is not None and ended is not None and ended < started:
                self.add(f"{path}.ended_at", f"{role['ended_at']} is before its started_at")
            if ended is None and role["role"] in holding:
                self.add(
                    path,
                    f"{role['role']} is held by roles[{holding[role['role']]}] too; "
                    "one of them needs an ended_at",
                )
            elif ended is None:
                holding[role["role"]] = index

    def timeline(self, document: dict[str, Any]) -> None:
        ids = {listed: self.ids(document.get(listed, []), listed) for listed in REFERENCES.values()}
        for index, event in enumerate(document.get("timeline", [])):
            path = f"timeline[{index}]"
            for field in ("occurred_at", "recorded_at", "edited_at", "deleted_at"):
                self.time(event.get(field), f"{path}.{field}")
            data = event.get("data", {})
            for key, listed in REFERENCES.items():
                named = data.get(key)
                if key in data and not (type(named) is int and named in ids[listed]):
                    self.add(f"{path}.data.{key}", f"{named!r} is not the id of one of {listed}")

    def ids(self, rows: list[dict[str, Any]], listed: str) -> set[int]:
        """The ids of a list's rows; one used twice is a problem."""
        seen: set[int] = set()
        for index, row in enumerate(rows):
            if "id" in row and row["id"] in seen:
                self.add(f"{listed}[{index}].id", f"{row['id']} is the id of an earlier row too")
            elif "id" in row:
                seen.add(row["id"])
        return seen

    def action_items(self, items: list[dict[str, Any]]) -> None:
        for index, item in enumerate(items):
            path = f"action_items[{index}]"
            self.time(item["created_at"], f"{path}.created_at")
            completed = self.time(item.get("completed_at"), f"{path}.completed_at")
            done = item.get("status") == "done"
            if done and completed is None:
                self.add(f"{path}.completed_at", "is missing; a done action item has one")
            if not done and completed is not None:
                self.add(f"{path}.status", "is open, but completed_at is set")

    def runbook_runs(self, runs: list[dict[str, Any]]) -> None:
        for index, run in enumerate(runs):
            path = f"runbook_runs[{index}]"
            if run["status"] in ACTIVE_RUN_STATUSES:
                self.add(
                    f"{path}.status",
                    f"{run['status']!r}: only a run that is over can be imported "
                    "(this one would be started again)",
                )
            for field in ("created_at", "started_at", "finished_at"):
                self.time(run.get(field), f"{path}.{field}")

    def postmortem(self, postmortem: dict[str, Any] | None) -> None:
        if postmortem is not None:
            for field in ("created_at", "updated_at"):
                self.time(postmortem.get(field), f"postmortem.{field}")


def problems_in(document: object, *, settings: Settings, now: datetime) -> list[Problem]:
    """Every reason the document cannot be imported here now; none when it can."""
    found = schema_problems(document)
    if found or not isinstance(document, dict):
        return found
    checks = _Checks(settings, now)
    checks.identity(document)
    checks.names(document)
    checks.milestones(document)
    checks.roles(document.get("roles", []))
    checks.timeline(document)
    checks.action_items(document.get("action_items", []))
    checks.runbook_runs(document.get("runbook_runs", []))
    checks.postmortem(document.get("postmortem"))
    return checks.problems

"""How each kind of setting value is read from its text; a ValueError means "not valid".

`bot.config` names, for every setting, which of these reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import resources
from bot.runbooks.http_guard import allow_entry

GROUP_PREFIX = "group:"  # a group in a list of people: group:oncall or group:S0604QSJC


@dataclass(frozen=True)
class Severity:
    """A severity level; the position in the configured list is its rank (0 = worst)."""

    name: str
    description: str


def parse_text(value: str) -> str:
    return value.strip()


def parse_positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def parse_timezone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(value) from error


def parse_severities(value: str) -> tuple[Severity, ...]:
    levels = []
    for entry in value.split(";"):
        name, sep, description = entry.partition("=")
        name = name.strip().upper()
        if not sep or not name or " " in name:
            raise ValueError(entry)
        levels.append(Severity(name=name, description=description.strip()))
    if len({level.name for level in levels}) != len(levels):
        raise ValueError(value)
    return tuple(levels)


def parse_roles(value: str) -> tuple[str, ...]:
    roles = tuple(role.strip().lower() for role in value.split(",") if role.strip())
    if not roles or any(not role.isidentifier() for role in roles):
        raise ValueError(value)
    if len(set(roles)) != len(roles):
        raise ValueError(value)
    return roles


def parse_people(value: str) -> tuple[str, ...]:
    people = tuple(entry.strip() for entry in value.split(",") if entry.strip())
    for person in people:
        if any(char.isspace() for char in person) or person == GROUP_PREFIX:
            raise ValueError(person)
    return people


def parse_groups(value: str) -> dict[str, tuple[str, ...]]:
    groups: dict[str, tuple[str, ...]] = {}
    for entry in value.split(";"):
        if not entry.strip():
            continue
        name, sep, people = entry.partition("=")
        members = parse_people(people)
        if not sep or not name.strip() or any(m.startswith(GROUP_PREFIX) for m in members):
            raise ValueError(entry)
        groups[name.strip()] = members
    return groups


def parse_links(value: str) -> tuple[tuple[str, str], ...]:
    links = []
    for entry in value.split(";"):
        if not entry.strip():
            continue
        title, sep, url = entry.partition("=")
        if not sep or not title.strip() or not url.strip().startswith(("http://", "https://")):
            raise ValueError(entry)
        links.append((title.strip(), url.strip()))
    return tuple(links)


def parse_database_url(value: str) -> str:
    url = value.strip()
    if not url.startswith(("sqlite://", "postgres://", "postgresql://", "postgresql+psycopg://")):
        raise ValueError(value)
    return url


def parse_flag(value: str) -> bool:
    flag = value.strip().lower()
    if flag in {"1", "true", "yes", "on"}:
        return True
    if flag in {"", "0", "false", "no", "off"}:
        return False
    raise ValueError(value)


def parse_url(value: str) -> str:
    url = value.strip()
    if not url.startswith(("http://", "https://")):
        raise ValueError(value)
    return url if url.endswith("/") else url + "/"


def parse_reaction(value: str) -> str:
    name = value.strip().strip(":")
    if not name or " " in name:
        raise ValueError(value)
    return name


def parse_folders(value: str) -> tuple[Path, ...]:
    return tuple(Path(part.strip()) for part in value.split(":") if part.strip())


def default_runbook_dirs() -> tuple[Path, ...]:
    """`runbooks` in the working directory when there is one, then the runbooks that ship.

    Run from the top of the checkout, the two are one folder, named once as `runbooks`.
    """
    local, shipped = Path("runbooks"), resources.runbooks()
    if not local.is_dir():
        return (shipped,)
    if local.resolve() == shipped.resolve():
        return (local,)
    return (local, shipped)


def parse_runbook_folders(value: str) -> tuple[Path, ...]:
    return parse_folders(value) or default_runbook_dirs()


def parse_absolute_folders(value: str) -> tuple[Path, ...]:
    folders = parse_folders(value)
    if any(not folder.is_absolute() for folder in folders):
        raise ValueError(value)
    return folders


def parse_unit_names(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if any(char.isspace() for name in names for char in name):
        raise ValueError(value)
    return names


def parse_limit(value: str) -> int | None:
    """A whole number of at least 0; 0 (no limit) is None."""
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number or None


def parse_http_allow(value: str) -> tuple[str, ...]:
    return tuple(allow_entry(entry) for entry in value.split(",") if entry.strip())


def parse_log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(value)
    return level

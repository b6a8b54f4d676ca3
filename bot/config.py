"""The one Settings object: every knob, its environment variable and its default.

Settings are read once at start-up from the environment and an optional `.env`
file (the environment wins). An invalid value stops start-up with one line that
names the variable and says what is accepted.

Longer than most modules on purpose: it is the one table of every setting, its
parser (from `bot.setting_values`) and its documentation, which the README's
table is checked against.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dotenv import dotenv_values

from bot import setting_values as values
from bot.errors import ConfigError
from bot.setting_values import Severity

DEFAULT_SEVERITIES = (
    "SEV1=Critical: the product is down or data is at risk for many users;"
    "SEV2=Major: a core feature is broken or badly degraded for many users;"
    "SEV3=Minor: a feature is degraded for some users, a workaround exists;"
    "SEV4=Low: cosmetic or internal impact, no customer is blocked"
)
DEFAULT_ROLES = "commander,communications,scribe,operations"
# Who may do what on every incident unless INCIDENT_PERMISSIONS changes a rule: action ->
# roles, `declarer`, `responders` or `anyone`. Incident admins may always. README "Permissions".
DEFAULT_PERMISSION_RULES: dict[str, tuple[str, ...]] = {
    "role": ("anyone",),  # take (or give) a role nobody holds
    "note": ("anyone",),  # add a note; edit or delete one of your own
    "status": ("responders",),
    "sev": ("responders",),
    "started": ("responders",),
    "detected": ("responders",),
    "ack": ("responders",),
    "action": ("responders",),
    "resolve": ("responders",),
    "runbook": ("responders",),  # start one; the runbook's own `allowed` may narrow it
    "steer": ("responders",),  # done, failed or cancel of your own run or of the bot's
    "reassign": ("commander",),  # give away or clear a role someone else holds
    "others_notes": ("commander",),  # edit or delete someone else's note
    "others_runs": ("commander",),  # done, failed or cancel of someone else's run
    "close": ("commander",),
    "reopen": ("commander",),
}
PERMISSION_ACTIONS = tuple(DEFAULT_PERMISSION_RULES)
PERMISSION_PEOPLE = ("declarer", "responders", "anyone")


@dataclass(frozen=True)
class Setting:
    """How one setting is read: its variable, default, meaning and parser."""

    env: str
    default: str
    meaning: str
    parse: Callable[[str], Any]
    accepted: str
    secret: bool = False


def _parse_permissions(value: str) -> dict[str, tuple[str, ...]]:
    rules: dict[str, tuple[str, ...]] = {}
    for entry in value.split(";"):
        if not entry.strip():
            continue
        action, sep, people = entry.partition("=")
        action = action.strip().lower()
        who = tuple(person.strip().lower() for person in people.split(",") if person.strip())
        if not sep or action not in PERMISSION_ACTIONS or not who:
            raise ValueError(entry)
        rules[action] = who
    return rules


SETTINGS: dict[str, Setting] = {
    "database_url": Setting(
        "DATABASE_URL",
        "sqlite:///incident-bot.db",
        "Where incidents are stored. A SQLite file by default; "
        "`postgresql://user:pass@host/db` in production.",
        values.parse_database_url,
        "a sqlite:///path or postgresql://user@host/db URL",
        secret=True,
    ),
    "timezone": Setting(
        "INCIDENT_TIMEZONE",
        "UTC",
        "Time zone for bare times such as `--at 14:51` and for times shown to people.",
        values.parse_timezone,
        "an IANA time zone name such as UTC or Europe/Berlin",
    ),
    "severities": Setting(
        "INCIDENT_SEVERITIES",
        DEFAULT_SEVERITIES,
        "Severity levels, worst first, as `NAME=description` separated by `;`.",
        values.parse_severities,
        "NAME=description pairs separated by ';', names unique and without spaces",
    ),
    "default_severity": Setting(
        "INCIDENT_DEFAULT_SEVERITY",
        "",
        "Severity of an incident declared without one. Empty: SEV3 if defined, "
        "else the least severe level.",
        lambda value: value.strip().upper(),
        "one of the configured severity names",
    ),
    "roles": Setting(
        "INCIDENT_ROLES",
        DEFAULT_ROLES,
        "Incident roles that can be assigned, comma-separated.",
        values.parse_roles,
        "comma-separated lowercase names such as commander,scribe",
    ),
    "permissions": Setting(
        "INCIDENT_PERMISSIONS",
        "",
        "Changes to the default permission rules, as `action=who,who` separated by `;`. "
        "Who: a role, `declarer`, `responders` or `anyone`. Empty: the defaults.",
        _parse_permissions,
        f"action=who pairs separated by ';', actions among {', '.join(PERMISSION_ACTIONS)}",
    ),
    "responders": Setting(
        "INCIDENT_RESPONDERS",
        "",
        "People and groups who are responders of every incident, separated by `,`: user ids "
        "and `group:<name>` (a Slack user group's handle or id).",
        values.parse_people,
        "user ids and group:<name> entries separated by ','",
    ),
    "admins": Setting(
        "INCIDENT_ADMINS",
        "",
        "People and groups who may do on every incident what its commander may, "
        "separated by `,`: user ids and `group:<name>`.",
        values.parse_people,
        "user ids and group:<name> entries separated by ','",
    ),
    "runbook_approvers": Setting(
        "RUNBOOK_APPROVERS",
        "",
        "People and groups who may approve any runbook step that waits for approval "
        "(never in a run they started), separated by `,`: user ids and `group:<name>`.",
        values.parse_people,
        "user ids and group:<name> entries separated by ','",
    ),
    "terminal_groups": Setting(
        "TERMINAL_GROUPS",
        "",
        "Groups for the terminal chat, which has none of its own, as `name=user,user` "
        "separated by `;`; name them as `group:<name>`.",
        values.parse_groups,
        "name=user,user entries separated by ';'",
    ),
    "title_max_length": Setting(
        "INCIDENT_TITLE_MAX_LENGTH",
        "150",
        "Longest incident title accepted, in characters.",
        values.parse_positive_int,
        "a whole number of at least 1",
    ),
    "runbook_dirs": Setting(
        "RUNBOOK_DIRS",
        "",
        "Folders to load runbooks from, separated by `:` (relative paths are relative to "
        "the working directory). Empty: `runbooks` in the working directory, if there is "
        "one, and the runbooks that ship with the bot.",
        values.parse_runbook_folders,
        "folder paths separated by ':'",
    ),
    "runbook_artifacts_dir": Setting(
        "RUNBOOK_ARTIFACTS_DIR",
        "runbook-artifacts",
        "Folder where runbooks write the files they attach to an incident (one folder per run).",
        values.parse_text,
        "a folder path",
    ),
    "runbook_systemd_units": Setting(
        "RUNBOOK_SYSTEMD_UNITS",
        "",
        "systemd units the shipped runbooks may restart, separated by `,`; `*` matches any "
        "characters (`worker@*.service`). Empty: none, so every restart is refused until the "
        "units are listed.",
        values.parse_unit_names,
        "unit names such as api.service separated by ','",
    ),
    "runbook_log_dirs": Setting(
        "RUNBOOK_LOG_DIRS",
        "/var/log",
        "Folders whose files runbooks may read (diagnostics-bundle's `paths`), separated by "
        "`:`. Empty: none.",
        values.parse_absolute_folders,
        "absolute folder paths separated by ':'",
    ),
    "runbook_memory_limit_mb": Setting(
        "RUNBOOK_MEMORY_LIMIT_MB",
        "512",
        "Memory (address space) each runbook step's process, and each command it runs, may "
        "use, in MB; a step that needs more fails. 0: no limit.",
        values.parse_limit,
        "a whole number of MB, 0 for no limit",
    ),
    "runbook_cpu_seconds": Setting(
        "RUNBOOK_CPU_SECONDS",
        "300",
        "CPU time each runbook step, and each command it runs, may use, in seconds; a step "
        "that uses more is stopped and fails. 0: no limit.",
        values.parse_limit,
        "a whole number of seconds, 0 for no limit",
    ),
    "runbook_http_allow": Setting(
        "RUNBOOK_HTTP_ALLOW",
        "",
        "Internal hosts `ctx.http` may reach, as host names and networks separated by `,` "
        "(e.g. `api.internal,10.20.0.0/16`). Loopback, private, link-local and cloud metadata "
        "addresses are refused unless listed here.",
        values.parse_http_allow,
        "host names and CIDR networks separated by ','",
    ),
    "runbook_lease_seconds": Setting(
        "RUNBOOK_LEASE_SECONDS",
        "15",
        "How long a replica's hold on a runbook run lasts without a heartbeat, in seconds; "
        "after that, another replica recovers the run.",
        values.parse_positive_int,
        "a whole number of seconds, at least 1",
    ),
    "runbook_recovery_seconds": Setting(
        "RUNBOOK_RECOVERY_SECONDS",
        "5",
        "How often each replica looks for runbook runs whose replica is gone, in seconds.",
        values.parse_positive_int,
        "a whole number of seconds, at least 1",
    ),
    "delivery_workers": Setting(
        "DELIVERY_WORKERS",
        "8",
        "How many incidents' chat work each replica delivers at once (one incident's work "
        "always goes in order, by one replica at a time).",
        values.parse_positive_int,
        "a whole number, at least 1",
    ),
    "delivery_lease_seconds": Setting(
        "DELIVERY_LEASE_SECONDS",
        "30",
        "How long a replica's hold on delivering one incident's chat work lasts without a "
        "heartbeat, in seconds; after that, another replica takes the work over.",
        values.parse_positive_int,
        "a whole number of seconds, at least 1",
    ),
    "inbox_lease_seconds": Setting(
        "INBOX_LEASE_SECONDS",
        "20",
        "How long a stored Slack request may wait for the replica that acknowledged it, in "
        "seconds; after that, another replica replays it.",
        values.parse_positive_int,
        "a whole number of seconds, at least 1",
    ),
    "incident_links": Setting(
        "INCIDENT_LINKS",
        "",
        "Links bookmarked in every incident channel, as `Title=URL` separated by `;`; "
        "`{service}` and `{reference}` in a URL are filled in (e.g. a dashboard per service).",
        values.parse_links,
        "Title=https://... pairs separated by ';'",
    ),
    "announce_channel": Setting(
        "INCIDENT_ANNOUNCE_CHANNEL",
        "incidents",
        "Channel where new incidents are announced.",
        lambda value: value.strip().lstrip("#"),
        "a channel name",
    ),
    "command_name": Setting(
        "INCIDENT_COMMAND",
        "/incident",
        "The chat command that reaches the bot.",
        lambda value: "/" + value.strip().lstrip("/"),
        "a command name such as /incident",
    ),
    "log_level": Setting(
        "LOG_LEVEL",
        "INFO",
        "How much the bot logs.",
        values.parse_log_level,
        "DEBUG, INFO, WARNING or ERROR",
    ),
    "log_file": Setting(
        "LOG_FILE",
        "",
        "File the bot logs to. Empty: standard error, except for the terminal chat, "
        "which logs to incident-bot.log so that logs do not mix with the chat.",
        values.parse_text,
        "a file path",
    ),
    "slack_bot_token": Setting(
        "SLACK_BOT_TOKEN",
        "",
        "Slack bot token (xoxb-...). When empty, `run` starts the terminal chat.",
        values.parse_text,
        "a Slack bot token",
        secret=True,
    ),
    "slack_app_token": Setting(
        "SLACK_APP_TOKEN",
        "",
        "Slack app-level token (xapp-...). When set, the bot connects in Socket Mode; "
        "when empty, it serves HTTP.",
        values.parse_text,
        "a Slack app-level token",
        secret=True,
    ),
    "slack_signing_secret": Setting(
        "SLACK_SIGNING_SECRET",
        "",
        "Slack signing secret; HTTP mode rejects requests not signed with it.",
        values.parse_text,
        "the signing secret of the Slack app",
        secret=True,
    ),
    "slack_max_body_bytes": Setting(
        "SLACK_MAX_BODY_BYTES",
        "1048576",
        "Largest request body HTTP mode accepts, in bytes; a larger one is answered 413 "
        "without being read. Slack's own requests are a few kilobytes.",
        values.parse_positive_int,
        "a whole number of at least 1",
    ),
    "slack_api_url": Setting(
        "SLACK_API_URL",
        "https://slack.com/api/",
        "Base URL of the Slack Web API (any Slack-compatible endpoint).",
        values.parse_url,
        "an http:// or https:// URL",
    ),
    "slack_private_channels": Setting(
        "SLACK_PRIVATE_CHANNELS",
        "false",
        "Create incident channels as private channels.",
        values.parse_flag,
        "true or false",
    ),
    "timeline_reaction": Setting(
        "TIMELINE_REACTION",
        "pushpin",
        "Reacting with this emoji to a message in an incident channel puts it on the timeline.",
        values.parse_reaction,
        "an emoji name such as pushpin",
    ),
    "capture_all_messages": Setting(
        "CAPTURE_ALL_MESSAGES",
        "false",
        "Put every human message in an incident channel on the timeline.",
        values.parse_flag,
        "true or false",
    ),
    "postmortem_templates_dir": Setting(
        "POSTMORTEM_TEMPLATES_DIR",
        "",
        "Folder of your own postmortem templates (`<name>.md.j2`); they win over the built-in "
        "ones of the same name. Empty: only the built-in `templates/`.",
        values.parse_text,
        "a folder path",
    ),
    "postmortem_due_business_days": Setting(
        "POSTMORTEM_DUE_BUSINESS_DAYS",
        "5",
        "A new postmortem is due this many business days (Monday to Friday) after the resolution.",
        values.parse_positive_int,
        "a whole number of at least 1",
    ),
    "postmortem_auto_on_resolve": Setting(
        "POSTMORTEM_AUTO_ON_RESOLVE",
        "false",
        "Draft the postmortem automatically when an incident is resolved.",
        values.parse_flag,
        "true or false",
    ),
    "health_port": Setting(
        "HEALTH_PORT",
        "8081",
        "Port on which Socket Mode serves `/healthz`, `/readyz` and `/metrics` (HTTP mode "
        "serves them on its own port, next to the Slack requests).",
        values.parse_positive_int,
        "a port number of at least 1",
    ),
    "ready_outbox_max_age": Setting(
        "READY_OUTBOX_MAX_AGE",
        "300",
        "`/readyz` answers 503 when the oldest chat work still waiting to be delivered is "
        "older than this many seconds.",
        values.parse_positive_int,
        "a whole number of seconds, at least 1",
    ),
    "replica_id": Setting(
        "REPLICA_ID",
        "",
        "This process's name in `/metrics` (label `replica`). Empty: hostname-pid.",
        values.parse_text,
        "any text",
    ),
}


def _default(attribute: str) -> Any:
    """A setting's default, read from the one place it is written: its entry in SETTINGS."""
    setting = SETTINGS[attribute]
    return setting.parse(setting.default)


def _setting(attribute: str) -> Any:
    """A Settings field whose default is its entry's in SETTINGS; secrets stay out of repr."""
    return field(default_factory=partial(_default, attribute), repr=not SETTINGS[attribute].secret)


@dataclass(frozen=True)
class Settings:
    """Every setting of the bot, validated."""

    database_url: str = _setting("database_url")
    timezone: ZoneInfo = _setting("timezone")
    severities: tuple[Severity, ...] = _setting("severities")
    default_severity: str = _setting("default_severity")
    roles: tuple[str, ...] = _setting("roles")
    permissions: dict[str, tuple[str, ...]] = _setting("permissions")
    responders: tuple[str, ...] = _setting("responders")
    admins: tuple[str, ...] = _setting("admins")
    runbook_approvers: tuple[str, ...] = _setting("runbook_approvers")
    terminal_groups: dict[str, tuple[str, ...]] = _setting("terminal_groups")
    title_max_length: int = _setting("title_max_length")
    runbook_dirs: tuple[Path, ...] = _setting("runbook_dirs")
    runbook_artifacts_dir: str = _setting("runbook_artifacts_dir")
    runbook_systemd_units: tuple[str, ...] = _setting("runbook_systemd_units")
    runbook_log_dirs: tuple[Path, ...] = _setting("runbook_log_dirs")
    runbook_memory_limit_mb: int | None = _setting("runbook_memory_limit_mb")
    runbook_cpu_seconds: int | None = _setting("runbook_cpu_seconds")
    runbook_http_allow: tuple[str, ...] = _setting("runbook_http_allow")
    runbook_lease_seconds: int = _setting("runbook_lease_seconds")
    delivery_workers: int = _setting("delivery_workers")
    delivery_lease_seconds: int = _setting("delivery_lease_seconds")
    inbox_lease_seconds: int = _setting("inbox_lease_seconds")
    runbook_recovery_seconds: int = _setting("runbook_recovery_seconds")
    incident_links: tuple[tuple[str, str], ...] = _setting("incident_links")
    announce_channel: str = _setting("announce_channel")
    command_name: str = _setting("command_name")
    log_level: str = _setting("log_level")
    log_file: str = _setting("log_file")
    slack_bot_token: str = _setting("slack_bot_token")
    slack_app_token: str = _setting("slack_app_token")
    slack_signing_secret: str = _setting("slack_signing_secret")
    slack_max_body_bytes: int = _setting("slack_max_body_bytes")
    slack_api_url: str = _setting("slack_api_url")
    slack_private_channels: bool = _setting("slack_private_channels")
    timeline_reaction: str = _setting("timeline_reaction")
    capture_all_messages: bool = _setting("capture_all_messages")
    postmortem_templates_dir: str = _setting("postmortem_templates_dir")
    postmortem_due_business_days: int = _setting("postmortem_due_business_days")
    postmortem_auto_on_resolve: bool = _setting("postmortem_auto_on_resolve")
    health_port: int = _setting("health_port")
    ready_outbox_max_age: int = _setting("ready_outbox_max_age")
    replica_id: str = _setting("replica_id")

    def __post_init__(self) -> None:
        names = [level.name for level in self.severities]
        if not self.default_severity:
            fallback = "SEV3" if "SEV3" in names else names[-1]
            object.__setattr__(self, "default_severity", fallback)
        elif self.default_severity not in names:
            raise ConfigError(
                f"INCIDENT_DEFAULT_SEVERITY={self.default_severity!r} is not valid: "
                f"expected one of {', '.join(names)}"
            )

        allowed_people = {*self.roles, *PERMISSION_PEOPLE}
        for action, people in self.permissions.items():
            unknown = [person for person in people if person not in allowed_people]
            if unknown:
                raise ConfigError(
                    f"INCIDENT_PERMISSIONS names {', '.join(unknown)} for {action}: expected "
                    f"roles ({', '.join(self.roles)}), declarer, responders or anyone"
                )

    @property
    def severity_names(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.severities)


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Read and validate the settings from `environ` (default: the process) and `env_file`."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    parsed: dict[str, Any] = {}
    for attribute, setting in SETTINGS.items():
        raw = values.get(setting.env, setting.default)
        try:
            parsed[attribute] = setting.parse(raw)
        except ValueError:
            shown = "(hidden)" if setting.secret else repr(raw)
            raise ConfigError(
                f"{setting.env}={shown} is not valid: expected {setting.accepted}"
            ) from None
    return Settings(**parsed)

"""What people can ask of the bot: one small frozen object per command.

The grammar (`bot.commands.grammar`) builds them from text; chat forms and buttons
build them directly; the dispatcher runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from bot.storage.models import Status

ME = "@me"  # the person typing, in a role, owner or done-by field


@dataclass(frozen=True)
class Targeted:
    """A command about one incident; `reference` is None when typed in its channel."""

    reference: str | None
    # The permission rule a change needs (bot.incidents.permissions; INCIDENT_PERMISSIONS may
    # change it); None for commands that only read. Runbook commands are checked by the engine.
    permission: ClassVar[str | None] = None

    def permission_on(self, current: str) -> str | None:
        """The permission rule this command needs on an incident whose status is `current`."""
        return self.permission


@dataclass(frozen=True)
class Declare:
    title: str
    severity: str | None = None
    service: str | None = None
    description: str | None = None  # forms can say more than one line of text
    started_at: str | None = None  # when the impact began, as typed
    declared_at: str | None = None  # when it was declared, as typed (None: now)


@dataclass(frozen=True)
class SetStatus(Targeted):
    def permission_on(self, current: str) -> str | None:
        to = self.status.strip().lower()
        if to == Status.INVESTIGATING and current == Status.RESOLVED:
            return "reopen"
        if to == Status.RESOLVED:
            return "resolve"
        return "close" if to == Status.CLOSED else "status"

    status: str
    at: str | None = None


@dataclass(frozen=True)
class SetSeverity(Targeted):
    permission: ClassVar[str | None] = "sev"
    severity: str


@dataclass(frozen=True)
class AssignRole(Targeted):
    permission: ClassVar[str | None] = "role"
    role: str
    holder: str | None  # None leaves the role empty; ME is the person typing
    at: str | None = None


@dataclass(frozen=True)
class AddNote(Targeted):
    permission: ClassVar[str | None] = "note"
    text: str
    at: str | None = None
    # Who did what the note says: ME (the person typing), someone else, or None for nobody.
    done_by: str | None = ME


@dataclass(frozen=True)
class EditNote(Targeted):
    permission: ClassVar[str | None] = "note"
    note_id: int
    text: str


@dataclass(frozen=True)
class DeleteNote(Targeted):
    permission: ClassVar[str | None] = "note"
    note_id: int


# The permission rule each settable milestone needs, where it is not the milestone's own name.
MILESTONE_PERMISSIONS = {"acknowledged": "ack", "mitigated": "status"}


@dataclass(frozen=True)
class SetMilestone(Targeted):
    def permission_on(self, current: str) -> str | None:
        return MILESTONE_PERMISSIONS.get(self.milestone, self.milestone)

    milestone: str
    at: str | None


@dataclass(frozen=True)
class SetImpact(Targeted):
    """The window users were affected and the share of them, each part as typed."""

    permission: ClassVar[str | None] = "started"
    started_at: str | None = None
    ended_at: str | None = None
    fraction: str | None = None


@dataclass(frozen=True)
class AddAction(Targeted):
    permission: ClassVar[str | None] = "action"
    text: str
    owner: str | None = None
    due: date | None = None
    kind: str | None = None
    at: str | None = None  # when it was agreed, for one recorded after the fact


@dataclass(frozen=True)
class CompleteAction(Targeted):
    permission: ClassVar[str | None] = "action"
    item_id: int
    at: str | None = None


@dataclass(frozen=True)
class Resolve(Targeted):
    permission: ClassVar[str | None] = "resolve"
    summary: str | None
    at: str | None = None


@dataclass(frozen=True)
class Close(Targeted):
    permission: ClassVar[str | None] = "close"


@dataclass(frozen=True)
class Reopen(Targeted):
    permission: ClassVar[str | None] = "reopen"


@dataclass(frozen=True)
class ListOpen:
    pass


@dataclass(frozen=True)
class Show(Targeted):
    pass


@dataclass(frozen=True)
class ShowTimeline(Targeted):
    pass


@dataclass(frozen=True)
class DraftPostmortem(Targeted):
    template: str = "postmortem"
    fmt: str = "md"


@dataclass(frozen=True)
class ListRunbooks:
    pass


@dataclass(frozen=True)
class StartRunbook(Targeted):
    name: str
    arguments: tuple[str, ...] = ()  # key=value words
    dry_run: bool = False


@dataclass(frozen=True)
class ShowRuns(Targeted):
    run_id: int | None = None


@dataclass(frozen=True)
class DecideStep:
    """approve, deny (an approval gate), done or failed (a manual step)."""

    run_id: int
    decision: str


@dataclass(frozen=True)
class CancelRun:
    run_id: int


@dataclass(frozen=True)
class Help:
    topic: str | None = None


Command = (
    Declare
    | SetStatus
    | SetSeverity
    | AssignRole
    | AddNote
    | EditNote
    | DeleteNote
    | SetMilestone
    | SetImpact
    | AddAction
    | CompleteAction
    | Resolve
    | Close
    | Reopen
    | ListOpen
    | Show
    | ShowTimeline
    | DraftPostmortem
    | ListRunbooks
    | StartRunbook
    | ShowRuns
    | DecideStep
    | CancelRun
    | Help
)

"""What people can ask of the bot: one small frozen object per command.

The grammar (`bot.commands.grammar`) builds them from text; chat forms and buttons
build them directly; the dispatcher runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

ME = "@me"  # the person typing, in a role or owner field


@dataclass(frozen=True)
class Targeted:
    """A command about one incident; `reference` is None when typed in its channel."""

    reference: str | None


@dataclass(frozen=True)
class Declare:
    title: str
    severity: str | None = None
    service: str | None = None
    description: str | None = None  # forms can say more than one line of text
    started_at: str | None = None  # when the impact began, as typed


@dataclass(frozen=True)
class SetStatus(Targeted):
    status: str
    at: str | None = None


@dataclass(frozen=True)
class SetSeverity(Targeted):
    severity: str


@dataclass(frozen=True)
class AssignRole(Targeted):
    role: str
    holder: str | None  # None leaves the role empty; ME is the person typing


@dataclass(frozen=True)
class AddNote(Targeted):
    text: str
    at: str | None = None


@dataclass(frozen=True)
class EditNote(Targeted):
    note_id: int
    text: str


@dataclass(frozen=True)
class DeleteNote(Targeted):
    note_id: int


@dataclass(frozen=True)
class SetMilestone(Targeted):
    milestone: str
    at: str | None


@dataclass(frozen=True)
class AddAction(Targeted):
    text: str
    owner: str | None = None
    due: date | None = None
    kind: str | None = None


@dataclass(frozen=True)
class CompleteAction(Targeted):
    item_id: int


@dataclass(frozen=True)
class Resolve(Targeted):
    summary: str | None


@dataclass(frozen=True)
class Close(Targeted):
    pass


@dataclass(frozen=True)
class Reopen(Targeted):
    pass


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

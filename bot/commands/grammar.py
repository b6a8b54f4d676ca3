"""The `/incident ...` grammar: text in, a command object out, shared by every adapter.

Parsing only reads text. Values that need settings or the clock (severity
names, roles, `--at` times, impact shares) are checked by the domain when the
command runs. Options are read wherever they stand on the line (`bot.commands.options`).

Longer than most modules on purpose: each command's parser sits next to its
usage line and help text (SPECS), so one command is changed in one place.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from bot.commands.options import Takes, take_options
from bot.commands.types import (
    ME,
    AddAction,
    AddNote,
    AssignRole,
    CancelRun,
    Close,
    Command,
    CompleteAction,
    DecideStep,
    Declare,
    DeleteNote,
    DraftPostmortem,
    EditNote,
    Help,
    ListOpen,
    ListRunbooks,
    Reopen,
    Resolve,
    SetImpact,
    SetMilestone,
    SetSeverity,
    SetStatus,
    Show,
    ShowRuns,
    ShowTimeline,
    StartRunbook,
)
from bot.errors import UsageError
from bot.times import parse_date

_REFERENCE = re.compile(r"^INC-\d+$", re.IGNORECASE)
_PLAIN_MENTION = re.compile(r"^@([\w.\-]+)$")
_SEVERITY_WORD = re.compile(r"^sev\d+$", re.IGNORECASE)
# A `service:<name>` word and the space before it, so the title closes up around it.
_SERVICE_WORD = re.compile(r"(?:^|\s+)service:(\S*)(?=\s|$)", re.IGNORECASE)


class Words:
    """The words of a command line, taken from the front while keeping the rest exact."""

    def __init__(self, text: str) -> None:
        self.rest = text.strip()

    def peek(self) -> str | None:
        return self.rest.split(maxsplit=1)[0] if self.rest else None

    def take(self) -> str | None:
        if not self.rest:
            return None
        parts = self.rest.split(maxsplit=1)
        self.rest = parts[1].lstrip() if len(parts) > 1 else ""
        return parts[0]

    def take_options(
        self,
        grammar: Grammar,
        name: str,
        allowed: Mapping[str, Takes],
        *,
        takes_text: bool = False,
    ) -> dict[str, str]:
        """Take every option out of the words, wherever it stands; the rest stays exact."""
        try:
            found = take_options(self.rest, allowed, command=name, takes_text=takes_text)
        except UsageError as problem:
            raise grammar.fail(name, str(problem)) from None
        self.rest = found.rest
        return found.values

    def take_last(self) -> str | None:
        if not self.rest:
            return None
        parts = self.rest.rsplit(maxsplit=1)
        self.rest = parts[0].rstrip() if len(parts) > 1 else ""
        return parts[-1]

    def peek_last(self) -> str | None:
        return self.rest.rsplit(maxsplit=1)[-1] if self.rest else None


@dataclass(frozen=True)
class Spec:
    """One command of the grammar: how it is typed, what it does, how it is read."""

    name: str
    usage: str
    summary: str
    parse: Callable[[Words, Grammar], Command]
    details: str = ""


MentionParser = Callable[[str], str | None]


def parse_plain_mention(word: str) -> str | None:
    """`@alice` -> `alice`; anything else -> None. Chats with a syntax of their own add it."""
    plain = _PLAIN_MENTION.match(word)
    return plain.group(1) if plain else None


class Grammar:
    """Parses command text; knows the command name and severities for messages."""

    def __init__(
        self,
        command_name: str = "/incident",
        severities: Sequence[str] = (),
        parse_mention: MentionParser = parse_plain_mention,
    ) -> None:
        self.command_name = command_name
        self.parse_mention = parse_mention
        self.severities = tuple(name.upper() for name in severities)
        self.specs = {spec.name: spec for spec in SPECS}

    def parse(self, text: str) -> Command:
        """Read one command line (without the leading `/incident`)."""
        words = Words(text)
        verb = words.take()
        if verb is None:
            return Help()
        spec = self.specs.get(verb.lower())
        if spec is None:
            raise UsageError(
                f"Unknown command `{verb}`. Commands: {', '.join(self.specs)}. "
                f"`{self.command_name} help` explains each."
            )
        return spec.parse(words, self)

    def usage(self, name: str) -> str:
        return f"{self.command_name} {self.specs[name].usage}"

    def fail(self, name: str, problem: str) -> UsageError:
        return UsageError(f"{problem} Usage: `{self.usage(name)}`")

    def is_severity(self, word: str) -> bool:
        return bool(_SEVERITY_WORD.match(word)) or word.upper() in self.severities

    def person(self, word: str) -> str | None:
        """`@me`, or a mention as the chat writes it -> a user; anything else -> None."""
        return ME if word.lower() == ME else self.parse_mention(word)


def _reference(words: Words) -> str | None:
    word = words.peek()
    if word is not None and _REFERENCE.match(word):
        words.take()
        return word.upper()
    return None


AT = {"--at": Takes.TIME}
NOTE_OPTIONS = {"--at": Takes.TIME, "--by": Takes.PERSON}
IMPACT_OPTIONS = {"--from": Takes.TIME, "--until": Takes.TIME, "--fraction": Takes.SHARE}
NO_OPTIONS: dict[str, Takes] = {}
NOBODY = "nobody"


def _single_number(words: Words, grammar: Grammar, name: str, what: str) -> int:
    word = words.take()
    if word is None or not word.lstrip("#").isdecimal():
        raise grammar.fail(name, f"Say which {what} by its number.")
    return int(word.lstrip("#"))


def _second_is_number(words: Words) -> bool:
    parts = words.rest.split(maxsplit=2)
    return len(parts) > 1 and parts[1].lstrip("#").isdecimal()


def _no_more(words: Words, grammar: Grammar, name: str) -> None:
    if words.rest:
        raise grammar.fail(name, f"Unexpected `{words.rest}`.")


def _parse_declare(words: Words, grammar: Grammar) -> Command:
    at = words.take_options(grammar, "declare", AT, takes_text=True).get("--at")
    severity = None
    first = words.peek()
    if first is not None and grammar.is_severity(first):
        severity = words.take()
    services = _SERVICE_WORD.findall(words.rest)
    if any(not name for name in services):
        raise grammar.fail("declare", "`service:` needs a name, like `service:checkout`.")
    service = services[-1] if services else None
    title = _SERVICE_WORD.sub("", words.rest).strip()
    if not title:
        raise grammar.fail("declare", "An incident needs a title.")
    return Declare(title=title, severity=severity, service=service, declared_at=at)


def _parse_status(words: Words, grammar: Grammar) -> Command:
    at = words.take_options(grammar, "status", AT).get("--at")
    reference = _reference(words)
    status = words.take()
    if status is None:
        raise grammar.fail("status", "Say which status.")
    _no_more(words, grammar, "status")
    return SetStatus(reference=reference, status=status, at=at)


def _parse_sev(words: Words, grammar: Grammar) -> Command:
    words.take_options(grammar, "sev", NO_OPTIONS)
    reference = _reference(words)
    severity = words.take()
    if severity is None:
        raise grammar.fail("sev", "Say which severity.")
    _no_more(words, grammar, "sev")
    return SetSeverity(reference=reference, severity=severity)


def _parse_role(words: Words, grammar: Grammar) -> Command:
    at = words.take_options(grammar, "role", AT).get("--at")
    reference = _reference(words)
    role = words.take()
    who = words.take()
    if role is None or who is None:
        raise grammar.fail("role", "Say which role and who takes it.")
    _no_more(words, grammar, "role")
    if who.lower() == "none":
        return AssignRole(reference=reference, role=role, holder=None, at=at)
    holder = grammar.person(who)
    if holder is None:
        raise grammar.fail("role", f"`{who}` is not a person; write `@name` or `@me`.")
    return AssignRole(reference=reference, role=role, holder=holder, at=at)


def _parse_note(words: Words, grammar: Grammar) -> Command:
    options = words.take_options(grammar, "note", NOTE_OPTIONS, takes_text=True)
    reference = _reference(words)
    first = words.peek()
    if first in ("edit", "delete") and _second_is_number(words):
        if options:
            raise grammar.fail("note", f"`note {first}` takes no options.")
        words.take()
        note_id = _single_number(words, grammar, "note", "note")
        if first == "delete":
            _no_more(words, grammar, "note")
            return DeleteNote(reference=reference, note_id=note_id)
        if not words.rest:
            raise grammar.fail("note", "Give the new text of the note.")
        return EditNote(reference=reference, note_id=note_id, text=words.rest)
    if not words.rest:
        raise grammar.fail("note", "A note needs some text.")
    return AddNote(
        reference=reference,
        text=words.rest,
        at=options.get("--at"),
        done_by=_done_by(options.get("--by", ME), grammar),
    )


def _done_by(word: str, grammar: Grammar) -> str | None:
    """`--by @bob` -> bob, `--by nobody` -> None (nobody in particular); ME by default."""
    if word.lower() == NOBODY:
        return None
    person = grammar.person(word)
    if person is None:
        raise grammar.fail("note", f"`--by {word}`: write `--by @name` or `--by nobody`.")
    return person


def _milestone_parser(milestone: str, at_required: bool) -> Callable[[Words, Grammar], Command]:
    def parse(words: Words, grammar: Grammar) -> Command:
        at = words.take_options(grammar, milestone, AT).get("--at")
        reference = _reference(words)
        if at is None and words.rest:
            at = words.rest
            words.rest = ""
        _no_more(words, grammar, milestone)
        if at is None and at_required:
            raise grammar.fail(milestone, "Say when, with `--at TIME`.")
        return SetMilestone(reference=reference, milestone=MILESTONE_NAMES[milestone], at=at)

    return parse


MILESTONE_NAMES = {
    "started": "started",
    "detected": "detected",
    "ack": "acknowledged",
    "mitigated": "mitigated",
}


def _parse_impact(words: Words, grammar: Grammar) -> Command:
    options = words.take_options(grammar, "impact", IMPACT_OPTIONS)
    reference = _reference(words)
    _no_more(words, grammar, "impact")
    if not options:
        raise grammar.fail("impact", "Say what the impact was with at least one option.")
    return SetImpact(
        reference=reference,
        started_at=options.get("--from"),
        ended_at=options.get("--until"),
        fraction=options.get("--fraction"),
    )


def _parse_action(words: Words, grammar: Grammar) -> Command:
    at = words.take_options(grammar, "action", AT, takes_text=True).get("--at")
    reference = _reference(words)
    if words.peek() == "done" and _second_is_number(words):
        words.take()
        item_id = _single_number(words, grammar, "action", "action item")
        _no_more(words, grammar, "action")
        return CompleteAction(reference=reference, item_id=item_id, at=at)
    owner: str | None = None
    due: date | None = None
    kind: str | None = None
    while (last := words.peek_last()) is not None:
        if last.lower().startswith("due:"):
            try:
                due = parse_date(last[4:])
            except UsageError as problem:
                raise grammar.fail("action", str(problem)) from None
        elif last.lower().startswith("kind:"):
            kind = last[5:]
        elif owner is None and grammar.person(last) is not None:
            owner = grammar.person(last)
        else:
            break
        words.take_last()
    if not words.rest:
        raise grammar.fail("action", "An action item needs text.")
    return AddAction(reference=reference, text=words.rest, owner=owner, due=due, kind=kind, at=at)


def _parse_resolve(words: Words, grammar: Grammar) -> Command:
    at = words.take_options(grammar, "resolve", AT, takes_text=True).get("--at")
    reference = _reference(words)
    return Resolve(reference=reference, summary=words.rest or None, at=at)


def _bare(
    factory: Callable[[str | None], Command], name: str
) -> Callable[[Words, Grammar], Command]:
    def parse(words: Words, grammar: Grammar) -> Command:
        words.take_options(grammar, name, NO_OPTIONS)
        reference = _reference(words)
        _no_more(words, grammar, name)
        return factory(reference)

    return parse


def _parse_postmortem(words: Words, grammar: Grammar) -> Command:
    reference = _reference(words)
    options = {"--format": "md", "--template": "postmortem"}
    while (word := words.take()) is not None:
        if word not in options:
            raise grammar.fail("postmortem", f"Unexpected `{word}`.")
        value = words.take()
        if value is None:
            raise grammar.fail("postmortem", f"`{word}` needs a value.")
        options[word] = value.lower() if word == "--format" else value
    if options["--format"] not in ("md", "html"):
        raise grammar.fail("postmortem", f"Unknown format `{options['--format']}`; use md or html.")
    return DraftPostmortem(
        reference=reference, template=options["--template"], fmt=options["--format"]
    )


RUN_VERBS = ("list", "run", "status", "cancel", "done", "failed")


def _run_number(words: Words, grammar: Grammar, name: str) -> int:
    word = words.take()
    if word is None or not word.lstrip("#").isdecimal():
        raise grammar.fail(name, "Say which run by its number (`runbook status` lists them).")
    _no_more(words, grammar, name)
    return int(word.lstrip("#"))


def _parse_runbook(words: Words, grammar: Grammar) -> Command:
    verb = (words.take() or "").lower()
    if verb not in RUN_VERBS:
        raise grammar.fail("runbook", f"Use one of: {', '.join(RUN_VERBS)}.")
    if verb == "list":
        _no_more(words, grammar, "runbook")
        return ListRunbooks()
    if verb in ("cancel", "done", "failed"):
        run_id = _run_number(words, grammar, "runbook")
        return CancelRun(run_id) if verb == "cancel" else DecideStep(run_id, verb)
    reference = _reference(words)
    if verb == "status":
        word = words.take()
        if word is not None and not word.lstrip("#").isdecimal():
            raise grammar.fail("runbook", f"`{word}` is not a run number.")
        _no_more(words, grammar, "runbook")
        return ShowRuns(reference=reference, run_id=int(word.lstrip("#")) if word else None)
    try:
        parts = shlex.split(words.rest)
    except ValueError as problem:
        raise grammar.fail("runbook", f"Unbalanced quotes: {problem}.") from None
    dry_run = "--dry-run" in parts
    parts = [part for part in parts if part != "--dry-run"]
    unknown = [part for part in parts if part.startswith("--")]
    if unknown:
        raise grammar.fail("runbook", f"Unknown option `{unknown[0]}`.")
    if not parts:
        raise grammar.fail("runbook", "Say which runbook to run (`runbook list` shows them).")
    return StartRunbook(
        reference=reference, name=parts[0], arguments=tuple(parts[1:]), dry_run=dry_run
    )


def _decision_parser(decision: str) -> Callable[[Words, Grammar], Command]:
    def parse(words: Words, grammar: Grammar) -> Command:
        return DecideStep(_run_number(words, grammar, decision), decision)

    return parse


def _parse_list(words: Words, grammar: Grammar) -> Command:
    words.take_options(grammar, "list", NO_OPTIONS)
    _no_more(words, grammar, "list")
    return ListOpen()


def _parse_help(words: Words, grammar: Grammar) -> Command:
    topic = words.take()
    _no_more(words, grammar, "help")
    if topic is not None and topic.lower() not in grammar.specs:
        raise UsageError(f"There is no command `{topic}`. Commands: {', '.join(grammar.specs)}.")
    return Help(topic=topic.lower() if topic else None)


AT_HELP = (
    "TIME is HH:MM (in the configured time zone: today, or the day the incident was "
    "declared if that was earlier), YYYY-MM-DD HH:MM or ISO 8601. Options may stand "
    "anywhere on the line; the order of events is checked (nothing resolved before it "
    "was declared, no impact ending before it began)."
)

SPECS: tuple[Spec, ...] = (
    Spec(
        "declare",
        "declare [sevN] <title> [service:<name>] [--at TIME]",
        "Declare a new incident and open its channel.",
        _parse_declare,
        "Severity defaults to the configured default; `--at` is when it was declared, for "
        "an incident recorded after the fact. Example: "
        "`declare sev2 Checkout API returns 500s service:checkout`.",
    ),
    Spec(
        "status",
        "status [INC-n] <state> [--at TIME]",
        "Move the incident to investigating, identified, monitoring, resolved or closed.",
        _parse_status,
        AT_HELP,
    ),
    Spec("sev", "sev [INC-n] <N>", "Change the severity (`sev 1` or `sev SEV1`).", _parse_sev),
    Spec(
        "role",
        "role [INC-n] <role> <@user|@me|none> [--at TIME]",
        "Give a role to someone (commander, communications, scribe, operations), or clear it.",
        _parse_role,
        AT_HELP,
    ),
    Spec(
        "note",
        "note [INC-n] [--at TIME] [--by @user|--by nobody] <text>",
        "Add a note to the timeline; `note edit <id> <text>` and `note delete <id>` change one.",
        _parse_note,
        "`--by` says who did what the note says (you, unless given; `nobody` for "
        f"nobody in particular, as in `traffic increases 88x`). {AT_HELP}",
    ),
    Spec(
        "started",
        "started [INC-n] --at TIME",
        "Record when the impact began (it may be before the declaration).",
        _milestone_parser("started", at_required=True),
        AT_HELP,
    ),
    Spec(
        "detected",
        "detected [INC-n] --at TIME",
        "Record when the problem was first noticed.",
        _milestone_parser("detected", at_required=True),
        AT_HELP,
    ),
    Spec(
        "ack",
        "ack [INC-n] [--at TIME]",
        "Acknowledge the incident (taking a role or changing status also does).",
        _milestone_parser("ack", at_required=False),
        AT_HELP,
    ),
    Spec(
        "mitigated",
        "mitigated [INC-n] [--at TIME]",
        "Record when the impact was mitigated (`status monitoring` and resolving also do).",
        _milestone_parser("mitigated", at_required=False),
        AT_HELP,
    ),
    Spec(
        "impact",
        "impact [INC-n] [--from TIME] [--until TIME] [--fraction N%]",
        "Record the window users were affected and the share of them.",
        _parse_impact,
        "`--from` is when the impact began (as `started` records it), `--until` when users "
        "stopped being affected, `--fraction` the share of users or requests affected "
        f"(`12%` or `0.12`). {AT_HELP}",
    ),
    Spec(
        "action",
        "action [INC-n] <text> [@owner] [due:YYYY-MM-DD] [kind:prevent|mitigate|detect|process]"
        " [--at TIME] | done <id> [--at TIME]",
        "Record a follow-up action item; `action done <id>` completes one.",
        _parse_action,
        f"`--at` is when the item was agreed, or done. {AT_HELP}",
    ),
    Spec(
        "resolve",
        "resolve [INC-n] [--at TIME] [summary]",
        "Mark the incident resolved, with a short summary of what fixed it.",
        _parse_resolve,
        AT_HELP,
    ),
    Spec(
        "close",
        "close [INC-n]",
        "Close a resolved incident.",
        _bare(lambda ref: Close(reference=ref), "close"),
    ),
    Spec(
        "reopen",
        "reopen [INC-n]",
        "Reopen a resolved incident.",
        _bare(lambda ref: Reopen(reference=ref), "reopen"),
    ),
    Spec("list", "list", "List open incidents.", _parse_list),
    Spec(
        "show",
        "show [INC-n]",
        "Show an incident: status, roles, milestones, action items.",
        _bare(lambda ref: Show(reference=ref), "show"),
    ),
    Spec(
        "timeline",
        "timeline [INC-n]",
        "Show the incident's timeline in the order things happened.",
        _bare(lambda ref: ShowTimeline(reference=ref), "timeline"),
    ),
    Spec(
        "postmortem",
        "postmortem [INC-n] [--format md|html] [--template NAME]",
        "Draft the blameless postmortem and share it in the incident channel.",
        _parse_postmortem,
        "Templates: postmortem (full, the default) and executive (short), plus your own.",
    ),
    Spec(
        "runbook",
        "runbook list | run [INC-n] <name> [key=value ...] [--dry-run] | status [INC-n] [run]"
        " | cancel <run> | done <run> | failed <run>",
        "Run scripted runbooks step by step; see and steer their runs.",
        _parse_runbook,
        'Values with spaces go in quotes: `runbook run restart-api service="api v2"`. '
        "`done`/`failed` answer a step that waits for a person.",
    ),
    Spec(
        "approve",
        "approve <run>",
        "Approve the step of a runbook run that waits for approval.",
        _decision_parser("approved"),
    ),
    Spec(
        "deny", "deny <run>", "Refuse the step that waits for approval.", _decision_parser("denied")
    ),
    Spec("help", "help [command]", "Show the commands, or one command in detail.", _parse_help),
)

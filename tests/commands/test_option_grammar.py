"""Options in the grammar: read wherever they stand, never kept as text, refused when unknown."""

from __future__ import annotations

import pytest

from bot.chat.slack.client import parse_slack_mention
from bot.commands.grammar import SPECS, Grammar
from bot.commands.types import (
    ME,
    AddAction,
    AddNote,
    AssignRole,
    CompleteAction,
    Declare,
    Resolve,
    SetImpact,
    SetMilestone,
    SetStatus,
)
from bot.errors import UsageError

GRAMMAR = Grammar("/incident", ["SEV1", "SEV2", "SEV3", "SEV4"], parse_mention=parse_slack_mention)
USAGE = {spec.name: f"Usage: `/incident {spec.usage}`" for spec in SPECS}
AT = "2015-10-21T15:01Z"


def parse(text: str):
    return GRAMMAR.parse(text)


def refusal(text: str) -> str:
    with pytest.raises(UsageError) as caught:
        GRAMMAR.parse(text)
    return str(caught.value)


def cases(*rows):
    return [pytest.param(text, expected, id=text) for text, expected in rows]


TITLE = "Shakespeare search down"
DECLARED = Declare(title=TITLE, severity="sev2", service="search", declared_at=AT)


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        (f"declare --at {AT} sev2 {TITLE} service:search", DECLARED),
        (f"declare sev2 {TITLE} service:search --at {AT}", DECLARED),
        (f"declare sev2 Shakespeare --at {AT} search down service:search", DECLARED),
        (f"declare sev2 {TITLE} --at {AT} service:search", DECLARED),
        (f"declare sev2 {TITLE} service:search --at=2015-10-21T15:01Z", DECLARED),
        (f"declare sev2 {TITLE} service:search —at {AT}", DECLARED),
        (
            "declare sev2 Search down --at 2015-10-21 15:01",
            Declare(title="Search down", severity="sev2", declared_at="2015-10-21 15:01"),
        ),
        ("declare sev2 Search down", Declare(title="Search down", severity="sev2")),
    ),
)
def test_declare_at_anywhere(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        ("resolve --at 16:30", Resolve(None, summary=None, at="16:30")),
        ("resolve --at 16:30 done", Resolve(None, summary="done", at="16:30")),
        (f"resolve done --at {AT}", Resolve(None, summary="done", at=AT)),
        ("resolve INC-3 Rolled back --at 16:30", Resolve("INC-3", "Rolled back", at="16:30")),
        ("resolve --at 16:30 INC-3 Rolled back", Resolve("INC-3", "Rolled back", at="16:30")),
        ("resolve Rolled --at 16:30 back", Resolve(None, "Rolled back", at="16:30")),
        ("mitigated", SetMilestone(None, milestone="mitigated", at=None)),
        ("mitigated --at 15:36", SetMilestone(None, milestone="mitigated", at="15:36")),
        ("mitigated INC-3 --at 15:36", SetMilestone("INC-3", milestone="mitigated", at="15:36")),
        ("mitigated --at 15:36 INC-3", SetMilestone("INC-3", milestone="mitigated", at="15:36")),
        ("ack --at 14:55 INC-3", SetMilestone("INC-3", milestone="acknowledged", at="14:55")),
        ("detected INC-3 --at 14:55", SetMilestone("INC-3", milestone="detected", at="14:55")),
        ("status --at 15:20 INC-3 identified", SetStatus("INC-3", "identified", at="15:20")),
        ("status identified INC-3 --at 15:20", None),  # the reference comes first, as today
    ),
)
def test_milestones_and_resolve_at_anywhere(text, expected):
    if expected is None:
        assert "Unexpected `INC-3`." in refusal(text)
    else:
        assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        (
            "impact --from 14:54 --until 16:00 --fraction 12%",
            SetImpact(None, started_at="14:54", ended_at="16:00", fraction="12%"),
        ),
        (
            "impact INC-3 --fraction 0.12 --until 2015-10-21 16:00",
            SetImpact("INC-3", ended_at="2015-10-21 16:00", fraction="0.12"),
        ),
        ("impact --from 14:54", SetImpact(None, started_at="14:54")),
        ("impact --until=16:00 INC-3", SetImpact("INC-3", ended_at="16:00")),
    ),
)
def test_impact(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        (
            "note --by nobody traffic increases 88x",
            AddNote(None, "traffic increases 88x", None, None),
        ),
        (
            "note traffic increases 88x --by NOBODY",
            AddNote(None, "traffic increases 88x", None, None),
        ),
        ("note --by @bob pages the team", AddNote(None, "pages the team", None, "bob")),
        ("note --by <@U0BOB|bob> pages the team", AddNote(None, "pages the team", None, "U0BOB")),
        ("note --by @me looked", AddNote(None, "looked", None, ME)),
        ("note looked", AddNote(None, "looked", None, ME)),
        (
            "note INC-3 --at 15:05 --by @bob rolls back",
            AddNote("INC-3", "rolls back", at="15:05", done_by="bob"),
        ),
        (
            "note rolls --by @bob back --at 2015-10-21 15:05",
            AddNote(None, "rolls back", at="2015-10-21 15:05", done_by="bob"),
        ),
        # Words in backticks are text, options or not.
        (
            "note ran `deploy --force` --at 15:05",
            AddNote(None, "ran `deploy --force`", at="15:05"),
        ),
        ("note ran `--at` by hand", AddNote(None, "ran `--at` by hand")),
        # A lone `--` or a dash between words is text.
        ("note p99 -- bad -x", AddNote(None, "p99 -- bad -x")),
        # A keyboard's long dash before a known option is the option; before a word, text.
        ("note —at 15:05 ran it — twice", AddNote(None, "ran it — twice", at="15:05")),
        ("note ran it \u2013by @bob", AddNote(None, "ran it", done_by="bob")),  # an en dash
        ("note —then it recovered", AddNote(None, "—then it recovered")),
    ),
)
def test_note_at_and_by(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        ("role commander @bob --at 15:02", AssignRole(None, "commander", "bob", at="15:02")),
        ("role --at 15:02 commander @me", AssignRole(None, "commander", ME, at="15:02")),
        ("role INC-3 scribe none --at 15:40", AssignRole("INC-3", "scribe", None, at="15:40")),
        ("action done 4 --at 16:10", CompleteAction(None, item_id=4, at="16:10")),
        ("action --at 16:10 INC-3 done #4", CompleteAction("INC-3", item_id=4, at="16:10")),
        ("action done 4", CompleteAction(None, item_id=4)),
        ("action Add a canary @bob", AddAction(None, "Add a canary", owner="bob")),
        (
            "action Add a canary --at 16:50 @bob kind:detect",
            AddAction(None, "Add a canary", owner="bob", kind="detect", at="16:50"),
        ),
    ),
)
def test_role_and_action_done_at(text, expected):
    assert parse(text) == expected


# (text, the command whose usage is shown, the whole problem before the usage)
MISTAKES = [
    ("note forgot the time --at", "note", "`--at` needs a time."),
    ("note --at --by @bob x", "note", "`--at` needs a time."),
    ("resolve done --at", "resolve", "`--at` needs a time."),
    ("declare Outage --at", "declare", "`--at` needs a time."),
    ("declare Outage --at=", "declare", "`--at` needs a time."),
    ("note --by", "note", "`--by` needs @name or nobody."),
    ("impact --fraction", "impact", "`--fraction` needs a share like 12%."),
    ("role commander @bob --at 15:00 --at 15:02", "role", "`--at` is given twice."),
    (
        "declare Outage --ta 15:01",
        "declare",
        "Unknown option `--ta` for declare; its options are `--at` "
        "(put a `--word` meant as text in backticks).",
    ),
    (
        "note ran migrate --force",
        "note",
        "Unknown option `--force` for note; its options are `--at`, `--by` "
        "(put a `--word` meant as text in backticks).",
    ),
    (
        "impact --f 12%",
        "impact",
        "`--f` is ambiguous for impact: `--from` or `--fraction`?",
    ),
    (
        "impact --for 14:54",
        "impact",
        "Unknown option `--for` for impact; its options are `--from`, `--until`, `--fraction`.",
    ),
    (
        "status identified --now",
        "status",
        "Unknown option `--now` for status; its options are `--at`.",
    ),
    ("sev 1 --at 15:00", "sev", "Unknown option `--at` for sev; it takes no options."),
    ("close --at 15:00", "close", "Unknown option `--at` for close; it takes no options."),
    ("impact", "impact", "Say what the impact was with at least one option."),
    ("impact INC-3 badly", "impact", "Unexpected `badly`."),
    ("note --by bob x", "note", "`--by bob`: write `--by @name` or `--by nobody`."),
    ("note edit 4 new text --at 15:00", "note", "`note edit` takes no options."),
    ("note delete 4 --by @bob", "note", "`note delete` takes no options."),
    ("detected", "detected", "Say when, with `--at TIME`."),
    ("detected --at 14:55 extra", "detected", "Unexpected `extra`."),
]


@pytest.mark.parametrize(
    ("text", "command", "problem"), [pytest.param(*row, id=row[0]) for row in MISTAKES]
)
def test_option_mistakes_say_what_is_wrong_and_show_usage(text, command, problem):
    assert refusal(text) == f"{problem} {USAGE[command]}"

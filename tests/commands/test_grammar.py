"""The `/incident ...` grammar: command text in, command objects (or a UsageError) out."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date

import pytest

from bot.chat.slack.client import parse_slack_mention
from bot.commands.grammar import SPECS, Grammar
from bot.commands.types import (
    ME,
    AddAction,
    AddNote,
    AssignRole,
    Close,
    CompleteAction,
    Declare,
    DeleteNote,
    EditNote,
    Help,
    ListOpen,
    Reopen,
    Resolve,
    SetMilestone,
    SetSeverity,
    SetStatus,
    Show,
    ShowTimeline,
)
from bot.errors import UsageError

# Slack's mention syntax (`<@U123|bob>`) comes from the Slack adapter, as in the running bot.
GRAMMAR = Grammar("/incident", ["SEV1", "SEV2", "SEV3", "SEV4"], parse_mention=parse_slack_mention)
COMMAND_NAMES = [spec.name for spec in SPECS]
# Built from the specs by hand so that a change in how `Grammar` formats usage is noticed.
USAGE = {spec.name: f"Usage: `/incident {spec.usage}`" for spec in SPECS}


def parse(text: str):
    return GRAMMAR.parse(text)


def usage_error(text: str, grammar: Grammar = GRAMMAR) -> str:
    with pytest.raises(UsageError) as caught:
        grammar.parse(text)
    return str(caught.value)


def cases(*rows):
    """`(text, expected)` rows as pytest params, each named by its text."""
    return [pytest.param(text, expected, id=text or "<empty>") for text, expected in rows]


# --- declare -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        (
            "declare sev2 Checkout API returns 500s service:checkout",
            Declare(title="Checkout API returns 500s", severity="sev2", service="checkout"),
        ),
        ("declare SEV1 Payments are down", Declare(title="Payments are down", severity="SEV1")),
        ("declare sev4 Slow search", Declare(title="Slow search", severity="sev4")),
        ("declare Payments are down", Declare(title="Payments are down", severity=None)),
        ("DECLARE sev3 Verb is case-insensitive", Declare("Verb is case-insensitive", "sev3")),
        (
            "declare service:checkout Checkout returns 500s",
            Declare(title="Checkout returns 500s", service="checkout"),
        ),
        (
            "declare sev2 Service:Checkout Checkout returns 500s",
            Declare(title="Checkout returns 500s", severity="sev2", service="Checkout"),
        ),
        # Only the first word can be a severity.
        ("declare Outage after sev2 rollout", Declare(title="Outage after sev2 rollout")),
        # Spacing inside the title is the user's.
        ("declare   sev2   Login  slow   in EU  ", Declare("Login  slow   in EU", "sev2")),
        ("declare sev2 결제 API 오류 🔥", Declare(title="결제 API 오류 🔥", severity="sev2")),
        (
            "declare 결제 API 오류 🔥 service:결제",
            Declare(title="결제 API 오류 🔥", service="결제"),
        ),
        (
            'declare sev3 A | B <b>bold</b> & "quoted"',
            Declare(title='A | B <b>bold</b> & "quoted"', severity="sev3"),
        ),
        # Words merely containing "service:" are title text.
        ("declare microservice:auth flaps", Declare(title="microservice:auth flaps")),
    ),
)
def test_declare(text, expected):
    assert parse(text) == expected


def test_declare_service_in_the_middle_closes_up_the_title():
    assert parse("declare sev2 Checkout service:checkout is down") == Declare(
        title="Checkout is down", severity="sev2", service="checkout"
    )


def test_declare_severity_words_come_from_the_configured_severities():
    grammar = Grammar("/incident", ["P1", "P2"])
    assert grammar.parse("declare p1 Outage") == Declare(title="Outage", severity="p1")
    assert parse("declare P1 Outage") == Declare(title="P1 Outage", severity=None)


# --- status, sev, role -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        ("status identified", SetStatus(reference=None, status="identified")),
        ("status INC-12 monitoring", SetStatus(reference="INC-12", status="monitoring")),
        ("status inc-12 monitoring", SetStatus(reference="INC-12", status="monitoring")),
        ("status --at 14:51 identified", SetStatus(None, "identified", at="14:51")),
        ("status identified --at 14:51", SetStatus(None, "identified", at="14:51")),
        (
            "status --at 2026-11-25 14:51 identified",
            SetStatus(None, "identified", at="2026-11-25 14:51"),
        ),
        (
            "status identified --at 2026-11-25 14:51",
            SetStatus(None, "identified", at="2026-11-25 14:51"),
        ),
        (
            "status INC-3 --at 2026-11-25T14:51Z resolved",
            SetStatus("INC-3", "resolved", at="2026-11-25T14:51Z"),
        ),
        (
            "status Inc-3 monitoring --at 14:51:30+09:00",
            SetStatus("INC-3", "monitoring", at="14:51:30+09:00"),
        ),
    ),
)
def test_status(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        ("sev 1", SetSeverity(reference=None, severity="1")),
        ("sev SEV1", SetSeverity(reference=None, severity="SEV1")),
        ("sev inc-4 sev2", SetSeverity(reference="INC-4", severity="sev2")),
    ),
)
def test_sev(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        ("role commander @me", AssignRole(reference=None, role="commander", holder=ME)),
        ("role commander @ME", AssignRole(reference=None, role="commander", holder=ME)),
        ("role scribe <@U123ABC|bob>", AssignRole(reference=None, role="scribe", holder="U123ABC")),
        ("role scribe <@U123ABC>", AssignRole(reference=None, role="scribe", holder="U123ABC")),
        ("role scribe @bob", AssignRole(reference=None, role="scribe", holder="bob")),
        ("role scribe @김철수", AssignRole(reference=None, role="scribe", holder="김철수")),
        ("role scribe none", AssignRole(reference=None, role="scribe", holder=None)),
        ("role INC-9 scribe NONE", AssignRole(reference="INC-9", role="scribe", holder=None)),
        (
            "role inc-9 communications @alice.b-c",
            AssignRole(reference="INC-9", role="communications", holder="alice.b-c"),
        ),
    ),
)
def test_role(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("@me", ME),
        ("@Me", ME),
        ("@bob", "bob"),
        ("<@U123ABC|bob>", "U123ABC"),
        ("<@W42>", "W42"),
        ("bob", None),
        ("@", None),
        ("<@u123abc>", None),
        ("<#C123|general>", None),
    ],
)
def test_parse_mention(word, expected):
    assert GRAMMAR.person(word) == expected


# --- note --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        ("note Rolled back the deploy", AddNote(reference=None, text="Rolled back the deploy")),
        ("note INC-2 Rolled back", AddNote(reference="INC-2", text="Rolled back")),
        ("note inc-2 Rolled back", AddNote(reference="INC-2", text="Rolled back")),
        ("note --at 14:51 Rolled back", AddNote(None, "Rolled back", at="14:51")),
        ("note Rolled back --at 14:51", AddNote(None, "Rolled back", at="14:51")),
        (
            "note --at 2026-11-25 14:51 Rolled back",
            AddNote(None, "Rolled back", at="2026-11-25 14:51"),
        ),
        (
            "note Rolled back --at 2026-11-25 14:51",
            AddNote(None, "Rolled back", at="2026-11-25 14:51"),
        ),
        (
            "note INC-2 --at 2026-11-25 14:51 Rolled back",
            AddNote("INC-2", "Rolled back", at="2026-11-25 14:51"),
        ),
        # A date at the front with no clock after it: the next word is note text.
        ("note --at 2026-11-25 10 hosts down", AddNote(None, "10 hosts down", at="2026-11-25")),
        # `--at` in the middle of the text is the option too, and the text closes up.
        ("note ran it --at 14:51 again", AddNote(None, "ran it again", at="14:51")),
        ("note moved --at 2026-11-25 v2", AddNote(None, "moved v2", at="2026-11-25")),
        # The words `edit` and `delete` not followed by a number are ordinary text.
        ("note edit the config", AddNote(reference=None, text="edit the config")),
        ("note delete the old branch", AddNote(reference=None, text="delete the old branch")),
        ("note edit", AddNote(reference=None, text="edit")),
        # Only decimal digits make a note number; `²` is text, not an id.
        ("note delete ²", AddNote(reference=None, text="delete ²")),
        ("note edit 4 new text", EditNote(reference=None, note_id=4, text="new text")),
        ("note edit #4 new text", EditNote(reference=None, note_id=4, text="new text")),
        ("note INC-2 edit 4 new text", EditNote(reference="INC-2", note_id=4, text="new text")),
        (
            "note edit 4 결제  API 🔥 | <b>",
            EditNote(reference=None, note_id=4, text="결제  API 🔥 | <b>"),
        ),
        ("note delete #4", DeleteNote(reference=None, note_id=4)),
        ("note delete 4", DeleteNote(reference=None, note_id=4)),
        ("note inc-2 delete 17", DeleteNote(reference="INC-2", note_id=17)),
    ),
)
def test_note(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    "body",
    [
        "결제 API 오류 🔥",
        "결제\u3000API 오류",
        "p99 > 2s | errors < 1% <b>not html</b>",
        "👩🏽‍💻 on it — ETA 5m",
        "quotes \"double\" and 'single' and `code` and *stars*",
        "two  spaces   and\ttab",
        "Ünïcödé ñ ç ø",
    ],
)
def test_note_text_is_kept_exactly(body):
    assert parse(f"note {body}") == AddNote(reference=None, text=body)
    assert parse(f"note --at 14:51 {body}") == AddNote(reference=None, text=body, at="14:51")
    assert parse(f"note {body} --at 14:51") == AddNote(reference=None, text=body, at="14:51")


# --- milestones --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        ("started --at 14:51", SetMilestone(reference=None, milestone="started", at="14:51")),
        ("started 14:51", SetMilestone(reference=None, milestone="started", at="14:51")),
        (
            "started INC-3 --at 2026-11-25 14:51",
            SetMilestone(reference="INC-3", milestone="started", at="2026-11-25 14:51"),
        ),
        (
            "started 2026-11-25 14:51",
            SetMilestone(reference=None, milestone="started", at="2026-11-25 14:51"),
        ),
        ("detected --at 14:40", SetMilestone(reference=None, milestone="detected", at="14:40")),
        ("detected inc-3 14:40", SetMilestone(reference="INC-3", milestone="detected", at="14:40")),
        ("ack", SetMilestone(reference=None, milestone="acknowledged", at=None)),
        ("ack INC-3", SetMilestone(reference="INC-3", milestone="acknowledged", at=None)),
        ("ack 14:55", SetMilestone(reference=None, milestone="acknowledged", at="14:55")),
        ("ack --at 14:55", SetMilestone(reference=None, milestone="acknowledged", at="14:55")),
    ),
)
def test_milestones(text, expected):
    assert parse(text) == expected


# --- action ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trailing",
    [
        " ".join(order)
        for order in itertools.permutations(["@bob", "due:2026-12-01", "kind:detect"])
    ],
)
def test_action_trailing_fields_in_any_order(trailing):
    assert parse(f"action Add alert on 5xx rate {trailing}") == AddAction(
        reference=None,
        text="Add alert on 5xx rate",
        owner="bob",
        due=date(2026, 12, 1),
        kind="detect",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        ("action Fix retries", AddAction(reference=None, text="Fix retries")),
        ("action INC-5 Fix retries", AddAction(reference="INC-5", text="Fix retries")),
        ("action Fix retries @me", AddAction(reference=None, text="Fix retries", owner=ME)),
        (
            "action Fix retries <@U123ABC|bob>",
            AddAction(reference=None, text="Fix retries", owner="U123ABC"),
        ),
        (
            "action Fix retries due:2026-12-01",
            AddAction(reference=None, text="Fix retries", due=date(2026, 12, 1)),
        ),
        ("action Fix retries kind:prevent", AddAction(None, "Fix retries", kind="prevent")),
        # Only the last mention is the owner; earlier ones are part of the text.
        (
            "action Ask @alice to review @bob",
            AddAction(reference=None, text="Ask @alice to review", owner="bob"),
        ),
        ("action Page @alice @bob", AddAction(reference=None, text="Page @alice", owner="bob")),
        (
            "action Pair with @alice on it",
            AddAction(reference=None, text="Pair with @alice on it"),
        ),
        (
            "action 결제 재시도 로직 수정 🔥 @김철수 due:2026-12-01",
            AddAction(None, "결제 재시도 로직 수정 🔥", owner="김철수", due=date(2026, 12, 1)),
        ),
        ("action done 3", CompleteAction(reference=None, item_id=3)),
        ("action done #3", CompleteAction(reference=None, item_id=3)),
        ("action inc-5 done 3", CompleteAction(reference="INC-5", item_id=3)),
        # `done` not followed by a number is the start of an action item.
        ("action done the rollout review", AddAction(None, "done the rollout review")),
        ("action done ²", AddAction(reference=None, text="done ²")),
    ),
)
def test_action(text, expected):
    assert parse(text) == expected


# --- resolve and the bare commands -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        ("resolve", Resolve(reference=None, summary=None)),
        ("resolve INC-3", Resolve(reference="INC-3", summary=None)),
        ("resolve Rolled back to 4.2.1", Resolve(reference=None, summary="Rolled back to 4.2.1")),
        (
            "resolve inc-3 결제 복구 🔥 | <b>done</b>",
            Resolve(reference="INC-3", summary="결제 복구 🔥 | <b>done</b>"),
        ),
        ("close", Close(reference=None)),
        ("close INC-3", Close(reference="INC-3")),
        ("reopen", Reopen(reference=None)),
        ("reopen inc-3", Reopen(reference="INC-3")),
        ("show", Show(reference=None)),
        ("show INC-3", Show(reference="INC-3")),
        ("timeline", ShowTimeline(reference=None)),
        ("timeline Inc-3", ShowTimeline(reference="INC-3")),
        ("list", ListOpen()),
        ("LIST", ListOpen()),
    ),
)
def test_resolve_and_bare_commands(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    cases(
        ("", Help()),
        ("   ", Help()),
        ("help", Help(topic=None)),
        ("help note", Help(topic="note")),
        ("help NOTE", Help(topic="note")),
        ("Help declare", Help(topic="declare")),
    ),
)
def test_help(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_help_knows_every_command(name):
    assert parse(f"help {name}") == Help(topic=name)


def test_commands_are_frozen():
    command = parse("note Rolled back")
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.text = "changed"  # type: ignore[misc]


# --- mistakes ----------------------------------------------------------------------------


MISTAKES = [
    # (text, the command whose usage is shown, how the message starts)
    ("declare --foo x", "declare", "Unknown option `--foo` for declare; its options are `--at`"),
    ("note --bogus x", "note", "Unknown option `--bogus` for note; its options are `--at`, `--by`"),
    ("resolve --force", "resolve", "Unknown option `--force` for resolve; its options are `--at`"),
    ("show --verbose", "show", "Unknown option `--verbose` for show; it takes no options."),
    ("started --bogus", "started", "Unknown option `--bogus` for started; its options are `--at`."),
    ("action --owner bob", "action", "Unknown option `--owner` for action; its options are `--at`"),
    ("status --bogus identified", "status", "Unknown option `--bogus` for status; its options"),
    ("status", "status", "Say which status."),
    ("status INC-3", "status", "Say which status."),
    ("status --at 14:51", "status", "Say which status."),
    ("status --at", "status", "`--at` needs a time."),
    ("sev", "sev", "Say which severity."),
    ("role", "role", "Say which role and who takes it."),
    ("role commander", "role", "Say which role and who takes it."),
    ("note", "note", "A note needs some text."),
    ("note INC-3", "note", "A note needs some text."),
    ("note --at", "note", "`--at` needs a time."),
    ("note --at 14:51", "note", "A note needs some text."),
    ("note edit 4", "note", "Give the new text of the note."),
    ("started", "started", "Say when, with `--at TIME`."),
    ("started INC-3", "started", "Say when, with `--at TIME`."),
    ("started --at", "started", "`--at` needs a time."),
    ("detected", "detected", "Say when, with `--at TIME`."),
    ("action", "action", "An action item needs text."),
    ("action @bob due:2026-12-01", "action", "An action item needs text."),
    ("declare", "declare", "An incident needs a title."),
    ("declare sev2", "declare", "An incident needs a title."),
    ("declare    ", "declare", "An incident needs a title."),
    ("declare sev2 service:checkout", "declare", "An incident needs a title."),
    ("declare Outage service:", "declare", "`service:` needs a name"),
    ("status identified extra", "status", "Unexpected `extra`."),
    ("status identified --at", "status", "`--at` needs a time."),
    ("note forgot the time --at", "note", "`--at` needs a time."),
    ("sev 1 2", "sev", "Unexpected `2`."),
    ("role commander @me @bob", "role", "Unexpected `@bob`."),
    ("note delete 4 extra words", "note", "Unexpected `extra words`."),
    ("started --at 14:51 extra", "started", "Unexpected `extra`."),
    ("action done 3 4", "action", "Unexpected `4`."),
    ("close now", "close", "Unexpected `now`."),
    ("reopen INC-3 please", "reopen", "Unexpected `please`."),
    ("list all", "list", "Unexpected `all`."),
    ("help note extra", "help", "Unexpected `extra`."),
    ("role commander bob", "role", "`bob` is not a person; write `@name` or `@me`."),
]


@pytest.mark.parametrize(
    ("text", "command", "problem"), [pytest.param(*row, id=row[0]) for row in MISTAKES]
)
def test_mistakes_say_what_is_wrong_and_show_usage(text, command, problem):
    message = usage_error(text)
    assert message.startswith(problem)
    assert message.endswith(USAGE[command])


def test_unknown_command_lists_the_commands_and_points_to_help():
    message = usage_error("frobnicate now")
    assert "Unknown command `frobnicate`" in message
    for name in COMMAND_NAMES:
        assert name in message
    assert "`/incident help`" in message


def test_unknown_help_topic_names_it_and_lists_the_commands():
    message = usage_error("help nosuchcommand")
    assert "There is no command `nosuchcommand`" in message
    for name in COMMAND_NAMES:
        assert name in message


@pytest.mark.parametrize("due", ["2026-13-45", "tomorrow", ""])
def test_action_with_an_unreadable_due_date(due):
    message = usage_error(f"action fix it due:{due}")
    # The date reader names the bad value and the format, but adds no usage line.
    assert f"`{due}` is not a date" in message
    assert "YYYY-MM-DD" in message


def test_messages_use_the_configured_command_name():
    grammar = Grammar("/inc", ["SEV1"])
    assert usage_error("close now", grammar).endswith("Usage: `/inc close [INC-n]`")
    assert "`/inc help`" in usage_error("frobnicate", grammar)


# --- generated help ----------------------------------------------------------------------


def test_usage_is_the_command_name_then_the_spec_usage():
    assert GRAMMAR.usage("declare") == (
        "/incident declare [sevN] <title> [service:<name>] [--at TIME]"
    )
    assert GRAMMAR.usage("note") == (
        "/incident note [INC-n] [--at TIME] [--by @user|--by nobody] <text>"
    )
    assert Grammar("/inc").usage("list") == "/inc list"


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_every_spec_has_usage_and_summary(spec):
    assert GRAMMAR.usage(spec.name).split()[:2] == ["/incident", spec.name]
    assert spec.usage.split()[0] == spec.name
    assert spec.summary.strip()
    assert spec.summary.rstrip().endswith(".")


def test_spec_names_are_unique():
    assert len(set(COMMAND_NAMES)) == len(SPECS) == len(GRAMMAR.specs)


def test_a_chat_without_a_mention_syntax_of_its_own_reads_only_at_names():
    plain = Grammar("/incident", ["SEV1"])
    assert plain.person("@bob") == "bob"
    assert plain.person("@me") == ME
    assert plain.person("<@U123ABC|bob>") is None

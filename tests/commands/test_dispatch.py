"""Scenarios through CommandHandler, the one path every chat adapter uses.

Each test types commands as a person would, then looks at what the database
holds and at the calls the recording chat double saw.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select

from bot.app import Application
from bot.config import Settings
from bot.storage.models import (
    Incident,
    Status,
)
from tests.support.chat_double import RecordingChat
from tests.support.clock import START
from tests.support.db_reads import (
    Factory,
    action_items,
    assert_error,
    assignments,
    at,
    events,
    incident,
    snapshot,
)
from tests.support.people import Person

TITLE = "Checkout API returns 500s"
DECLARE = f"declare sev2 {TITLE} service:checkout"
CHANNEL_NAME = "inc-1-checkout-api-returns-500s"
ANNOUNCE = "incidents"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Alice may do all a commander may and Bob is a responder: these scenarios are about
    the path a command takes, not about who may (tests/incidents/test_permissions.py)."""
    return replace(settings, admins=("alice",), responders=("bob",))


@pytest.fixture
def in_channel(alice: Person, chat: RecordingChat) -> str:
    """Alice has declared INC-1 and now types in its channel; the chat log starts empty."""
    reply = alice.says(DECLARE)
    assert reply is not None and reply.open_channel is not None
    chat.calls.clear()
    chat.posts.clear()
    return reply.open_channel.id


# -- declare -----------------------------------------------------------------


def test_declare_stores_the_incident_with_one_declared_event(alice, session_factory, clock):
    alice.says(DECLARE)

    stored = incident(session_factory)
    assert stored.reference == "INC-1"
    assert stored.title == TITLE
    assert stored.severity == "SEV2"
    assert stored.service == "checkout"
    assert stored.status == Status.INVESTIGATING
    assert stored.declared_by == "alice"
    assert stored.declared_at == clock() == START
    assert stored.channel_id == "C0001"
    assert stored.channel_name == CHANNEL_NAME
    for milestone in ("acknowledged", "mitigated", "resolved", "closed"):
        assert getattr(stored, f"{milestone}_at") is None
    recorded = events(session_factory)
    assert [(e.kind, e.actor, e.occurred_at, e.recorded_at) for e in recorded] == [
        ("declared", "alice", START, START)
    ]
    assert recorded[0].data == {
        "severity": "SEV2",
        "service": "checkout",
        "title": TITLE,
        "started_at": None,
    }


def test_declare_sets_up_the_channel_announces_and_pins_the_summary(alice, chat):
    alice.says(DECLARE)

    summary_ref = "C0001:1"
    assert chat.calls == [
        ("create_channel", (CHANNEL_NAME,)),
        ("invite", ("C0001", ("alice",))),
        ("set_topic", ("C0001", f"SEV2 | investigating | IC: no commander yet | {TITLE}")),
        ("set_purpose", ("C0001", f"INC-1: {TITLE}")),
        ("post", ("C0001", f"INC-1 [SEV2, investigating] {TITLE}")),
        (
            "post",
            (ANNOUNCE, f"@alice declared INC-1 SEV2 (checkout): {TITLE}. Join #{CHANNEL_NAME}."),
        ),
        ("pin", ("C0001", summary_ref)),
    ]
    pinned_channel, pinned = chat.posts[0]
    assert pinned_channel == "C0001"
    assert dict(pinned.fields)["Service"] == "checkout"


def test_declare_reply_takes_the_person_to_the_new_channel(alice):
    reply = alice.says(DECLARE)

    assert reply.message.tone == "success"
    assert reply.message.text == f"Declared INC-1 (SEV2): {TITLE} in #{CHANNEL_NAME}."
    assert reply.open_channel is not None
    assert (reply.open_channel.id, reply.open_channel.name) == ("C0001", CHANNEL_NAME)
    assert alice.channel_id == "C0001"


def test_declare_without_severity_uses_the_default(alice, session_factory):
    alice.says("declare Search is slow")

    assert incident(session_factory).severity == "SEV3"
    assert incident(session_factory).service is None


def test_korean_title_gets_a_numbered_channel_and_is_stored_exactly(
    alice, bob, chat, session_factory
):
    title = "결제 서비스 장애 🔥 — 일부 사용자"
    alice.says(DECLARE)
    chat.calls.clear()

    reply = bob.says(f"declare sev1 {title}")

    assert reply.open_channel is not None and reply.open_channel.name == "inc-2"
    assert chat.calls[0] == ("create_channel", ("inc-2",))
    stored = incident(session_factory, 2)
    assert stored.title.encode("utf-8") == title.encode("utf-8")
    assert stored.channel_name == "inc-2"
    assert reply.message.text == f"Declared INC-2 (SEV1): {title} in #inc-2."
    assert chat.texts_in(ANNOUNCE)[-1] == f"@bob declared INC-2 SEV1: {title}. Join #inc-2."


# -- every change, from inside the incident channel --------------------------

# (commands that prepare the incident, the command, its event kind, its event text)
CHANGES = [
    ([], "status identified", "status_changed", "Status changed from investigating to identified"),
    ([], "sev 1", "severity_changed", "Severity changed from SEV2 to SEV1"),
    ([], "sev SEV4", "severity_changed", "Severity changed from SEV2 to SEV4"),
    ([], "role commander @bob", "role_assigned", "bob is now commander"),
    (
        ["role commander @bob"],
        "role commander @me",
        "role_assigned",
        "alice is now commander (was bob)",
    ),
    (["role scribe @bob"], "role scribe none", "role_unassigned", "bob is no longer scribe"),
    ([], "started --at 13:10", "milestone_set", "Marked as started"),
    ([], "detected --at 13:20", "milestone_set", "Marked as detected"),
    ([], "ack", "milestone_set", "Marked as acknowledged"),
    (
        [],
        "action Add a retry budget @bob due:2026-12-01 kind:detect",
        "action_added",
        "Action item #{action}: Add a retry budget (owner bob, detect, due 2026-12-01)",
    ),
    (
        ["action Add a retry budget"],
        "action done {action}",
        "action_done",
        "Action item #{action} done: Add a retry budget",
    ),
    ([], "resolve Rolled back the deploy", "status_changed", "Resolved: Rolled back the deploy"),
    (["resolve"], "close", "status_changed", "Status changed from resolved to closed"),
    (["resolve"], "reopen", "reopened", "Reopened (was resolved); status investigating"),
]


def _fill(template: str, session_factory: Factory) -> str:
    items = action_items(session_factory)
    return template.format(action=items[-1].id if items else "?")


@pytest.mark.parametrize(
    ("setup", "command", "kind", "text"), CHANGES, ids=[change[1] for change in CHANGES]
)
def test_each_change_in_the_channel_records_one_event_and_announces_it(
    alice, chat, session_factory, in_channel, clock, setup, command, kind, text
):
    for line in setup:
        assert alice.says(line) is None, line
    clock.advance(minutes=5)
    chat.calls.clear()
    before = events(session_factory)

    reply = alice.says(_fill(command, session_factory))

    assert reply is None  # the person sees the announcement in the channel
    after = events(session_factory)
    assert len(after) == len(before) + 1
    new, text = after[-1], _fill(text, session_factory)
    assert (new.kind, new.text, new.actor, new.recorded_at) == (kind, text, "alice", clock())
    stored = incident(session_factory)
    assert stored.updated_at == clock()
    commander = {a.role: a.holder for a in assignments(session_factory) if a.ended_at is None}
    lead = f"@{commander['commander']}" if "commander" in commander else "no commander yet"
    topic = f"{stored.severity} | {stored.status} | IC: {lead} | {TITLE}"
    summary = f"INC-1 [{stored.severity}, {stored.status}] {TITLE}"
    invited = [("invite", (in_channel, (new.data["holder"],)))] if kind == "role_assigned" else []
    assert chat.calls == [
        *invited,
        ("post", (in_channel, f"INC-1: {text} (by @alice)")),
        ("update", (in_channel, f"{in_channel}:1", summary)),
        ("set_topic", (in_channel, topic)),
    ]


def test_status_without_at_happens_now(alice, session_factory, in_channel, clock):
    clock.advance(minutes=7)

    alice.says("status identified")

    stored = incident(session_factory)
    assert stored.status == Status.IDENTIFIED
    event = events(session_factory)[-1]
    assert event.occurred_at == event.recorded_at == clock()
    assert event.data == {"from": "investigating", "to": "identified", "summary": None}


@pytest.mark.parametrize(
    "command",
    [
        "status monitoring --at 14:03",
        "status --at 14:03 monitoring",
        "status monitoring --at 2026-11-25 14:03",
        "status monitoring --at 2026-11-25T14:03:00Z",
    ],
)
def test_status_with_at_happened_then_and_was_logged_now(
    alice, session_factory, in_channel, clock, command
):
    clock.advance(minutes=10)

    assert alice.says(command) is None

    stored = incident(session_factory)
    assert stored.status == Status.MONITORING
    assert stored.mitigated_at == at(14, 3)
    assert stored.acknowledged_at == at(14, 3)
    event = events(session_factory)[-1]
    assert (event.occurred_at, event.recorded_at) == (at(14, 3), at(14, 10))


def test_roles_keep_their_history(alice, session_factory, in_channel, clock):
    alice.says("role commander @bob")
    clock.advance(minutes=5)
    alice.says("role commander @me")
    clock.advance(minutes=5)
    alice.says("role commander none")

    history = [
        (a.role, a.holder, a.assigned_by, a.started_at, a.ended_at, a.ended_by)
        for a in assignments(session_factory)
    ]
    assert history == [
        ("commander", "bob", "alice", at(14), at(14, 5), "alice"),
        ("commander", "alice", "alice", at(14, 5), at(14, 10), "alice"),
    ]
    with session_factory() as session:
        stored = session.scalar(select(Incident))
        assert stored.current_roles() == {}
    assert [e.kind for e in events(session_factory)] == [
        "declared",
        "role_assigned",
        "role_assigned",
        "role_unassigned",
    ]
    assert events(session_factory)[2].data == {
        "role": "commander",
        "holder": "alice",
        "previous": "bob",
    }


def test_the_commander_shows_in_the_channel_topic(alice, chat, in_channel):
    alice.says("role commander @bob")

    assert chat.calls[-1] == (
        "set_topic",
        (in_channel, f"SEV2 | investigating | IC: @bob | {TITLE}"),
    )


def test_a_note_is_recorded_and_confirmed_to_its_author(alice, chat, session_factory, in_channel):
    reply = alice.says("note Error rate is 40% on eu-west")

    assert [e.kind for e in events(session_factory)] == ["declared", "note"]
    note = events(session_factory)[-1]
    assert (note.kind, note.text, note.actor) == ("note", "Error rate is 40% on eu-west", "alice")
    assert (note.occurred_at, note.recorded_at) == (START, START)
    assert reply.message.tone == "success"
    assert reply.message.text == (
        f"Recorded on INC-1 at 2026-11-25 14:00: Error rate is 40% on eu-west (#{note.id})"
    )
    assert chat.calls == []  # notes are not broadcast


def test_editing_a_note_keeps_the_row_and_records_the_old_text(
    alice, session_factory, in_channel, clock
):
    alice.says("note Rolled back to v41")
    note = events(session_factory)[-1]
    clock.advance(minutes=3)

    reply = alice.says(f"note edit {note.id} Rolled back to v40")

    after = events(session_factory)
    assert len(after) == 3
    edited = next(e for e in after if e.id == note.id)
    assert (edited.kind, edited.text, edited.edited_at) == ("note", "Rolled back to v40", clock())
    assert edited.occurred_at == note.occurred_at
    change = after[-1]
    assert change.kind == "note_edited"
    assert change.data == {
        "note_id": note.id,
        "old_text": "Rolled back to v41",
        "new_text": "Rolled back to v40",
    }
    assert reply.message.tone == "success"
    timeline = alice.says("timeline").message.table
    assert ("Rolled back to v40 (edited)") in [row[4] for row in timeline.rows]


def test_deleting_a_note_hides_it_but_keeps_its_text(alice, session_factory, in_channel, clock):
    alice.says("note Wrong incident, sorry")
    note = events(session_factory)[-1]
    clock.advance(minutes=1)

    reply = alice.says(f"note delete #{note.id}")

    after = events(session_factory)
    assert len(after) == 3
    kept = next(e for e in after if e.id == note.id)
    assert (kept.text, kept.deleted_at) == ("Wrong incident, sorry", clock())
    assert after[-1].kind == "note_deleted"
    assert after[-1].data == {"note_id": note.id, "text": "Wrong incident, sorry"}
    assert reply.message.tone == "success"
    shown = [row[1] for row in alice.says("timeline").message.table.rows]
    assert f"#{note.id}" not in shown
    assert f"#{after[-1].id}" in shown


def test_milestones_are_stored_at_the_time_given(alice, session_factory, in_channel, clock):
    clock.advance(minutes=10)
    alice.says("started --at 13:05")
    alice.says("detected --at 2026-11-25 13:40")
    alice.says("ack")

    stored = incident(session_factory)
    assert (stored.started_at, stored.detected_at, stored.acknowledged_at) == (
        at(13, 5),
        at(13, 40),
        at(14, 10),
    )
    milestones = [e for e in events(session_factory) if e.kind == "milestone_set"]
    assert [(e.data["milestone"], e.occurred_at) for e in milestones] == [
        ("started", at(13, 5)),
        ("detected", at(13, 40)),
        ("acknowledged", at(14, 10)),
    ]


def test_action_items_are_added_and_completed(alice, session_factory, in_channel, clock):
    alice.says("action Alert on checkout error rate @bob due:2026-12-01 kind:detect")
    alice.says("action Write the runbook @me")
    clock.advance(hours=1)
    first = action_items(session_factory)[0]

    assert alice.says(f"action done {first.id}") is None

    items = action_items(session_factory)
    assert [(i.text, i.owner, i.due_date, i.kind, i.status, i.created_by) for i in items] == [
        ("Alert on checkout error rate", "bob", date(2026, 12, 1), "detect", "done", "alice"),
        ("Write the runbook", "alice", None, "prevent", "open", "alice"),
    ]
    assert items[0].completed_at == at(15)
    assert items[1].completed_at is None
    assert [e.kind for e in events(session_factory)] == [
        "declared",
        "action_added",
        "action_added",
        "action_done",
    ]


def test_resolve_with_a_summary(alice, session_factory, in_channel, clock):
    clock.advance(minutes=30)

    assert alice.says("resolve Rolled back the 14:02 deploy") is None

    stored = incident(session_factory)
    assert stored.status == Status.RESOLVED
    assert stored.summary == "Rolled back the 14:02 deploy"
    assert stored.resolved_at == stored.mitigated_at == at(14, 30)
    assert events(session_factory)[-1].data == {
        "from": "investigating",
        "to": "resolved",
        "summary": "Rolled back the 14:02 deploy",
    }


def test_close_and_reopen(alice, session_factory, in_channel, clock):
    alice.says("resolve")
    clock.advance(minutes=5)
    assert alice.says("reopen") is None

    reopened = incident(session_factory)
    assert (reopened.status, reopened.resolved_at) == (Status.INVESTIGATING, None)

    clock.advance(minutes=5)
    alice.says("resolve Fixed for real")
    clock.advance(minutes=5)
    assert alice.says("close") is None

    closed = incident(session_factory)
    assert closed.status == Status.CLOSED
    assert closed.resolved_at == at(14, 10)
    assert closed.closed_at == at(14, 15)
    assert [e.kind for e in events(session_factory)] == [
        "declared",
        "status_changed",
        "reopened",
        "status_changed",
        "status_changed",
    ]


# -- reading commands --------------------------------------------------------


def test_list_shows_open_incidents_only(alice, bob, session_factory):
    alice.says(DECLARE)
    bob.says("declare sev1 Login fails")
    bob.says("resolve")

    reply = alice.says("list")

    assert reply.message.text == "1 open incident(s)"
    assert reply.message.table.rows == (
        ("INC-1", "SEV2", "investigating", TITLE, f"#{CHANNEL_NAME}", "2026-11-25 14:00"),
    )


def test_list_with_nothing_open(alice):
    assert alice.says("list").message.text == "No open incidents."


def test_show_summarises_the_incident(alice, in_channel, clock):
    alice.says("role commander @bob")
    alice.says("action Add a canary @bob")
    clock.advance(minutes=20)
    alice.says("resolve Rolled back")

    message = alice.says("show").message

    assert message.text == f"INC-1 [SEV2, resolved] {TITLE}"
    fields = dict(message.fields)
    assert fields["Status"] == "resolved"
    assert fields["Commander"] == "@bob"
    assert fields["Scribe"] == "—"
    assert fields["Resolved"] == "2026-11-25 14:20"
    assert fields["Incident duration"] == "20m"
    assert "Time to resolve" not in fields  # counted from the start of impact, not recorded
    assert fields["Summary"] == "Rolled back"
    assert message.lines[0] == "Action items:"
    assert message.lines[1].endswith("Add a canary (prevent, @bob)")


def test_show_and_timeline_from_another_channel_name_the_incident(alice, bob, in_channel):
    assert bob.says("show INC-1").message.title == f"INC-1: {TITLE}"
    assert bob.says("timeline inc-1").message.text == "Timeline of INC-1 (1 events)"


def test_timeline_lists_events_with_ids(alice, session_factory, in_channel, clock):
    clock.advance(minutes=2)
    alice.says("status identified")

    message = alice.says("timeline").message

    ids = [f"#{e.id}" for e in events(session_factory)]
    assert message.table.rows == (
        ("2026-11-25 14:00", ids[0], "declared", "@alice", f"Declared SEV2: {TITLE}"),
        (
            "2026-11-25 14:02",
            ids[1],
            "status changed",
            "@alice",
            "Status changed from investigating to identified",
        ),
    )


def test_help_lists_every_command_and_explains_one(alice):
    everything = alice.says("help").message
    assert [row[0].split()[1] for row in everything.table.rows] == [
        "declare",
        "status",
        "sev",
        "role",
        "note",
        "started",
        "detected",
        "ack",
        "mitigated",
        "impact",
        "action",
        "resolve",
        "close",
        "reopen",
        "list",
        "show",
        "timeline",
        "postmortem",
        "runbook",
        "approve",
        "deny",
        "help",
    ]
    one = alice.says("help status").message
    assert one.text == "/incident status [INC-n] <state> [--at TIME]"


def test_reading_commands_change_nothing(alice, chat, session_factory, in_channel):
    before = snapshot(session_factory)
    for command in ("list", "show", "timeline", "help", "help note", "show INC-1", ""):
        reply = alice.says(command)
        assert reply is not None and reply.message.tone == "info", command
    assert snapshot(session_factory) == before
    assert chat.calls == []


# -- from another channel ----------------------------------------------------


def test_a_change_from_another_channel_is_confirmed_and_announced(
    alice, bob, chat, session_factory, in_channel
):
    reply = bob.says("status INC-1 identified")

    assert reply is not None
    assert reply.message.tone == "success"
    announcement = "INC-1: Status changed from investigating to identified (by @bob)"
    assert reply.message.text == announcement
    assert chat.calls[0] == ("post", (in_channel, announcement))
    assert incident(session_factory).status == Status.IDENTIFIED
    assert len(events(session_factory)) == 2


def test_a_note_from_another_channel_names_the_incident(alice, bob, session_factory, in_channel):
    reply = bob.says("note INC-1 Paged the database team")

    assert reply.message.tone == "success"
    assert reply.message.text.startswith("Recorded on INC-1 at 2026-11-25 14:00:")
    assert events(session_factory)[-1].actor == "bob"


@pytest.mark.parametrize("command", ["status identified", "note Paged db team", "resolve"])
def test_outside_an_incident_channel_the_error_shows_the_command_to_type(
    alice, bob, session_factory, in_channel, command
):
    before = snapshot(session_factory)

    reply = bob.says(command)

    verb, _, rest = command.partition(" ")
    expected = f"`{f'/incident {verb} INC-1 {rest}'.rstrip()}`"
    assert_error(reply, "not an incident channel", expected)
    assert snapshot(session_factory) == before
    # and typing what it says works
    assert bob.says(expected.strip("`").removeprefix("/incident ")).message.tone == "success"


def test_with_several_open_incidents_the_error_lists_them(alice, bob, session_factory):
    alice.says(DECLARE)
    bob.says("declare sev1 Login fails")
    bob.channel_id = "C-GENERAL"
    before = snapshot(session_factory)

    reply = bob.says("status identified")

    assert_error(
        reply,
        "`/incident status INC-<n> identified`",
        f"Open: INC-1 ({TITLE}), INC-2 (Login fails).",
    )
    assert snapshot(session_factory) == before


def test_with_no_open_incident_the_error_says_so(alice, bob):
    alice.says(DECLARE)
    alice.says("resolve")

    reply = bob.says("status identified")

    assert_error(reply, "`/incident status INC-<n> identified`", "There is no open incident")


# -- bad input -----------------------------------------------------------------

# (command, typed in the incident channel?, a fragment of the error)
BAD_INPUT = [
    ("declare", False, "An incident needs a title."),
    ("declare    ", False, "An incident needs a title."),
    ("declare sev2   \t ", False, "An incident needs a title."),
    ("declare " + "x" * 151, False, "the limit is 150"),
    ("declare sev7 Everything is down", False, "Unknown severity `sev7`. Use one of SEV1"),
    ("declare --urgent Everything is down", False, "Unknown option `--urgent`"),
    ("declare sev1 Down service:", False, "`service:` needs a name"),
    ("sev 9", True, "Unknown severity `9`. Use one of SEV1, SEV2, SEV3, SEV4."),
    ("sev critical", True, "Unknown severity `critical`"),
    ("sev 2", True, "INC-1 is already SEV2."),
    ("status fixed", True, "Unknown status `fixed`. Use one of investigating, identified"),
    ("status investigating", True, "INC-1 is already investigating."),
    ("status --now identified", True, "Unknown option `--now` for status; its options are `--at`."),
    ("status identified --at 25:99", True, "`25:99` is not a time I can read."),
    ("status identified --at 14:30", True, "is in the future"),
    ("status", True, "Say which status."),
    ("role boss @bob", True, "Unknown role `boss`. Use one of commander, communications"),
    ("role commander bob", True, "`bob` is not a person"),
    ("role commander none", True, "Nobody is commander of INC-1."),
    ("frobnicate INC-1", True, "Unknown command `frobnicate`. Commands: declare, status"),
    ("help frobnicate", True, "There is no command `frobnicate`."),
    ("status INC-999 identified", True, "There is no incident INC-999."),
    ("show INC-999", False, "There is no incident INC-999."),
    ("note INC-999 hello", False, "There is no incident INC-999."),
    ("close", True, "resolve it before closing (`resolve <summary>`)"),
    ("action Fix retries due:2026-13-45", True, "`2026-13-45` is not a date I can read."),
    ("action Fix retries due:next-week", True, "`next-week` is not a date I can read."),
    ("action Fix retries kind:later", True, "Unknown action kind `later`."),
    ("action --owner bob Fix retries", True, "Unknown option `--owner` for action;"),
    ("action done 999", True, "INC-1 has no action item #999."),
    ("note --bogus hello", True, "Unknown option `--bogus` for note;"),
    ("note", True, "A note needs some text."),
    ("note Paged db --at 15:00", True, "is in the future"),
    ("note edit 999 new text", True, "INC-1 has no note #999."),
    ("note edit 1 new text", True, "#1 is a declared event; only notes"),
    ("note delete 999", True, "INC-1 has no note #999."),
    ("note edit 3000000000 too big for an id", True, "INC-1 has no note #3000000000."),
    ("action done 99999999999999999999", True, "INC-1 has no action item #99999999999999999999."),
    ("show INC-3000000000", False, "There is no incident INC-3000000000."),
    ("status INC-99999999999999999999 identified", False, "There is no incident INC-9999"),
    ("started", True, "Say when, with `--at TIME`."),
    ("started --at 2026-11-26 09:00", True, "is in the future"),
    ("resolve --force", True, "Unknown option `--force` for resolve;"),
    ("close --now", True, "Unknown option `--now` for close; it takes no options."),
    ("reopen", True, "only a resolved incident can be reopened"),
    ("list everything", True, "Unexpected `everything`."),
]


@pytest.mark.parametrize(
    ("command", "in_incident_channel", "fragment"), BAD_INPUT, ids=[b[0][:40] for b in BAD_INPUT]
)
def test_bad_input_gets_one_error_line_and_changes_nothing(
    alice, bob, chat, session_factory, in_channel, clock, command, in_incident_channel, fragment
):
    clock.advance(minutes=10)
    person = alice if in_incident_channel else bob
    before = snapshot(session_factory)

    reply = person.says(command)

    assert_error(reply, fragment)
    assert snapshot(session_factory) == before
    assert chat.calls == []


def test_the_snapshot_sees_changes(alice, session_factory, in_channel):
    """Guards the bad-input tests: a command that changes anything changes the snapshot."""
    before = snapshot(session_factory)
    alice.says("note x")
    assert snapshot(session_factory) != before


def test_a_title_at_the_limit_is_accepted(bob, session_factory):
    bob.says("declare " + "x" * 150)
    assert len(incident(session_factory).title) == 150


def test_the_title_limit_comes_from_the_settings(settings, session_factory, chat, clock):
    short = Settings(database_url=settings.database_url, title_max_length=10)
    carol = Person(
        Application(short, session_factory=session_factory, chat=chat, clock=clock).handler,
        "carol",
        "C-GENERAL",
    )
    before = snapshot(session_factory)

    assert_error(carol.says("declare Eleven char"), "11 characters long; the limit is 10")
    assert snapshot(session_factory) == before
    assert chat.calls == []
    assert carol.says("declare Ten chars!").message.tone == "success"


def test_a_refused_declaration_does_not_use_up_a_number(bob, session_factory):
    bob.says("declare sev9 Nope")
    bob.says("declare ")
    bob.says("declare Real one")
    assert incident(session_factory).title == "Real one"


# -- chat failures -------------------------------------------------------------


def test_declare_is_kept_when_the_chat_is_down(alice, chat, session_factory, clock):
    chat.down = True

    reply = alice.says(DECLARE)

    stored = incident(session_factory)
    assert (stored.title, stored.severity, stored.declared_at) == (TITLE, "SEV2", clock())
    assert stored.channel_id is None
    assert [e.kind for e in events(session_factory)] == ["declared"]
    assert reply.message.tone == "warning"
    assert reply.message.text == (
        f"Declared INC-1 (SEV2): {TITLE}. Its channel is being opened; you will be invited."
    )
    assert reply.open_channel is None
    warning = reply.message.lines[-1]
    assert warning.startswith("Recorded. The chat is not answering right now")

    chat.down = False
    assert alice.says("status INC-1 identified").message.tone == "success"
    assert incident(session_factory).status == Status.IDENTIFIED


def test_a_status_change_is_kept_when_the_chat_is_down(alice, chat, session_factory, in_channel):
    chat.down = True

    reply = alice.says("status identified")

    assert incident(session_factory).status == Status.IDENTIFIED
    assert [e.kind for e in events(session_factory)] == ["declared", "status_changed"]
    assert reply is not None  # the channel did not show it, so the person is told
    assert reply.message.tone == "warning"
    assert (
        reply.message.text == "INC-1: Status changed from investigating to identified (by @alice)"
    )
    assert "The chat is not answering right now" in reply.message.lines[-1]


def test_a_resolution_is_kept_when_the_chat_is_down(alice, chat, session_factory, in_channel):
    chat.down = True

    reply = alice.says("resolve Restarted the pool")

    stored = incident(session_factory)
    assert (stored.status, stored.summary) == (Status.RESOLVED, "Restarted the pool")
    assert reply.message.tone == "warning"


# -- text beyond ASCII -----------------------------------------------------------

UNUSUAL_NOTES = [
    "데이터베이스 연결 풀이 고갈됨 — 재시작 중",
    "🔥🚒 rollback started \U0001f469\U0001f3fd\u200d\U0001f4bb by on-call",
    "Cafe\u0301 (decomposed) and \uff26\uff35\uff2c\uff2c width",
    "tab\tinside and  two  spaces",
]


@pytest.mark.parametrize("text", UNUSUAL_NOTES)
def test_non_ascii_notes_are_stored_and_shown_exactly(
    alice, bob, session_factory, in_channel, text
):
    reply = alice.says(f"note {text}")

    note = events(session_factory)[-1]
    assert note.text.encode("utf-8") == text.encode("utf-8")
    assert reply.message.text.endswith(f": {text} (#{note.id})")
    shown = [row[4] for row in bob.says("timeline INC-1").message.table.rows]
    assert shown[-1].encode("utf-8") == text.encode("utf-8")


def test_a_korean_note_can_be_edited_exactly(alice, session_factory, in_channel):
    alice.says("note 원인 조사 중")
    note = events(session_factory)[-1]

    alice.says(f"note edit {note.id} 원인: 설정 오류 ✅")

    edited = next(e for e in events(session_factory) if e.id == note.id)
    assert edited.text == "원인: 설정 오류 ✅"
    assert events(session_factory)[-1].data["old_text"] == "원인 조사 중"


def test_the_announce_channel_comes_from_the_settings(settings, session_factory, chat, clock):
    custom = Settings(database_url=settings.database_url, announce_channel="war-room")
    handler = Application(custom, session_factory=session_factory, chat=chat, clock=clock).handler

    Person(handler, "dana", "C-GENERAL").says("declare Queue backlog")

    assert [args[0] for method, args in chat.calls if method == "post"] == ["C0001", "war-room"]
    assert chat.texts_in("war-room") == [
        "@dana declared INC-1 SEV3: Queue backlog. Join #inc-1-queue-backlog."
    ]

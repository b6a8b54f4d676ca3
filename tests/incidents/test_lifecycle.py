"""The incident lifecycle and timeline rules, exercised through CommandHandler."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import Application
from bot.commands.capture import ChatMessage
from bot.config import Settings
from bot.storage.models import (
    ActionItem,
    Status,
)
from tests.support.chat_double import RecordingChat
from tests.support.clock import START, FakeClock
from tests.support.db_reads import Factory, assert_error, at, events, incident, snapshot
from tests.support.people import Person

# How to bring a freshly declared incident to each status.
REACH = {
    "investigating": [],
    "identified": ["status identified"],
    "monitoring": ["status monitoring"],
    "resolved": ["resolve Restarted the workers"],
    "closed": ["resolve Restarted the workers", "close"],
}
# Written out here rather than read from the code, so the tests check the rules.
LEGAL = {
    "investigating": ["identified", "monitoring", "resolved"],
    "identified": ["investigating", "monitoring", "resolved"],
    "monitoring": ["investigating", "identified", "resolved"],
    "resolved": ["closed", "investigating"],
    "closed": [],
}
STATUSES = list(LEGAL)


def bring_to(person: Person, status: str) -> None:
    for command in REACH[status]:
        assert person.says(command) is None, command


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Alice may do all a commander may: these rules are about the lifecycle, not about who."""
    return replace(settings, admins=("alice",))


@pytest.fixture
def declared(alice: Person, chat: RecordingChat) -> Person:
    """Alice has declared INC-1 (SEV2) at 14:00 and types in its channel."""
    alice.says("declare sev2 Payments time out service:payments")
    assert alice.channel_id == "C0001"
    return alice


# -- status transitions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "to"),
    [(start, to) for start in STATUSES for to in LEGAL[start]],
)
def test_legal_transitions_are_taken(declared, session_factory, clock, start, to):
    bring_to(declared, start)
    clock.advance(minutes=5)
    count = len(events(session_factory))

    assert declared.says(f"status {to}") is None

    assert incident(session_factory).status == to
    assert len(events(session_factory)) == count + 1


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (start, to)
        for start in ("resolved",)
        for to in STATUSES
        if to not in LEGAL[start] and to != start
    ],
)
def test_illegal_transitions_are_refused_listing_the_legal_ones(
    declared, session_factory, chat, start, to
):
    bring_to(declared, start)
    before, calls = snapshot(session_factory), len(chat.calls)

    reply = declared.says(f"status {to}")

    assert_error(
        reply,
        f"INC-1 cannot go from {start} to {to}.",
        f"From {start}: {', '.join(LEGAL[start])}.",
    )
    assert snapshot(session_factory) == before
    assert len(chat.calls) == calls


@pytest.mark.parametrize("status", ["investigating", "identified", "monitoring", "resolved"])
def test_moving_to_the_same_status_is_refused(declared, session_factory, status):
    bring_to(declared, status)
    before = snapshot(session_factory)

    assert_error(declared.says(f"status {status}"), f"INC-1 is already {status}.")
    assert snapshot(session_factory) == before


@pytest.mark.parametrize("status", ["investigating", "identified", "monitoring"])
@pytest.mark.parametrize("command", ["close", "status closed", "close INC-1"])
def test_closing_before_resolving_is_refused_with_a_hint(
    declared, session_factory, status, command
):
    bring_to(declared, status)
    before = snapshot(session_factory)

    reply = declared.says(command)

    assert_error(reply, f"INC-1 is {status}; resolve it before closing (`resolve <summary>`).")
    assert snapshot(session_factory) == before


def test_resolve_then_close(declared, session_factory, clock):
    clock.advance(minutes=40)
    declared.says("resolve Raised the pool size")
    clock.advance(days=2)

    assert declared.says("close") is None

    stored = incident(session_factory)
    assert stored.status == Status.CLOSED
    assert (stored.resolved_at, stored.closed_at) == (at(14, 40), at(14, 40, day=27))
    assert stored.summary == "Raised the pool size"


def test_resolving_without_a_summary_keeps_it_empty(declared, session_factory):
    declared.says("status resolved")

    stored = incident(session_factory)
    assert (stored.status, stored.summary) == (Status.RESOLVED, "")
    assert events(session_factory)[-1].text == "Status changed from investigating to resolved"


# -- reopening -----------------------------------------------------------------------


def test_reopen_takes_a_resolved_incident_back_to_investigating(declared, session_factory, clock):
    clock.advance(minutes=10)
    declared.says("resolve Restarted the workers")
    clock.advance(minutes=10)

    assert declared.says("reopen") is None

    stored = incident(session_factory)
    assert stored.status == Status.INVESTIGATING
    assert stored.resolved_at is None
    reopened = events(session_factory)[-1]
    assert (reopened.kind, reopened.occurred_at) == ("reopened", at(14, 20))
    assert reopened.data["from"] == "resolved"

    clock.advance(minutes=10)
    declared.says("resolve Replaced the bad host")
    assert incident(session_factory).resolved_at == at(14, 30)


def test_status_investigating_on_a_resolved_incident_is_a_reopen(declared, session_factory):
    declared.says("resolve")

    declared.says("status investigating")

    assert incident(session_factory).resolved_at is None
    assert events(session_factory)[-1].kind == "reopened"


@pytest.mark.parametrize("status", ["investigating", "identified", "monitoring"])
def test_reopen_is_refused_unless_resolved(declared, session_factory, status):
    bring_to(declared, status)
    before = snapshot(session_factory)

    reply = declared.says("reopen")

    assert_error(reply, f"INC-1 is {status}; only a resolved incident can be reopened.")
    assert snapshot(session_factory) == before


# -- a closed incident is final ----------------------------------------------------------

CLOSED_REFUSALS = [
    "status investigating",
    "status identified",
    "status resolved",
    "resolve Again",
    "reopen",
    "sev 1",
    "sev 2",
    "role commander @carol",
    "role scribe @bob",
    "role scribe none",
    "note A late thought",
    "note --at 13:00 A late thought",
    "note edit {note} Rewritten history",
    "note delete {note}",
    "started --at 13:00",
    "detected --at 13:00",
    "ack --at 13:00",
    "action Another follow-up",
]


@pytest.mark.parametrize("command", CLOSED_REFUSALS)
def test_nothing_changes_a_closed_incident(declared, session_factory, chat, clock, command):
    declared.says("role scribe @bob")
    declared.says("note Found the bad deploy")
    note = events(session_factory)[-1].id
    bring_to(declared, "closed")
    clock.advance(days=1)
    before, calls = snapshot(session_factory), len(chat.calls)

    reply = declared.says(command.format(note=note))

    assert_error(reply, "INC-1 is closed; nothing can change it.")
    assert snapshot(session_factory) == before
    assert len(chat.calls) == calls


@pytest.mark.parametrize("command", ["close", "status closed"])
def test_closing_twice_is_refused(declared, session_factory, command):
    bring_to(declared, "closed")
    before = snapshot(session_factory)

    assert_error(declared.says(command), "INC-1 is closed; nothing can change it.")
    assert snapshot(session_factory) == before


def test_a_marked_chat_message_does_not_change_a_closed_incident(
    declared, application, session_factory, clock
):
    capture = application.capture

    def message(text: str) -> ChatMessage:
        return ChatMessage(
            channel_id=declared.channel_id, author="carol", text=text, posted_at=clock()
        )

    kept = capture.add(message("db is back"), actor="bob")
    assert kept.message.tone == "success"
    bring_to(declared, "closed")
    before = snapshot(session_factory)

    reply = capture.add(message("one more thing"), actor="bob")

    assert_error(reply, "INC-1 is closed; nothing can change it.")
    assert snapshot(session_factory) == before


def test_action_items_can_still_be_completed_after_closing(declared, session_factory, clock):
    declared.says("action Add a pool-size alert @bob due:2026-12-15")
    bring_to(declared, "closed")
    clock.advance(days=14)
    with session_factory() as session:
        item = session.scalars(select(ActionItem)).one()

    assert declared.says(f"action done {item.id}") is None

    with session_factory() as session:
        done = session.get(ActionItem, item.id)
    assert done.status == "done"
    assert done.completed_at == datetime(2026, 12, 9, 14, 0, tzinfo=UTC)
    assert incident(session_factory).status == Status.CLOSED


# -- milestones that follow from changes -------------------------------------------------


def test_monitoring_marks_the_incident_mitigated(declared, session_factory, clock):
    clock.advance(minutes=10)
    declared.says("status identified")
    assert incident(session_factory).mitigated_at is None

    clock.advance(minutes=10)
    declared.says("status monitoring --at 14:15")
    assert incident(session_factory).mitigated_at == at(14, 15)

    clock.advance(minutes=10)
    declared.says("resolve")
    stored = incident(session_factory)
    assert stored.mitigated_at == at(14, 15)  # the first mitigation counts
    assert stored.resolved_at == at(14, 30)


def test_resolving_directly_marks_it_mitigated_then(declared, session_factory, clock):
    clock.advance(minutes=25)

    declared.says("resolve")

    stored = incident(session_factory)
    assert stored.mitigated_at == stored.resolved_at == at(14, 25)


@pytest.mark.parametrize(
    "command", ["note Looking", "sev 1", "action Follow up", "started --at 13:00"]
)
def test_other_changes_do_not_acknowledge(declared, session_factory, command):
    declared.says(command)

    assert incident(session_factory).acknowledged_at is None


def test_the_first_role_acknowledges(declared, session_factory, clock):
    assert incident(session_factory).acknowledged_at is None
    clock.advance(minutes=4)
    declared.says("role commander @bob")
    clock.advance(minutes=4)
    declared.says("status identified")
    declared.says("role scribe @me")

    assert incident(session_factory).acknowledged_at == at(14, 4)


def test_the_first_status_change_acknowledges(declared, session_factory, clock):
    clock.advance(minutes=9)
    declared.says("status identified --at 14:06")
    clock.advance(minutes=4)
    declared.says("role commander @bob")

    assert incident(session_factory).acknowledged_at == at(14, 6)


def test_ack_records_the_time_given_and_keeps_the_previous_one(declared, session_factory, clock):
    clock.advance(minutes=10)
    declared.says("role commander @bob")
    declared.says("ack --at 14:02")

    assert incident(session_factory).acknowledged_at == at(14, 2)
    assert events(session_factory)[-1].data["previous"] == at(14, 10).isoformat()


@pytest.mark.parametrize(
    ("command", "refusal"),
    [
        # Resolving also marked it mitigated at 14:10, which the start meets first.
        ("started --at 14:15", "INC-1 was mitigated at 2026-11-25 14:10 UTC; its impact cannot"),
        ("ack --at 14:15", "INC-1 was resolved at 2026-11-25 14:10 UTC; it cannot be acknowledged"),
        ("mitigated --at 14:15", "INC-1 was resolved at 2026-11-25 14:10 UTC; it cannot be"),
    ],
)
def test_no_milestone_after_the_resolution(declared, session_factory, clock, command, refusal):
    clock.advance(minutes=20)
    declared.says("status resolved --at 14:10")
    before = snapshot(session_factory)

    assert_error(declared.says(command), refusal)
    assert snapshot(session_factory) == before


def test_severity_of_a_resolved_incident_needs_a_reopen(declared, session_factory):
    declared.says("resolve")
    before = snapshot(session_factory)

    assert_error(declared.says("sev 1"), "INC-1 is resolved; reopen it to change its severity.")
    assert snapshot(session_factory) == before


# -- timeline order and typed times --------------------------------------------------------


def test_a_backdated_note_sorts_by_when_it_happened(declared, session_factory, clock):
    clock.advance(minutes=5)
    declared.says("status identified")
    clock.advance(minutes=5)
    declared.says("note --at 13:30 Error rate started climbing")
    declared.says("note Deploy 4711 went out the day before --at 2026-11-24 22:15")
    declared.says("note --at 14:05 Same minute as the status change")

    timeline = declared.says("timeline").message.table.rows

    assert [row[4] for row in timeline] == [
        "Deploy 4711 went out the day before",
        "Error rate started climbing",
        "Declared SEV2: Payments time out",
        "Status changed from investigating to identified",
        "Same minute as the status change",
    ]
    assert [row[0] for row in timeline] == [
        "2026-11-24 22:15 (logged 2026-11-25 14:10)",
        "2026-11-25 13:30 (logged 2026-11-25 14:10)",
        "2026-11-25 14:00",
        "2026-11-25 14:05",
        "2026-11-25 14:05 (logged 2026-11-25 14:10)",
    ]
    notes = [e for e in events(session_factory) if e.kind == "note"]
    assert [(n.occurred_at, n.recorded_at) for n in notes] == [
        (at(13, 30), at(14, 10)),
        (at(22, 15, day=24), at(14, 10)),
        (at(14, 5), at(14, 10)),
    ]
    assert incident(session_factory).declared_at == START  # the note does not move it


@pytest.mark.parametrize(
    "command",
    [
        "note --at 14:01 Too early to tell",
        "note Tomorrow's problem --at 2026-11-26 09:00",
        "status identified --at 14:30",
        "started --at 2026-11-25T14:00:01Z",
        "ack --at 23:59",
    ],
)
def test_a_time_in_the_future_is_refused(declared, session_factory, command):
    before = snapshot(session_factory)

    assert_error(declared.says(command), "is in the future.")
    assert snapshot(session_factory) == before


def test_a_future_bare_time_suggests_giving_the_date(declared):
    reply = declared.says("note --at 23:30 Late last night")

    assert_error(
        reply,
        "`23:30` (2026-11-25 23:30) is in the future.",
        "For an earlier day, give the date: `--at YYYY-MM-DD HH:MM`.",
    )


@pytest.fixture
def berlin(settings: Settings, session_factory: Factory, clock: FakeClock) -> Person:
    """Someone using a bot configured for Europe/Berlin (UTC+1 in November)."""
    local = Settings(database_url=settings.database_url, timezone=ZoneInfo("Europe/Berlin"))
    handler = Application(
        local, session_factory=session_factory, chat=RecordingChat(), clock=clock
    ).handler
    person = Person(handler, "erika", "C-GENERAL")
    person.says("declare sev2 Payments time out")
    return person


def test_bare_times_are_read_in_the_configured_time_zone(berlin, session_factory):
    # The clock says 14:00 UTC, which is 15:00 in Berlin.
    reply = berlin.says("note --at 14:30 Half an hour ago, Berlin time")

    note = events(session_factory)[-1]
    assert note.occurred_at == at(13, 30)
    assert note.recorded_at == START
    assert reply.message.text.startswith("Recorded on INC-1 at 2026-11-25 14:30:")


def test_dates_without_a_zone_are_local_and_zones_are_respected(berlin, session_factory):
    berlin.says("note --at 2026-11-25 09:00 Local morning")
    berlin.says("note --at 2026-11-25T09:00Z Morning in UTC")

    first, second = events(session_factory)[-2:]
    assert (first.occurred_at, second.occurred_at) == (at(8), at(9))


def test_a_bare_time_past_now_in_the_configured_zone_is_future(berlin, session_factory):
    before = snapshot(session_factory)

    # 14:30 UTC has passed... but 15:30 Berlin has not.
    assert_error(berlin.says("note --at 15:30 Not yet"), "`15:30` (2026-11-25 15:30)")
    assert snapshot(session_factory) == before


def test_times_are_shown_in_the_configured_time_zone(berlin):
    message = berlin.says("timeline").message

    assert message.table.rows[0][0] == "2026-11-25 15:00"
    assert message.title.endswith("(times in Europe/Berlin)")


def test_a_bare_time_after_local_midnight_is_on_the_local_declaration_day(
    berlin, session_factory, clock
):
    clock.advance(hours=9, minutes=30)  # 23:30 UTC on the 25th, 00:30 on the 26th in Berlin

    reply = berlin.says("note --at 00:10 Just after local midnight")

    # Declared on the 25th in Berlin: a bare time is that day, and the reply says so.
    assert events(session_factory)[-1].occurred_at == at(23, 10, day=24)
    assert reply.message.lines == (
        "`00:10` was taken as 2026-11-25, the day INC-1 was declared; for another day, "
        "give the date (`--at YYYY-MM-DD HH:MM`).",
    )

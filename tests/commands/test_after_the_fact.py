"""Recording an incident after the fact, through the command path every chat uses.

The clock says 2026-11-25 14:00 UTC; the incident being recorded happened the day
before, as a scribe replaying it would type it.
"""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import Application
from bot.commands.capture import ChatMessage
from bot.config import Settings
from bot.storage.models import ActionItem, EventKind, Postmortem, RoleAssignment
from tests.support.chat_double import RecordingChat
from tests.support.clock import START, FakeClock
from tests.support.db_reads import Factory, assert_error, at, events, incident, snapshot
from tests.support.people import Person

DECLARED_AT = "2026-11-24T15:01Z"
DAY_NOTE = (
    "taken as 2026-11-24, the day INC-1 was declared; for another day, give the date "
    "(`--at YYYY-MM-DD HH:MM`)."
)


def day_before(hour: int, minute: int = 0):
    return at(hour, minute, day=24)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Alice may do all a commander may and Bob is a responder: this is about times, not who."""
    return replace(settings, admins=("alice",), responders=("bob",))


@pytest.fixture
def replayed(alice: Person, bob: Person) -> Person:
    """Alice has declared yesterday's INC-1 (at 15:01) and types in its channel; Bob too."""
    reply = alice.says(f"declare sev2 Search is down service:search --at {DECLARED_AT}")
    assert reply.message.tone == "success", reply.message.text
    bob.channel_id = alice.channel_id
    return alice


def ok(person: Person, text: str):
    """Type a command that must work; its reply (None when the channel shows the change)."""
    reply = person.says(text)
    assert reply is None or reply.message.tone != "error", reply.message.text
    return reply


# -- declare ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"declare --at {DECLARED_AT} sev2 Search is down service:search",
        f"declare sev2 Search is down service:search --at {DECLARED_AT}",
        f"declare sev2 Search --at {DECLARED_AT} is down service:search",
        "declare sev2 Search is down service:search --at 2026-11-24 15:01",
    ],
)
def test_declare_at_a_time_past_wherever_the_option_stands(alice, session_factory, text):
    reply = alice.says(text)

    stored = incident(session_factory)
    assert (stored.title, stored.service, stored.severity) == ("Search is down", "search", "SEV2")
    assert stored.channel_name == "inc-1-search-is-down"
    assert reply.message.text == "Declared INC-1 (SEV2): Search is down in #inc-1-search-is-down."
    assert stored.declared_at == day_before(15, 1)
    (declared,) = events(session_factory)
    assert (declared.kind, declared.occurred_at, declared.recorded_at) == (
        EventKind.DECLARED,
        day_before(15, 1),
        START,
    )
    assert stored.updated_at == START


def test_declare_without_at_is_declared_now(alice, session_factory):
    alice.says("declare Search is down")

    assert incident(session_factory).declared_at == START


# -- each milestone, dated back -----------------------------------------------------------

# (the command, the incident's field it sets, the time it should hold)
MILESTONES = [
    ("started --at 14:54", "started_at", day_before(14, 54)),
    ("detected --at 14:55", "detected_at", day_before(14, 55)),
    ("detected INC-1 --at 2026-11-24 14:55", "detected_at", day_before(14, 55)),
    ("ack --at 14:55", "acknowledged_at", day_before(14, 55)),
    ("ack --at 14:55 INC-1", "acknowledged_at", day_before(14, 55)),
    ("mitigated --at 15:36", "mitigated_at", day_before(15, 36)),
    ("mitigated INC-1 --at 2026-11-24T15:36Z", "mitigated_at", day_before(15, 36)),
    ("resolve --at 16:30", "resolved_at", day_before(16, 30)),
    ("resolve --at 16:30 Rebalanced the traffic", "resolved_at", day_before(16, 30)),
    ("resolve Rebalanced the traffic --at 16:30", "resolved_at", day_before(16, 30)),
    ("status monitoring --at 15:36", "mitigated_at", day_before(15, 36)),
    ("status --at 15:36 monitoring", "mitigated_at", day_before(15, 36)),
    ("impact --from 14:54", "started_at", day_before(14, 54)),
    ("impact --until 16:00", "impact_ended_at", day_before(16, 0)),
]


@pytest.mark.parametrize(
    ("command", "field", "expected"), MILESTONES, ids=[row[0] for row in MILESTONES]
)
def test_each_milestone_can_be_dated_back(replayed, session_factory, command, field, expected):
    ok(replayed, command)

    assert getattr(incident(session_factory), field) == expected
    last = events(session_factory)[-1]
    assert (last.occurred_at, last.recorded_at, last.actor, last.done_by) == (
        expected,
        START,
        "alice",
        "alice",
    )


def test_a_resolution_dated_back_keeps_its_summary_and_marks_it_mitigated(
    replayed, session_factory
):
    ok(replayed, "resolve done --at 2026-11-24T16:30Z")

    stored = incident(session_factory)
    assert stored.summary == "done"
    assert stored.resolved_at == stored.mitigated_at == stored.acknowledged_at == day_before(16, 30)
    assert events(session_factory)[-1].text == "Resolved: done"


def test_the_impact_window_and_share(replayed, session_factory):
    reply = ok(replayed, "impact --from 14:54 --until 16:00 --fraction 12%")

    stored = incident(session_factory)
    assert (stored.started_at, stored.impact_ended_at) == (day_before(14, 54), day_before(16))
    assert stored.impact_fraction == pytest.approx(0.12)
    event = events(session_factory)[-1]
    assert event.occurred_at == day_before(14, 54)
    assert event.text == (
        "Impact: from 2026-11-24 14:54 UTC, until 2026-11-24 16:00 UTC, 12% affected"
    )
    assert reply.message.text == f"`14:54` and `16:00` were {DAY_NOTE}"


@pytest.mark.parametrize(
    ("typed", "fraction"), [("12%", 0.12), ("0.12", 0.12), ("100%", 1.0), ("0.5%", 0.005)]
)
def test_the_share_affected_is_a_percentage_or_a_fraction(
    replayed, session_factory, typed, fraction
):
    ok(replayed, f"impact --fraction {typed}")

    assert incident(session_factory).impact_fraction == pytest.approx(fraction)


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("0%", "must be above 0% and at most 100%, not `0%`."),
        ("150%", "must be above 0% and at most 100%, not `150%`."),
        ("0", "must be above 0% and at most 100%, not `0`."),
        ("5", "`5` is ambiguous; give a percentage like `12%` or a fraction like `0.12`"),
        ("1", "`1` is ambiguous"),
        ("lots", "`lots` is not a share I can read"),
        ("-5%", "`-5%` is not a share I can read"),
    ],
)
def test_a_share_out_of_range_or_unreadable_is_refused(replayed, session_factory, typed, problem):
    before = snapshot(session_factory)

    assert_error(replayed.says(f"impact --fraction {typed}"), problem)
    assert snapshot(session_factory) == before


# -- notes: who did it, and who recorded it ------------------------------------------------


def test_a_note_keeps_who_did_it_apart_from_who_recorded_it(replayed, bob, session_factory):
    ok(bob, "note --at 15:05 --by nobody traffic increases 88x")
    ok(bob, "note Alice pages the search team --by @alice --at 15:06")
    ok(bob, "note --at 15:07 looks at the dashboards")

    notes = [e for e in events(session_factory) if e.kind == EventKind.NOTE]
    assert [(n.text, n.actor, n.done_by, n.occurred_at, n.recorded_at) for n in notes] == [
        ("traffic increases 88x", "bob", None, day_before(15, 5), START),
        ("Alice pages the search team", "bob", "alice", day_before(15, 6), START),
        ("looks at the dashboards", "bob", "bob", day_before(15, 7), START),
    ]


def test_the_timeline_shows_who_did_each_entry_and_who_recorded_it(replayed, bob):
    ok(bob, "note --at 15:05 --by nobody traffic increases 88x")
    ok(bob, "note --at 15:06 --by @alice Alice pages the search team")
    ok(bob, "note --at 15:07 looks at the dashboards")

    rows = bob.says("timeline").message.table.rows
    who = {row[4]: row[3] for row in rows}

    assert who["traffic increases 88x"] == "nobody in particular (via @bob)"
    assert who["Alice pages the search team"] == "@alice (via @bob)"
    assert who["looks at the dashboards"] == "@bob"


def test_every_other_event_was_done_by_whoever_recorded_it(
    replayed, bob, application, session_factory
):
    ok(bob, "status identified --at 15:20")
    ok(bob, "role scribe @me --at 15:03")
    ok(replayed, "sev 1")
    ok(bob, "action Add a canary @bob")
    ok(bob, "action done 1 --at 16:45")
    ok(replayed, "resolve --at 16:30")
    ok(replayed, "postmortem")
    application.capture.add(
        ChatMessage(
            channel_id=replayed.channel_id, author="carol", text="db is back", posted_at=START
        ),
        actor="bob",
    )

    recorded = events(session_factory)
    assert len(recorded) == 9
    assert [(e.kind, e.done_by) for e in recorded if e.done_by != e.actor] == [
        (EventKind.CHAT_MESSAGE, "carol")  # a marked message was done by its author
    ]


# -- roles, status and action items, dated back -------------------------------------------


def test_roles_dated_back_keep_their_history_in_order(replayed, bob, session_factory):
    ok(replayed, "role commander @bob --at 15:02")
    ok(replayed, "role commander @carol --at 15:40")
    ok(bob, "role scribe @me --at 15:03")
    ok(bob, "role scribe none --at 16:10")

    with session_factory() as session:
        rows = session.scalars(select(RoleAssignment).order_by(RoleAssignment.id)).all()
        history = [(r.role, r.holder, r.started_at, r.ended_at, r.ended_by) for r in rows]
    assert history == [
        ("commander", "bob", day_before(15, 2), day_before(15, 40), "alice"),
        ("commander", "carol", day_before(15, 40), None, None),
        ("scribe", "bob", day_before(15, 3), day_before(16, 10), "bob"),
    ]
    role_events = [e for e in events(session_factory) if e.kind.startswith("role_")]
    assert [(e.occurred_at, e.recorded_at) for e in role_events] == [
        (day_before(15, 2), START),
        (day_before(15, 40), START),
        (day_before(15, 3), START),
        (day_before(16, 10), START),
    ]
    # Taking the first role acknowledged it then, not when it was typed.
    assert incident(session_factory).acknowledged_at == day_before(15, 2)


def test_a_role_dated_before_the_acknowledgement_moves_it_earlier(replayed, session_factory):
    ok(replayed, "status identified --at 15:20")
    ok(replayed, "role commander @bob --at 15:02")

    assert incident(session_factory).acknowledged_at == day_before(15, 2)


def test_a_status_change_dated_back(replayed, session_factory):
    ok(replayed, "status identified --at 15:20")
    ok(replayed, "status --at 15:36 monitoring")

    stored = incident(session_factory)
    assert stored.status == "monitoring"
    assert (stored.acknowledged_at, stored.mitigated_at) == (day_before(15, 20), day_before(15, 36))
    changes = [e for e in events(session_factory) if e.kind == EventKind.STATUS_CHANGED]
    assert [e.occurred_at for e in changes] == [day_before(15, 20), day_before(15, 36)]


def test_an_action_item_done_before_it_was_written_down(replayed, session_factory):
    ok(replayed, "action Add a canary for search @bob")
    ok(replayed, "action done 1 --at 16:45")

    with session_factory() as session:
        item = session.scalars(select(ActionItem)).one()
        assert (item.status, item.created_at, item.completed_at) == (
            "done",
            START,
            day_before(16, 45),
        )
    done = events(session_factory)[-1]
    assert (done.kind, done.occurred_at, done.recorded_at) == (
        EventKind.ACTION_DONE,
        day_before(16, 45),
        START,
    )


def test_an_action_item_agreed_back_then(replayed, session_factory):
    ok(replayed, "action --at 16:50 Add a canary for search @bob due:2026-12-04")

    with session_factory() as session:
        item = session.scalars(select(ActionItem)).one()
        assert (item.text, item.owner, item.created_at) == (
            "Add a canary for search",
            "bob",
            day_before(16, 50),
        )
    added = events(session_factory)[-1]
    assert (added.kind, added.occurred_at, added.recorded_at) == (
        EventKind.ACTION_ADDED,
        day_before(16, 50),
        START,
    )


def test_the_commander_appointed_back_then_owns_the_postmortem(replayed, session_factory):
    ok(replayed, "role commander @bob --at 15:02")
    ok(replayed, "resolve --at 16:30 Rebalanced the traffic")
    ok(replayed, "postmortem")

    with session_factory() as session:
        postmortem = session.scalars(select(Postmortem)).one()
    assert postmortem.owner == "bob"


def test_a_commander_appointed_after_the_resolution_does_not_own_it(replayed, session_factory):
    """The contrast: without a time, the role starts now, after the resolution."""
    ok(replayed, "resolve --at 16:30 Rebalanced the traffic")
    ok(replayed, "role commander @bob")
    ok(replayed, "postmortem")

    with session_factory() as session:
        postmortem = session.scalars(select(Postmortem)).one()
    assert postmortem.owner == "alice"


# -- bare clock times on an incident declared on an earlier day ---------------------------


def test_a_bare_time_is_on_the_declaration_day_and_the_reply_says_so(replayed, session_factory):
    reply = ok(replayed, "mitigated --at 15:36")

    assert incident(session_factory).mitigated_at == day_before(15, 36)
    assert reply is not None  # said even in the incident's own channel
    assert reply.message.text == f"`15:36` was {DAY_NOTE}"


def test_a_note_at_a_bare_time_says_the_day_under_the_confirmation(replayed, session_factory):
    reply = ok(replayed, "note --at 15:05 traffic increases 88x --by nobody")

    assert events(session_factory)[-1].occurred_at == day_before(15, 5)
    assert reply.message.text.startswith("Recorded on INC-1 at 2026-11-24 15:05:")
    assert reply.message.lines == (f"`15:05` was {DAY_NOTE}",)


def test_a_full_date_needs_no_word_about_the_day(replayed, session_factory):
    assert replayed.says("mitigated --at 2026-11-24 15:36") is None

    assert incident(session_factory).mitigated_at == day_before(15, 36)


def test_a_bare_time_on_an_incident_declared_today_is_today(alice, session_factory, clock):
    alice.says("declare Search is down")
    clock.advance(hours=2)

    assert alice.says("mitigated --at 15:36") is None

    assert incident(session_factory).mitigated_at == at(15, 36)


def test_a_bare_time_from_another_channel_also_says_the_day(replayed, bob, session_factory):
    bob.channel_id = "C-GENERAL"

    reply = ok(bob, "mitigated INC-1 --at 15:36")

    assert reply.message.lines == (f"`15:36` was {DAY_NOTE}",)


# -- refusals --------------------------------------------------------------------------

# (what is typed first, the command refused, the whole line that refuses it)
REFUSALS = [
    (
        [],
        "resolve --at 2026-11-25 15:00",
        "`2026-11-25 15:00` (2026-11-25 15:00) is in the future.",
    ),
    (
        [],
        "note --at 2026-11-26T09:00Z later",
        "`2026-11-26T09:00Z` (2026-11-26 09:00) is in the future.",
    ),
    (
        [],
        "role commander @bob --at 2026-11-25 14:30",
        "`2026-11-25 14:30` (2026-11-25 14:30) is in the future.",
    ),
    (
        [],
        "resolve --at 15:00",
        "INC-1 was declared at 2026-11-24 15:01 UTC; it cannot be resolved before that.",
    ),
    (
        [],
        "resolve --at 2026-11-24T14:00Z Fixed",
        "INC-1 was declared at 2026-11-24 15:01 UTC; it cannot be resolved before that.",
    ),
    (
        [],
        "impact --from 16:00 --until 14:54",
        "INC-1's impact started at 2026-11-24 16:00 UTC; its impact cannot end before that.",
    ),
    (
        ["impact --from 14:54"],
        "impact --until 14:50",
        "INC-1's impact started at 2026-11-24 14:54 UTC; its impact cannot end before that.",
    ),
    (
        ["impact --until 16:00"],
        "started --at 16:05",
        "INC-1's impact ended at 2026-11-24 16:00 UTC; its impact cannot start after that.",
    ),
    (
        ["started --at 14:54"],
        "mitigated --at 14:50",
        "INC-1's impact started at 2026-11-24 14:54 UTC; it cannot be mitigated before that.",
    ),
    (
        ["started --at 14:54"],
        "status monitoring --at 14:50",
        "INC-1's impact started at 2026-11-24 14:54 UTC; it cannot be mitigated before that.",
    ),
    (
        ["mitigated --at 15:36"],
        "impact --from 15:40",
        "INC-1 was mitigated at 2026-11-24 15:36 UTC; its impact cannot start after that.",
    ),
    (
        [],
        "detected --at 15:10",
        "INC-1 was declared at 2026-11-24 15:01 UTC; it cannot be detected after that.",
    ),
    (
        ["detected --at 14:55"],
        "ack --at 14:50",
        "INC-1 was detected at 2026-11-24 14:55 UTC; it cannot be acknowledged before that.",
    ),
    (
        ["detected --at 14:55"],
        "role commander @bob --at 14:50",
        "INC-1 was detected at 2026-11-24 14:55 UTC; it cannot be acknowledged before that.",
    ),
    (
        ["resolve --at 16:30"],
        "status closed --at 16:00",
        "INC-1 was resolved at 2026-11-24 16:30 UTC; it cannot be closed before that.",
    ),
    (
        ["resolve --at 16:30"],
        "mitigated --at 16:40",
        "INC-1 was resolved at 2026-11-24 16:30 UTC; it cannot be mitigated after that.",
    ),
    (
        ["status identified --at 15:20"],
        "status monitoring --at 15:10",
        "INC-1 became identified at 2026-11-24 15:20 UTC; its status cannot change before that.",
    ),
    (
        [],
        "status identified --at 14:58",
        "INC-1 was declared at 2026-11-24 15:01 UTC; its status cannot change before that.",
    ),
    (
        ["role commander @bob --at 15:02"],
        "role commander @carol --at 15:00",
        "bob became commander of INC-1 at 2026-11-24 15:02 UTC; "
        "the role cannot change hands before that.",
    ),
    (
        ["role scribe @bob --at 15:02", "role scribe none --at 15:30"],
        "role scribe @carol --at 15:20",
        "bob stopped being scribe of INC-1 at 2026-11-24 15:30 UTC; "
        "the role cannot change hands before that.",
    ),
    (
        [],
        "action Add a canary --at 14:00",
        "INC-1 was declared at 2026-11-24 15:01 UTC; an action item cannot be agreed before that.",
    ),
    (
        ["action Add a canary"],
        "action done 1 --at 14:00",
        "INC-1 was declared at 2026-11-24 15:01 UTC; action item #1 cannot be done before that.",
    ),
    (
        ["action Add a canary", "impact --from 14:54"],
        "action done 1 --at 14:50",
        "INC-1's impact started at 2026-11-24 14:54 UTC; "
        "action item #1 cannot be done before that.",
    ),
    (
        [],
        "resolve --force",
        "Unknown option `--force` for resolve; its options are `--at` "
        "(put a `--word` meant as text in backticks). "
        "Usage: `/incident resolve [INC-n] [--at TIME] [summary]`",
    ),
    (
        [],
        "impact --f 12%",
        "`--f` is ambiguous for impact: `--from` or `--fraction`? "
        "Usage: `/incident impact [INC-n] [--from TIME] [--until TIME] [--fraction N%]`",
    ),
    (
        [],
        "resolve done --at",
        "`--at` needs a time. Usage: `/incident resolve [INC-n] [--at TIME] [summary]`",
    ),
    (
        [],
        "role commander @bob --at",
        "`--at` needs a time. Usage: `/incident role [INC-n] <role> <@user|@me|none> [--at TIME]`",
    ),
]


@pytest.mark.parametrize(
    ("setup", "command", "refusal"), REFUSALS, ids=[f"{r[1]} after {r[0]}" for r in REFUSALS]
)
def test_refusals_are_one_line_and_change_nothing(
    replayed, session_factory, chat, setup, command, refusal
):
    for typed in setup:
        ok(replayed, typed)
    before, calls = snapshot(session_factory), len(chat.calls)

    reply = replayed.says(command)

    assert_error(reply)
    assert reply.message.text == refusal
    assert snapshot(session_factory) == before
    assert len(chat.calls) == calls


def test_a_declaration_in_the_future_is_refused(alice, session_factory):
    before = snapshot(session_factory)

    assert_error(alice.says("declare Search is down --at 2026-11-26T09:00Z"), "is in the future.")
    assert snapshot(session_factory) == before


def test_a_refusal_shows_times_in_the_configured_zone(
    settings: Settings, session_factory: Factory, clock: FakeClock
):
    berlin = Settings(database_url=settings.database_url, timezone=ZoneInfo("Europe/Berlin"))
    handler = Application(
        berlin, session_factory=session_factory, chat=RecordingChat(), clock=clock
    ).handler
    erika = Person(handler, "erika", "C-GENERAL")
    erika.says(f"declare Search is down --at {DECLARED_AT}")

    reply = erika.says("resolve --at 16:00")  # 15:00 UTC, before the declaration

    assert_error(
        reply, "INC-1 was declared at 2026-11-24 16:01 CET; it cannot be resolved before that."
    )

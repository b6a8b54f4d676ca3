"""Who may change an incident: hostile attempts through the command path, the legitimate
path beside each, and what the database and the chat saw.

Alice declares INC-1 and makes Carol the commander; Mallory is a workspace member with no
part in it. Refusals change nothing but one `permission_refused` event on the timeline.
"""

from dataclasses import replace

import pytest

from bot.app import Application
from bot.config import load_settings
from bot.errors import ConfigError
from bot.storage import database
from tests.support.db_reads import assert_error, assignments, events, incident, snapshot
from tests.support.people import Person
from tests.support.shell import run_shell

REFUSED = "permission_refused"


@pytest.fixture
def channel(alice) -> str:
    alice.says("declare sev2 Checkout API returns 500s")
    alice.says("role commander @carol")
    assert alice.channel_id is not None
    return alice.channel_id


def person(handler, name: str, channel: str) -> Person:
    return Person(handler, name, channel_id=channel)


@pytest.fixture
def mallory(handler, channel) -> Person:
    return person(handler, "mallory", channel)


@pytest.fixture
def carol(handler, channel) -> Person:
    return person(handler, "carol", channel)


def refusals(session_factory) -> list[tuple[str, str]]:
    return [(e.actor, e.text) for e in events(session_factory) if e.kind == REFUSED]


def holders(session_factory) -> dict[str, str]:
    return {a.role: a.holder for a in assignments(session_factory) if a.ended_at is None}


def without_refusals(rows: dict) -> dict:
    """Every table as it is, the timeline without its refusals."""
    kind = 2  # timeline_events columns: id, incident_id, kind, ...
    events_table = [row for row in rows["timeline_events"] if row[kind] != REFUSED]
    return {**rows, "timeline_events": events_table}


@pytest.mark.parametrize(
    ("command", "doing"),
    [
        ("sev 1", "change the severity of INC-1"),
        ("status identified", "change the status of INC-1"),
        ("resolve I fixed it", "resolve INC-1"),
        ("started --at 13:00", "set when the impact started in INC-1"),
        ("ack", "acknowledge INC-1"),
        ("action Rewrite everything", "change the action items of INC-1"),
    ],
)
def test_an_unrelated_member_cannot_change_the_incident_and_a_responder_can(
    mallory, alice, chat, session_factory, command, doing
):
    before, calls = snapshot(session_factory), len(chat.calls)

    reply = mallory.says(command)

    assert_error(reply, f"may {doing}.")
    assert reply.message.text == (
        f"Only the declarer (@alice) or anyone holding a role (@carol) may {doing}."
    )
    assert without_refusals(snapshot(session_factory)) == before
    assert refusals(session_factory) == [("mallory", f"mallory may not {doing}")]
    assert len(chat.calls) == calls  # nothing is announced
    assert alice.says(command) is None  # the declarer is a responder
    assert len(snapshot(session_factory)["timeline_events"]) > len(before["timeline_events"]) + 1


def test_an_unrelated_member_cannot_close_or_reopen_but_the_commander_can(
    mallory, alice, carol, session_factory
):
    alice.says("resolve Rolled back")

    refused = mallory.says("close")
    assert refused.message.text == "Only the commander (@carol) may close INC-1."
    assert alice.says("close").message.text == "Only the commander (@carol) may close INC-1."
    assert incident(session_factory).status == "resolved"
    assert mallory.says("status investigating").message.text == (
        "Only the commander (@carol) may reopen INC-1."
    )
    assert incident(session_factory).status == "resolved"
    assert [actor for actor, _ in refusals(session_factory)] == ["mallory", "alice", "mallory"]

    assert carol.says("close") is None
    assert incident(session_factory).status == "closed"


def test_a_free_role_is_anyones_to_take_and_then_they_are_a_responder(mallory, session_factory):
    assert mallory.says("role scribe @me") is None
    assert holders(session_factory) == {"commander": "carol", "scribe": "mallory"}
    assert mallory.says("sev 1") is None
    assert incident(session_factory).severity == "SEV1"


def test_an_occupied_commander_role_cannot_be_taken_and_the_commander_hands_it_over(
    mallory, alice, carol, handler, channel, session_factory
):
    for attempt in ("role commander @me", "role commander @dave", "role commander none"):
        reply = mallory.says(attempt)
        assert reply.message.text == (
            "Only the commander (@carol) may reassign a role someone else holds in INC-1."
        )
    # Declaring the incident does not make Alice its owner either.
    assert alice.says("role commander @me").message.tone == "error"
    assert holders(session_factory) == {"commander": "carol"}

    assert carol.says("role commander @dave") is None  # the handover

    history = [(a.role, a.holder, a.assigned_by, a.ended_by) for a in assignments(session_factory)]
    assert history == [
        ("commander", "carol", "alice", "carol"),
        ("commander", "dave", "carol", None),
    ]
    dave = person(handler, "dave", channel)
    assert dave.says("role scribe @mallory") is None  # a free role, given
    assert mallory.says("role scribe @bob") is None  # the holder hands her own role on
    assert mallory.says("role scribe @me").message.tone == "error"  # it is Bob's now
    assert holders(session_factory) == {"commander": "dave", "scribe": "bob"}


def test_notes_of_others_cannot_be_edited_or_deleted_except_by_the_commander(
    mallory, bob, carol, channel, session_factory
):
    bob.channel_id = channel
    bob.says("note Rolled back deploy 4711")
    note = events(session_factory)[-1]

    for attempt in (f"note edit {note.id} Nothing happened", f"note delete {note.id}"):
        reply = mallory.says(attempt)
        assert reply.message.text == (
            "Only the commander (@carol) may edit or delete someone else's note in INC-1."
        )
    (stored,) = [e for e in events(session_factory) if e.id == note.id]
    assert (stored.text, stored.deleted_at) == ("Rolled back deploy 4711", None)

    mallory.says("note I was here")  # anyone may add notes, and change their own
    own = events(session_factory)[-1]
    assert mallory.says(f"note edit {own.id} I was here at 14:00").message.tone == "success"
    assert mallory.says(f"note delete {own.id}").message.tone == "success"
    assert bob.says(f"note edit {note.id} Rolled back deploy 4711 to v41").message.tone == (
        "success"
    )
    assert carol.says(f"note delete {note.id}").message.tone == "success"
    kinds = [e.kind for e in events(session_factory)]
    assert kinds.count(REFUSED) == 2
    assert kinds.count("note_edited") == 2
    assert kinds.count("note_deleted") == 2


def test_a_note_id_that_is_no_note_is_explained_not_refused(mallory, session_factory):
    declared = events(session_factory)[0]
    reply = mallory.says(f"note delete {declared.id}")
    assert reply.message.text.startswith(f"#{declared.id} is a declared event")
    assert mallory.says("note delete 999").message.text.startswith("INC-1 has no note #999")
    assert refusals(session_factory) == []


def test_configured_responders_and_admins_are_groups_the_chat_knows(
    settings, session_factory, chat, clock
):
    configured = replace(settings, responders=("group:oncall", "dave"), admins=("group:leads",))
    handler = Application(
        configured, session_factory=session_factory, chat=chat, clock=clock
    ).handler
    chat.groups = {"oncall": {"olivia"}, "leads": {"erin"}}
    alice = Person(handler, "alice", channel_id="C-GENERAL")
    alice.says("declare sev2 Checkout API returns 500s")
    room = alice.channel_id
    olivia, dave, erin, mallory = (
        person(handler, n, room) for n in ("olivia", "dave", "erin", "mallory")
    )

    assert olivia.says("status identified") is None  # in the oncall group
    assert dave.says("sev 1") is None  # named one by one
    refused = mallory.says("resolve")
    assert refused.message.text == (
        "Only the declarer (@alice), anyone holding a role (nobody yet), a configured responder "
        "or an incident admin may resolve INC-1."
    )
    assert dave.says("resolve") is None
    assert dave.says("close").message.text == (
        "Only the commander (nobody yet) or an incident admin may close INC-1."
    )
    assert erin.says("close") is None  # an admin, through the leads group
    assert incident(session_factory).status == "closed"
    assert set(chat.group_lookups) == {"oncall", "leads"}


def test_the_terminal_chat_has_the_groups_of_its_configuration(tmp_path):
    lines = ["/incident declare sev2 Queue backlog", "/incident resolve Drained the queue"]
    lines += ["/user mallory", "/incident close", "/user erin", "/incident close"]
    env = {"TERMINAL_GROUPS": "leads=erin", "INCIDENT_ADMINS": "group:leads"}

    result = run_shell(tmp_path, lines, "shell", "--user", "alice", **env)

    assert result.returncode == 0, result.stderr
    assert "Only the commander (nobody yet) or an incident admin may close INC-1." in result.stdout
    engine = database.make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    factory = database.make_session_factory(engine)
    assert incident(factory).status == "closed"
    assert refusals(factory) == [("mallory", "mallory may not close INC-1")]
    assert [e.actor for e in events(factory) if e.data.get("to") == "closed"] == ["erin"]
    engine.dispose()


def test_rules_are_configuration(settings, session_factory, chat, clock):
    strict = replace(settings, permissions={"sev": ("commander",), "close": ("anyone",)})
    handler = Application(strict, session_factory=session_factory, chat=chat, clock=clock).handler
    dave = Person(handler, "dave", channel_id="C-GENERAL")
    dave.says("declare sev3 Slow search")

    refused = dave.says("sev 1")
    assert (
        refused.message.text == "Only the commander (nobody yet) may change the severity of INC-1."
    )
    dave.says("role commander @me")
    assert dave.says("sev 1") is None
    dave.says("resolve")
    assert Person(handler, "mallory", dave.channel_id).says("close") is None  # anyone, as told


def test_every_rule_has_words_for_its_refusal():
    from bot.config import PERMISSION_ACTIONS
    from bot.incidents.permissions import DOING, OTHERS

    assert set(DOING) == set(PERMISSION_ACTIONS)
    assert set(OTHERS) | set(OTHERS.values()) <= set(PERMISSION_ACTIONS)


def test_unknown_people_in_rules_stop_start_up():
    with pytest.raises(ConfigError, match="INCIDENT_PERMISSIONS names janitor for close"):
        load_settings({"INCIDENT_PERMISSIONS": "close=janitor"}, env_file=None)
    with pytest.raises(ConfigError, match="INCIDENT_PERMISSIONS="):
        load_settings({"INCIDENT_PERMISSIONS": "explode=anyone"}, env_file=None)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INCIDENT_ADMINS", "group:"),
        ("INCIDENT_RESPONDERS", "alice bob"),
        ("TERMINAL_GROUPS", "oncall"),
        ("TERMINAL_GROUPS", "oncall=group:leads"),
    ],
)
def test_bad_lists_of_people_stop_start_up(variable, value):
    with pytest.raises(ConfigError, match=f"{variable}="):
        load_settings({variable: value}, env_file=None)


def test_lists_of_people_are_read_from_the_environment():
    settings = load_settings(
        {
            "INCIDENT_RESPONDERS": "U0ALICE, group:oncall",
            "RUNBOOK_APPROVERS": "group:S0604QSJC",
            "TERMINAL_GROUPS": "oncall=alice,bob; leads=carol",
        },
        env_file=None,
    )
    assert settings.responders == ("U0ALICE", "group:oncall")
    assert settings.runbook_approvers == ("group:S0604QSJC",)
    assert settings.admins == ()
    assert settings.terminal_groups == {"oncall": ("alice", "bob"), "leads": ("carol",)}

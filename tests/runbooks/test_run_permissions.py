"""Who may start, steer and approve runbook runs: hostile attempts through the command path,
the real engine and real worker processes, with the legitimate path beside each.

Alice declares INC-1 and Dana makes her the commander (so her role is not self-given);
Bob took the scribe role, so he is a responder; Mallory has no part in the incident.
"""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.db_reads import events
from tests.support.people import Person
from tests.support.runbooks import runbook_application, runs, settle
from tests.support.waiting import eventually

HEADER = "from bot.runbooks.sdk import Approval, runbook, step\n"
GATED = """
@runbook(name="gated", summary="Changes something", allowed=["anyone"])
class Gated:
    @step(approval=Approval(roles=["commander"], not_requester=True, ttl="10m"))
    def act(self, ctx):
        ctx.log("acted")
"""
SLOW = """
@runbook(name="slow", summary="Sleeps", allowed=["anyone"])
class Slow:
    @step
    def sleep(self, ctx):
        import time
        ctx.log("sleeping")
        time.sleep(60)
"""
CHECKED = """
@runbook(name="checked", summary="A person confirms", allowed=["anyone"])
class Checked:
    @step(manual=True, prompt="Confirm the error rate is back to baseline")
    def verify(self, ctx):
        pass
"""
GUARDED = """
@runbook(name="guarded", summary="Operations only", allowed=["role:operations"])
class Guarded:
    @step
    def hello(self, ctx):
        ctx.log("hello")
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "runbooks"
    path.mkdir()
    for name, body in (
        ("gated", GATED),
        ("slow", SLOW),
        ("checked", CHECKED),
        ("guarded", GUARDED),
    ):
        (path / f"{name}.py").write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.fixture
def approvers() -> tuple[str, ...]:
    return ()


@pytest.fixture
def application(settings, session_factory, chat, clock, folder, tmp_path, approvers):
    configured = replace(settings, runbook_approvers=approvers)
    application = runbook_application(
        configured, session_factory, chat, clock, folder=folder, artifacts=tmp_path / "artifacts"
    )
    yield application
    application.runbooks.shutdown()


@pytest.fixture
def room(handler) -> str:
    alice = Person(handler, "alice", channel_id="C-GENERAL")
    alice.says("declare sev2 Checkout API returns 500s")
    Person(handler, "dana", alice.channel_id).says("role commander @alice")
    Person(handler, "bob", alice.channel_id).says("role scribe @me")
    assert alice.channel_id is not None
    return alice.channel_id


@pytest.fixture
def people(handler, room) -> dict[str, Person]:
    return {name: Person(handler, name, room) for name in ("alice", "bob", "mallory", "dana")}


def refusals(session_factory) -> list[tuple[str, str]]:
    return [(e.actor, e.text) for e in events(session_factory) if e.kind == "runbook_refused"]


def waiting(session_factory) -> tuple[str, str, str | None]:
    (run,) = runs(session_factory)
    return run.status, run.steps[0].status, run.steps[0].decided_by


def test_an_unrelated_member_cannot_start_a_runbook_even_one_open_to_anyone(
    people, handler, session_factory
):
    reply = people["mallory"].says("runbook run slow")

    assert reply.message.text == (
        "Only the declarer (@alice) or anyone holding a role (@alice, @bob) may run slow."
    )
    assert runs(session_factory) == []
    assert refusals(session_factory) == [("mallory", "mallory may not run slow")]


def test_a_role_someone_gave_themselves_does_not_satisfy_a_runbooks_allowed(
    people, handler, session_factory
):
    bob, alice = people["bob"], people["alice"]
    assert bob.says("role operations @me") is None

    reply = bob.says("runbook run guarded")

    assert reply.message.text == (
        "You gave yourself that role in this incident; it counts only when someone else gives "
        "it to you. Only an operations appointed by someone else (nobody yet) may run guarded."
    )
    assert runs(session_factory) == []
    alice.says("role operations none")
    alice.says("role operations @bob")  # now the commander gave it to him
    assert bob.says("runbook run guarded").message.text == "Started guarded for INC-1 (run #1)."
    settle(handler)
    assert runs(session_factory)[0].status == "succeeded"


def test_a_member_who_gave_themselves_the_commander_role_cannot_approve(handler, session_factory):
    bob = Person(handler, "bob", channel_id="C-GENERAL")
    bob.says("declare sev2 Checkout API returns 500s")
    mallory = Person(handler, "mallory", bob.channel_id)
    mallory.says("role commander @me")  # nobody held it, so she could take it
    bob.says("runbook run gated")
    settle(handler)

    reply = mallory.says("approve 1")

    assert reply.message.text == (
        "You gave yourself that role in this incident; it counts only when someone else gives "
        "it to you. Only a commander appointed by someone else (nobody yet) may approve step "
        "act of run #1."
    )
    assert waiting(session_factory) == ("waiting_approval", "waiting_approval", None)
    assert refusals(session_factory) == [("mallory", "mallory may not approve step act of run #1")]


def test_the_requester_cannot_approve_their_own_run_and_an_appointed_commander_can(
    people, handler, session_factory
):
    alice, dana = people["alice"], people["dana"]
    alice.says("runbook run gated")  # the appointed commander asks for it herself
    settle(handler)

    refused = alice.says("approve 1")
    assert refused.message.text == (
        "You started this run, so someone else must approve it. "
        "Only a commander appointed by someone else (@alice) may approve step act of run #1."
    )
    assert dana.says("approve 1").message.tone == "error"  # she gave the role, holds none
    assert people["bob"].says("approve 1").message.tone == "error"  # a scribe, not commander
    assert waiting(session_factory) == ("waiting_approval", "waiting_approval", None)
    assert [actor for actor, _ in refusals(session_factory)] == ["alice", "dana", "bob"]


def test_an_independent_approver_approves_and_the_step_runs(people, handler, session_factory):
    people["bob"].says("runbook run gated")
    settle(handler)

    assert people["alice"].says("approve 1").message.text == "Step approved for gated (run #1)."
    settle(handler)

    (run,) = runs(session_factory)
    assert (run.status, run.steps[0].approved_by) == ("succeeded", "alice")
    assert "acted" in run.steps[0].output


@pytest.mark.parametrize("approvers", [("group:sre",)])
def test_a_configured_approver_from_a_group_approves(
    people, handler, chat, session_factory, approvers
):
    chat.groups = {"sre": {"erin", "bob"}}
    people["bob"].says("runbook run gated")
    settle(handler)

    bob_again = people["bob"].says("approve 1")  # in the group, but he asked for it
    assert bob_again.message.text.startswith("You started this run")
    erin = Person(handler, "erin", people["bob"].channel_id)
    assert erin.says("approve 1").message.tone == "success"  # no role, no part: an approver
    settle(handler)

    (run,) = runs(session_factory)
    assert (run.status, run.steps[0].approved_by) == ("succeeded", "erin")
    assert "sre" in chat.group_lookups


def test_someone_elses_run_is_cancelled_only_by_the_commander(people, handler, session_factory):
    bob, alice = people["bob"], people["alice"]
    bob.says("runbook run slow")
    eventually(lambda: runs(session_factory)[0].steps[0].status == "running")

    for intruder in ("mallory", "dana"):
        reply = people[intruder].says("runbook cancel 1")
        assert reply.message.text == ("Only the commander (@alice) may cancel run #1."), intruder
    assert runs(session_factory)[0].cancelled_by is None

    assert alice.says("runbook cancel 1").message.tone == "success"
    settle(handler)
    (run,) = runs(session_factory)
    assert (run.status, run.cancelled_by) == ("cancelled", "alice")


def test_a_manual_step_is_marked_done_or_failed_only_by_a_responder(
    people, handler, session_factory
):
    bob = people["bob"]
    bob.says("runbook run checked")
    settle(handler)

    for word in ("done", "failed"):
        reply = people["mallory"].says(f"runbook {word} 1")
        assert reply.message.text == "Only the commander (@alice) may mark step verify of " + (
            f"run #1 {word}."
        )
    assert waiting(session_factory) == ("waiting_approval", "waiting_approval", None)
    assert len(refusals(session_factory)) == 2

    assert bob.says("runbook done 1").message.tone == "success"  # his own run
    settle(handler)
    assert runs(session_factory)[0].status == "succeeded"


def test_a_run_the_bot_started_is_any_responders_to_steer(people, handler, session_factory, folder):
    (folder / "watch.py").write_text(
        HEADER.replace("Approval, ", "on_declare, ")
        + textwrap.dedent(
            """
            @runbook(name="watch", summary="Starts on SEV1", allowed=["anyone"],
                     triggers=[on_declare(severity=["SEV1"], mode="start")])
            class Watch:
                @step(manual=True, prompt="Is the graph flat again?")
                def look(self, ctx):
                    pass
            """
        ),
        encoding="utf-8",
    )
    people["alice"].says("sev 1")
    settle(handler)
    (run,) = runs(session_factory)
    assert run.requested_by == "incident-bot"

    assert people["mallory"].says(f"runbook done {run.id}").message.tone == "error"
    assert people["bob"].says(f"runbook done {run.id}").message.tone == "success"
    settle(handler)
    assert runs(session_factory)[0].status == "succeeded"

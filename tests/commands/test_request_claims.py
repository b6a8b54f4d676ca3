"""Each request a chat can deliver twice is acted on once: every change claims its key.

A command sent again with the same request key (a replay, a redelivery, a replica
replaying what another stored) changes nothing the second time and says so; a read
claims nothing, so its stored request is left to the listener that finishes it.
"""

from __future__ import annotations

import itertools
import textwrap
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import Application
from bot.chat.port import Context, Reply
from bot.commands.capture import ChatMessage
from bot.commands.handler import CommandHandler
from bot.config import Settings
from bot.storage.models import InboxRequest, OutboxItem
from tests.support.db_reads import events, snapshot
from tests.support.runbooks import runbook_application, runs, settle
from tests.support.waiting import eventually

ALREADY = "This request was already received and acted on; `show` tells what was recorded."
KEYS = itertools.count(1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Alice may do all a commander may: these tests are about requests, not permissions."""
    return replace(settings, admins=("alice",))


class Sender:
    """Someone whose every command is a chat request with a key of its own."""

    def __init__(self, handler: CommandHandler, actor: str, channel: str | None) -> None:
        self.handler, self.actor, self.channel = handler, actor, channel

    def sends(self, text: str, key: str | None = None) -> tuple[str, Reply | None]:
        key = key or f"command:{next(KEYS)}"
        context = Context(actor=self.actor, channel_id=self.channel, request_key=key)
        return key, self.handler.handle(text, context)


@pytest.fixture
def alice(handler: CommandHandler) -> Sender:
    """Alice has declared INC-1, with a note (#2) and an action item (#1), in its channel."""
    _, reply = Sender(handler, "alice", "C-GENERAL").sends("declare sev2 Checkout is down")
    assert reply is not None and reply.open_channel is not None
    sender = Sender(handler, "alice", reply.open_channel.id)
    sender.sends("note Looking at the pool")
    sender.sends("action Alert on pool exhaustion")
    return sender


CHANGES = [
    ([], "status identified"),
    ([], "sev 1"),
    ([], "role scribe @me"),
    ([], "detected --at 13:50"),
    ([], "ack"),
    ([], "note Rolled back deploy 4711"),
    ([], "note edit 2 Looking at the connection pool"),
    ([], "note delete 2"),
    ([], "action Add a runbook for the pool"),
    ([], "action done 1"),
    ([], "resolve Restarted the pool"),
    (["resolve Restarted the pool"], "close"),
    (["resolve Restarted the pool"], "reopen"),
    ([], "postmortem"),
]


@pytest.mark.parametrize(("before", "change"), CHANGES, ids=[change for _, change in CHANGES])
def test_a_change_sent_again_with_its_key_changes_nothing_the_second_time(
    alice: Sender, session_factory, before: list[str], change: str
):
    for text in before:
        alice.sends(text)
    recorded = state(session_factory)

    key, first = alice.sends(change)
    assert first is None or ALREADY not in first.message.text
    changed = state(session_factory)
    assert changed != recorded
    _, again = alice.sends(change, key)

    assert again is not None and again.message.text == ALREADY
    assert state(session_factory) == changed


def test_a_declaration_sent_again_declares_once(handler: CommandHandler, session_factory):
    bob = Sender(handler, "bob", "C-GENERAL")
    key, first = bob.sends("declare sev3 Search is slow")
    _, again = bob.sends("declare sev3 Search is slow", key)

    assert first is not None and first.message.text.startswith("Declared INC-1 (SEV3)")
    assert again is not None and again.message.text == ALREADY
    assert [e.kind for e in events(session_factory)] == ["declared"]


def test_a_refusal_sent_again_is_recorded_once(alice: Sender, handler, session_factory):
    mallory = Sender(handler, "mallory", alice.channel)
    key, first = mallory.sends("status identified")
    _, again = mallory.sends("status identified", key)

    assert first is not None and first.message.tone == "error"
    assert again is not None and again.message.text == ALREADY
    refused = [e for e in events(session_factory) if e.kind == "permission_refused"]
    assert [e.actor for e in refused] == ["mallory"]


def test_a_read_claims_nothing(alice: Sender, session_factory, clock):
    with session_factory() as session:
        session.add(InboxRequest(key="command:read", received_at=clock(), body={}, attempts=1))
        session.commit()

    _, shown = alice.sends("show", "command:read")

    assert shown is not None and "Checkout is down" in shown.message.text
    with session_factory() as session:
        assert session.get_one(InboxRequest, "command:read").handled_at is None


def test_a_captured_message_its_edit_and_its_removal_each_happen_once(
    application: Application, alice: Sender, session_factory, clock
):
    message = ChatMessage(
        channel_id=str(alice.channel),
        author="bob",
        text="p99 is back under 300 ms",
        posted_at=clock() - timedelta(minutes=3),
        message_ref="1764000000.000100",
    )
    capture = application.capture
    for _ in range(2):
        capture.add(message, actor="alice", request_key="event:Ev-add")
        capture.edit(
            channel_id=message.channel_id,
            message_ref="1764000000.000100",
            text="p99 is back under 250 ms",
            actor="bob",
            request_key="event:Ev-edit",
        )
        capture.remove(
            channel_id=message.channel_id,
            message_ref="1764000000.000100",
            actor="alice",
            request_key="event:Ev-remove",
        )

    kinds = [e.kind for e in events(session_factory)]
    assert kinds.count("chat_message") == 1
    assert kinds.count("note_edited") == 1
    assert kinds.count("note_deleted") == 1


GATED = """
from bot.runbooks.sdk import Approval, runbook, step


@runbook(name="gated", summary="Changes something", allowed=["anyone"])
class Gated:
    @step(approval=Approval(roles=["commander"], not_requester=False))
    def act(self, ctx):
        ctx.log("acted")
"""


@pytest.fixture
def runbook_handler(settings, session_factory, chat, clock, tmp_path: Path):
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "gated.py").write_text(textwrap.dedent(GATED), encoding="utf-8")
    approving = replace(settings, runbook_approvers=("alice",))
    application = runbook_application(
        approving, session_factory, chat, clock, folder=folder, artifacts=tmp_path / "artifacts"
    )
    yield application.handler
    application.runbooks.shutdown()


@pytest.mark.parametrize("decision", ["approve", "deny", "runbook cancel"])
def test_a_runbook_start_and_a_decision_sent_again_happen_once(
    runbook_handler: CommandHandler, session_factory, decision: str
):
    alice = Sender(runbook_handler, "alice", "C-GENERAL")
    _, declared = alice.sends("declare sev2 Checkout is down")
    assert declared is not None and declared.open_channel is not None
    alice = Sender(runbook_handler, "alice", declared.open_channel.id)

    key, started = alice.sends("runbook run gated")
    _, again = alice.sends("runbook run gated", key)
    assert started is not None and "Started gated" in started.message.text
    assert again is not None and again.message.text == ALREADY
    settle(runbook_handler)
    (run,) = runs(session_factory)
    assert run.steps[0].status == "waiting_approval"

    key, decided = alice.sends(f"{decision} {run.id}")
    settle(runbook_handler)
    eventually(lambda: delivered(session_factory), message="the run's reports are not out")
    after = state(session_factory)
    _, again = alice.sends(f"{decision} {run.id}", key)

    assert decided is not None and decided.message.tone == "success"
    assert again is not None and again.message.text == ALREADY
    assert state(session_factory) == after


def state(session_factory) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but the delivery leases, which come and go by themselves."""
    rows = snapshot(session_factory)
    del rows["delivery_leases"]
    return rows


def delivered(session_factory) -> bool:
    with session_factory() as session:
        waiting = select(OutboxItem.id).where(OutboxItem.delivered_at.is_(None))
        return session.scalars(waiting).first() is None

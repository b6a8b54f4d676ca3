"""The permission model over real Slack traffic: signed slash commands and clicks in through
Bolt, refusals answered privately, the database and the Web API double's calls checked.

Alice declares INC-1 and makes Carol the commander; Mallory has no part in it; Erin is in
the Slack user group `@incident-leads`, which INCIDENT_ADMINS names.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.config import Settings
from bot.storage.models import Incident
from tests.support.db_reads import events
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_harness import BotServer
from tests.support.waiting import eventually

ALICE, BOB, CAROL, MALLORY, ERIN = "U0ALICE", "U0BOB", "U0CAROL", "U0MALLORY", "U0ERIN"


@pytest.fixture
def double() -> Iterator[SlackApiDouble]:
    with SlackApiDouble() as running:
        for user in (ALICE, BOB, CAROL, MALLORY, ERIN):
            running.add_user(user, user[2:].lower())
        running.add_channel("incidents")
        running.add_usergroup("incident-leads", [ERIN])
        yield running
    assert running.server_errors == []


@pytest.fixture
def bot(
    settings: Settings, session_factory: sessionmaker[Session], double: SlackApiDouble
) -> Iterator[BotServer]:
    admins = dataclasses.replace(settings, admins=("group:incident-leads",))
    with BotServer(admins, session_factory, double) as server:
        yield server


def stored(session_factory: sessionmaker[Session]) -> Incident:
    with session_factory() as session:
        query = select(Incident).options(selectinload(Incident.roles))
        found = session.scalar(query)
        assert found is not None
        return found


def answer(bot: BotServer, text: str, user: str, channel: str, name: str) -> str:
    """Type a slash command and wait for the private answer."""
    assert bot.slash(text, user=user, channel=channel, response_url=name).status == 200
    (reply,) = eventually(lambda: bot.double.responses_to(name))
    assert reply["response_type"] == "ephemeral"
    return html.unescape(reply["text"])


def severity_menu(double: SlackApiDouble, found: Incident) -> dict[str, Any]:
    assert found.channel_id is not None
    summary = next(
        m for m in double.messages_in(found.channel_id) if m["ts"] == found.summary_message_ref
    )
    actions = next(b for b in summary["blocks"] if b["type"] == "actions")["elements"]
    return next(e for e in actions if (e.get("placeholder") or {}).get("text") == "Change severity")


def test_a_stranger_is_refused_in_private_and_the_commander_and_an_admin_are_not(
    bot: BotServer, double: SlackApiDouble, session_factory
):
    room = double.add_channel("war-room", members=[ALICE, MALLORY])
    assert bot.slash("declare sev2 Checkout API returns 500s", user=ALICE, channel=room).status
    found = eventually(lambda: stored(session_factory) if double.calls_to("pins.add") else None)
    channel = found.channel_id
    assert channel is not None
    bot.slash(f"role commander <@{CAROL}|carol>", user=ALICE, channel=channel)
    eventually(lambda: stored(session_factory).current_roles() == {"commander": CAROL})
    bot.settle_chat()
    double.reset_calls()

    typed = answer(bot, "sev 1", MALLORY, channel, "mallory-sev")
    assert typed == (
        f"Only the declarer (<@{ALICE}>), anyone holding a role (<@{CAROL}>) or an incident "
        "admin may change the severity of INC-1."
    )
    sev1 = next(o for o in severity_menu(double, found)["options"] if o["value"].endswith("SEV1"))
    bot.block_action(
        {**severity_menu(double, found), "selected_option": sev1},
        user=MALLORY,
        channel=channel,
        response_url="mallory-menu",
    )
    (clicked,) = eventually(lambda: double.responses_to("mallory-menu"))
    assert "may change the severity of INC-1" in clicked["text"]
    taken = answer(bot, f"role commander <@{MALLORY}|mallory>", MALLORY, channel, "takeover")
    assert taken == f"Only the commander (<@{CAROL}>) or an incident admin may reassign a role " + (
        "someone else holds in INC-1."
    )
    bot.settle_chat()

    after = stored(session_factory)
    assert (after.severity, after.current_roles()) == ("SEV2", {"commander": CAROL})
    refused = [e for e in events(session_factory) if e.kind == "permission_refused"]
    assert [(e.actor, e.data["action"]) for e in refused] == [
        (MALLORY, "sev"),
        (MALLORY, "sev"),
        (MALLORY, "reassign"),
    ]
    # Nothing was announced: no message in the channel, no summary update, no invitation.
    assert double.calls_to("chat.postMessage") == []
    assert double.calls_to("chat.update") == []
    assert double.calls_to("conversations.invite") == []

    # The commander hands the role over; Erin, an admin through her user group, closes.
    bot.slash(f"role commander <@{BOB}|bob>", user=CAROL, channel=channel)
    eventually(lambda: stored(session_factory).current_roles() == {"commander": BOB})
    bot.slash("resolve Rolled back", user=ERIN, channel=channel)
    eventually(lambda: stored(session_factory).status == "resolved")
    bot.slash("close", user=ERIN, channel=channel)
    eventually(lambda: stored(session_factory).status == "closed")
    handover = [a for a in stored(session_factory).roles if a.holder == BOB]
    assert [(a.role, a.assigned_by) for a in handover] == [("commander", CAROL)]
    # The group was asked of Slack once (by handle, then its members) and then remembered.
    assert [c.method for c in double.calls if c.method.startswith("usergroups.")] == [
        "usergroups.list",
        "usergroups.users.list",
    ]

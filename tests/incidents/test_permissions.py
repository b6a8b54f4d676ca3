"""Who may do what is configuration, enforced on every path, and a refusal names who may."""

from dataclasses import replace

import pytest

from bot.app import Application
from bot.config import load_settings
from bot.errors import ConfigError
from bot.storage.models import Incident, Status
from tests.support.people import Person


def stored_status(session_factory) -> str:
    with session_factory() as session:
        return session.query(Incident).one().status


@pytest.fixture
def resolved(alice, bob):
    alice.says("declare sev2 Checkout API returns 500s")
    bob.channel_id = alice.channel_id
    alice.says("role commander @carol")
    alice.says("resolve Rolled back")
    return alice


def test_by_default_only_the_commander_or_the_declarer_may_close(resolved, bob, session_factory):
    reply = bob.says("close")

    assert reply.message.tone == "error"
    assert reply.message.text == (
        "Only the commander (@carol) or the declarer (@alice) may close INC-1."
    )
    assert stored_status(session_factory) == Status.RESOLVED


@pytest.mark.parametrize("command", ["close", "status closed", "status INC-1 closed"])
def test_every_way_of_closing_is_checked(resolved, bob, session_factory, command):
    assert bob.says(command).message.tone == "error"
    assert stored_status(session_factory) == Status.RESOLVED


def test_the_commander_may_close(resolved, handler, session_factory):
    carol = Person(handler, "carol", channel_id=resolved.channel_id)
    assert carol.says("close") is None
    assert stored_status(session_factory) == Status.CLOSED


def test_reopening_is_checked_too(resolved, bob, session_factory):
    assert bob.says("status investigating").message.text.startswith("Only the commander")
    assert resolved.says("reopen") is None
    assert stored_status(session_factory) == Status.INVESTIGATING


def test_rules_are_configuration(settings, session_factory, chat, clock):
    strict = replace(settings, permissions={"sev": ("commander",), "close": ("anyone",)})
    handler = Application(strict, session_factory=session_factory, chat=chat, clock=clock).handler
    dave = Person(handler, "dave", channel_id="C-GENERAL")
    dave.says("declare sev3 Slow search")

    refused = dave.says("sev 1")
    assert refused.message.text == "Only the commander (nobody yet) may sev INC-1."
    dave.says("role commander @me")
    assert dave.says("sev 1") is None


def test_unknown_people_in_rules_stop_start_up():
    with pytest.raises(ConfigError, match="INCIDENT_PERMISSIONS names janitor for close"):
        load_settings({"INCIDENT_PERMISSIONS": "close=janitor"}, env_file=None)
    with pytest.raises(ConfigError, match="INCIDENT_PERMISSIONS="):
        load_settings({"INCIDENT_PERMISSIONS": "explode=anyone"}, env_file=None)

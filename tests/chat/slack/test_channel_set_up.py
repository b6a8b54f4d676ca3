"""A declared incident's channel is set up in three steps, read from when Slack saw each call.

Through the real path (a signed slash command into the bot as `run` serves it, delivered
from the background pool) with every Web API call answered a little late, so that calls
made side by side are seen in flight together. Only order and overlap are asserted,
never how long anything took: create; then invite, topic, purpose, bookmark, summary
and announcement at once; then the pin.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from tests.support.slack_double import ANY_METHOD
from tests.support.slack_harness import BotServer
from tests.support.slack_users import ALICE, add_workspace
from tests.support.timed_slack import (
    SetUp,
    TimedSlackDouble,
    most_in_flight,
    set_ups,
)
from tests.support.waiting import eventually

SLACK_LATENCY = 0.3  # added to every Web API call: long enough for calls sent together to meet
FOREVER = 10**6  # calls the added latency lasts for
SET_UP_WAIT = 30
DEPTH = 3  # create -> (invite, topic, purpose, bookmark, summary, announcement) -> pin
AT_ONCE = 5


@pytest.fixture
def double() -> Iterator[TimedSlackDouble]:
    """The Slack tests' workspace, on the timed double (`room` is made in it)."""
    with TimedSlackDouble() as running:
        add_workspace(running)
        yield running
    assert running.server_errors == []


@pytest.fixture
def bot(
    settings: Settings, session_factory: sessionmaker[Session], double: TimedSlackDouble
) -> Iterator[BotServer]:
    linked = dataclasses.replace(
        settings, incident_links=(("Dashboard", "https://dash.example/{reference}"),)
    )
    with BotServer(linked, session_factory, double) as server:
        assert server.chat.bot_user_id  # as `run` learns it at start, before any invite asks
        double.fail_next(ANY_METHOD, delay=SLACK_LATENCY, times=FOREVER)
        yield server


def declared(double: TimedSlackDouble, count: int) -> list[SetUp]:
    """The channels set up so far, once there are `count` of them."""
    found = set_ups(double.timed_calls())
    assert len(found) == count, f"{len(found)} of {count} channels set up"
    return found


def assert_created_first_and_pinned_after_the_summary(set_up: SetUp) -> None:
    others = [call for call in set_up.calls if call is not set_up.create]
    assert all(call.began >= set_up.create.ended for call in others), set_up
    assert set_up.pin.began >= set_up.summary.ended, set_up


def test_a_declared_channel_is_set_up_three_calls_deep(
    bot: BotServer, double: TimedSlackDouble, room: str
) -> None:
    answer = bot.slash("declare sev2 Checkout API returns 500s", user=ALICE, channel=room)
    assert answer.status == 200

    (set_up,) = eventually(lambda: declared(double, 1), SET_UP_WAIT)
    assert set_up.name == "inc-1-checkout-api-returns-500s"
    assert sorted(call.method for call in set_up.calls) == [
        "bookmarks.add",
        "chat.postMessage",
        "chat.postMessage",
        "conversations.create",
        "conversations.invite",
        "conversations.setPurpose",
        "conversations.setTopic",
        "pins.add",
    ]
    assert set_up.depth <= DEPTH
    assert_created_first_and_pinned_after_the_summary(set_up)
    assert most_in_flight(set_up.calls) >= 4


def test_channels_declared_at_once_are_set_up_side_by_side(
    bot: BotServer, double: TimedSlackDouble, room: str
) -> None:
    texts = [f"declare sev2 Checkout region {number} down" for number in range(AT_ONCE)]
    with ThreadPoolExecutor(AT_ONCE) as senders:
        answers = list(senders.map(lambda text: bot.slash(text, user=ALICE, channel=room), texts))
    assert [answer.status for answer in answers] == [200] * AT_ONCE

    found = eventually(lambda: declared(double, AT_ONCE), SET_UP_WAIT)
    assert most_in_flight([set_up.create for set_up in found]) > 1
    # Not each one 3 deep: the set-ups share one pool of chat calls, so some calls wait
    # for a free slot; the order within each channel holds all the same.
    for set_up in found:
        assert_created_first_and_pinned_after_the_summary(set_up)

"""The workspace the Slack tests talk to: a Web API double with Alice, Bob and Carol."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_harness import BotServer
from tests.support.slack_users import ALICE, BOB, add_workspace


@pytest.fixture
def double() -> Iterator[SlackApiDouble]:
    with SlackApiDouble() as running:
        add_workspace(running)
        yield running
    assert running.server_errors == []


@pytest.fixture
def bot(
    settings: Settings, session_factory: sessionmaker[Session], double: SlackApiDouble
) -> Iterator[BotServer]:
    """The bot served over HTTP as `run` serves it, its delivery pool running."""
    with BotServer(settings, session_factory, double) as server:
        yield server


@pytest.fixture
def room(double: SlackApiDouble) -> str:
    """A public channel where Alice and Bob type commands."""
    return double.add_channel("war-room", members=[ALICE, BOB])

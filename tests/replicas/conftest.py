"""Replicas as real `incident-bot run` processes on a scratch PostgreSQL database, Slack being
the Web API double served from the test process. Every test here is marked `postgres`.

Leases are short (3 s), so a dead replica's requests and chat work are taken over within
the test's deadlines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.databases import postgres_url, scratch_postgres
from tests.support.replica_processes import Replicas, slack_environment
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_traffic import SlackTraffic
from tests.support.slack_users import ALICE, BOB

SIGNING_SECRET = "replica-signing-secret-0123456789abcdef"
ANNOUNCE_CHANNEL = "incidents"
LEASES = {"DELIVERY_LEASE_SECONDS": "3", "INBOX_LEASE_SECONDS": "3"}


@pytest.fixture
def database() -> Iterator[Engine]:
    """A database of the test's own, empty (no migration run), dropped afterwards."""
    url = postgres_url()
    assert url is not None, "tests/replicas need TEST_DATABASE_URL (deselected without it)"
    with scratch_postgres(url) as engine:
        yield engine


@pytest.fixture
def double() -> Iterator[SlackApiDouble]:
    with SlackApiDouble() as running:
        running.add_user(ALICE, "alice")
        running.add_user(BOB, "bob")
        running.add_channel(ANNOUNCE_CHANNEL)
        yield running
    assert running.server_errors == []


@pytest.fixture
def room(double: SlackApiDouble) -> str:
    """The channel Alice types her commands in."""
    return double.add_channel("war-room", members=[ALICE, BOB])


@pytest.fixture
def replicas(database: Engine, double: SlackApiDouble, tmp_path: Path) -> Iterator[Replicas]:
    """Starts replicas on the test's database; every one is stopped afterwards."""
    environment = slack_environment(
        database_url=database.url.render_as_string(hide_password=False),
        double=double,
        signing_secret=SIGNING_SECRET,
        folder=tmp_path,
    )
    environment |= {"INCIDENT_ANNOUNCE_CHANNEL": ANNOUNCE_CHANNEL, **LEASES}
    with Replicas(tmp_path, environment) as running:
        yield running


@pytest.fixture
def slack(double: SlackApiDouble, room: str, replicas: Replicas) -> SlackTraffic:
    """Alice typing commands in the war room, and Slack's events, sent to the replicas."""
    return SlackTraffic(
        double,
        signing_secret=SIGNING_SECRET,
        user_id=ALICE,
        channel_id=room,
        command=replicas.settings.command_name,
    )

"""The same Slack request twice, at one replica or at two: acted on once.

A replay is byte for byte the request Slack signed (same body, same timestamp, same
signature); a redelivered event carries the same event_id.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.storage.models import EventKind, Incident, TimelineEvent
from tests.support.exactly_once import (
    chat_problems,
    incident_chats,
    numbers_by_title,
    wait_saved,
    wait_settled,
)
from tests.support.replica_processes import Replicas
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_traffic import SlackTraffic
from tests.support.slack_users import ALICE, BOB
from tests.support.waiting import eventually

pytestmark = pytest.mark.postgres

SAVED_SECONDS = 30.0
SETTLED_SECONDS = 60.0


def channel_of(database: Engine, title: str) -> str:
    """The incident's channel, once its summary is posted there."""
    with Session(database) as session:
        incident = session.scalar(select(Incident).where(Incident.title == title))
        assert incident is not None, f"{title} is not in the database"
        assert incident.channel_id and incident.summary_message_ref, f"{title} has no channel yet"
        return incident.channel_id


def timeline_entries(database: Engine, source_ref: str) -> list[TimelineEvent]:
    with Session(database) as session:
        query = select(TimelineEvent).where(
            TimelineEvent.kind == EventKind.CHAT_MESSAGE, TimelineEvent.source_ref == source_ref
        )
        return list(session.scalars(query))


def thread_replies(double: SlackApiDouble, channel: str, ts: str) -> list[str]:
    return [
        str(message.get("text"))
        for message in double.messages_in(channel)
        if message.get("thread_ts") == ts and message["ts"] != ts
    ]


def test_a_replayed_slash_command_declares_one_incident(
    replicas: Replicas, slack: SlackTraffic, database: Engine, double: SlackApiDouble
) -> None:
    first, second = replicas.start(2)
    title = "Search results are empty"
    request = slack.slash_request(f"declare sev2 {title}", "declare")

    assert slack.send(request, first).status == 200
    slack.at_once(request, [first, second])  # the replays, to the same replica and the other

    wait_saved(database, [title], SAVED_SECONDS)
    wait_settled(double, database, SETTLED_SECONDS)
    numbers = numbers_by_title(database)[title]
    assert len(numbers) == 1, f"one request declared {len(numbers)} incidents: {numbers}"
    chats = incident_chats(double, replicas.settings.announce_channel)
    assert chat_problems(chats, numbers) == []


def test_the_same_reaction_at_two_replicas_at_once_goes_on_the_timeline_once(
    replicas: Replicas, slack: SlackTraffic, database: Engine, double: SlackApiDouble
) -> None:
    first, second = replicas.start(2)
    title = "Uploads fail for large files"
    assert slack.slash(f"declare sev2 {title}", name="declare", to=first).acknowledged
    channel = eventually(lambda: channel_of(database, title), timeout=SAVED_SECONDS)
    ts = double.add_message(channel, "the proxy limit is 10 MB since this morning", user=BOB)
    marked = {
        "type": "reaction_added",
        "user": ALICE,
        "reaction": replicas.settings.timeline_reaction,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "item_user": BOB,
    }
    request = slack.event_request(marked, event_id="Ev0REACTION1")

    answers = slack.at_once(request, [first, second])

    assert [answer.status for answer in answers] == [200, 200]
    eventually(lambda: timeline_entries(database, f"{channel}/{ts}"), timeout=SAVED_SECONDS)
    eventually(lambda: thread_replies(double, channel, ts), timeout=SETTLED_SECONDS)
    wait_settled(double, database, SETTLED_SECONDS)
    assert len(timeline_entries(database, f"{channel}/{ts}")) == 1
    assert len(thread_replies(double, channel, ts)) == 1
    confirmations = [
        call for call in double.calls_to("chat.postMessage") if call.args.get("thread_ts") == ts
    ]
    assert len(confirmations) == 1

"""Chat work reaches Slack once, whichever replica delivers it and whatever stopped the last one.

Each "replica" here is an `Application` of its own (its own name, delivery pool and
Slack client) on the one test database, talking to the one Slack Web API double,
as two `incident-bot run` processes would; tests/replicas runs real processes.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.app import Application
from bot.chat.port import Context, Message
from bot.chat.slack.client import SlackChat
from bot.chat.slack.web_client import make_web_client
from bot.clock import utc_now
from bot.storage.delivery_claims import DeliveryClaims
from bot.storage.models import DeliveryLease, Incident, OutboxItem
from bot.storage.replicas import LeaseTerms
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_users import ALICE
from tests.support.waiting import eventually


@pytest.fixture
def replicas(settings, session_factory, double: SlackApiDouble) -> Iterator[list[Application]]:
    """Two replicas delivering in the background, as `run` starts them."""
    configured = dataclasses.replace(
        settings, slack_bot_token=double.token, slack_api_url=double.base_url
    )
    started = []
    for _ in range(2):
        chat = SlackChat(make_web_client(double.token, double.base_url))
        application = Application(
            configured, session_factory=session_factory, chat=chat, deliver_in_background=True
        )
        application.deliverer.start(interval_seconds=0.05)
        started.append(application)
    yield started
    for application in started:
        application.deliverer.stop()


def declare(application: Application, title: str) -> None:
    reply = application.handler.handle(
        f"declare sev2 {title}", Context(actor=ALICE, channel_id=None)
    )
    assert reply is not None and reply.message.tone == "success", reply


def all_delivered(session_factory) -> bool:
    with session_factory() as session:
        items = session.scalars(select(OutboxItem)).all()
        return bool(items) and all(item.delivered_at is not None for item in items)


def created_channels(double: SlackApiDouble) -> Counter[str]:
    """How many channels were made for each incident number (inc-<n>-...)."""
    names = [
        call.response["channel"]["name"]
        for call in double.calls_to("conversations.create")
        if call.response.get("ok")
    ]
    return Counter(name.split("-")[1] for name in names)


def test_two_replicas_deliver_each_incidents_work_once(replicas, double, session_factory):
    for number in range(20):
        declare(replicas[number % 2], f"Checkout fault {number}")
    for number in range(1, 21):
        replicas[number % 2].handler.handle(
            f"status INC-{number} identified", Context(actor=ALICE, channel_id=None)
        )

    eventually(lambda: all_delivered(session_factory), timeout=30)

    assert created_channels(double) == Counter({str(n): 1 for n in range(1, 21)})
    with session_factory() as session:
        incidents = session.scalars(select(Incident).order_by(Incident.number)).all()
    announcements = [m["text"] for m in double.messages_in(double.channel_by_name("incidents").id)]
    for incident in incidents:
        messages = double.messages_in(incident.channel_id)
        summaries = [m for m in messages if m["ts"] == incident.summary_message_ref]
        changes = [m for m in messages if "Status changed" in m.get("text", "")]
        assert len(summaries) == 1 and len(changes) == 1, incident.reference
        assert double.channel(incident.channel_id).pins == [incident.summary_message_ref]
        assert sum(incident.reference + " " in text for text in announcements) == 1


def test_a_dead_replicas_lease_lapses_and_another_delivers_its_work(
    settings, session_factory, double
):
    configured = dataclasses.replace(
        settings, slack_bot_token=double.token, slack_api_url=double.base_url
    )
    chat = SlackChat(make_web_client(double.token, double.base_url))
    survivor = Application(
        configured, session_factory=session_factory, chat=chat, deliver_in_background=True
    )
    declare(survivor, "Payments are slow")
    with session_factory() as session:
        incident_id = session.scalars(select(Incident.id)).one()
    # A replica took the incident's delivery and was killed: its lease runs 30 s more.
    dead = DeliveryClaims(session_factory, terms=LeaseTerms.of("killed", 30))
    assert dead.claim(incident_id)
    assert survivor.deliverer.deliver_pending() == 2  # a live lease is left alone
    assert double.calls_to("conversations.create") == []

    survivor.deliverer.start(interval_seconds=0.05)
    try:
        with session_factory() as session:  # the dead replica's lease lapses
            session.execute(
                update(DeliveryLease).values(lease_until=utc_now() - timedelta(seconds=1))
            )
            session.commit()
        eventually(lambda: all_delivered(session_factory), timeout=10)
    finally:
        survivor.deliverer.stop()
    assert created_channels(double) == Counter({"1": 1})


@pytest.fixture
def one_replica(settings, session_factory, double: SlackApiDouble) -> Application:
    configured = dataclasses.replace(
        settings, slack_bot_token=double.token, slack_api_url=double.base_url
    )
    chat = SlackChat(make_web_client(double.token, double.base_url))
    return Application(
        configured, session_factory=session_factory, chat=chat, deliver_in_background=True
    )


def tried_before(session_factory, **incident_values: str) -> Incident:
    """As if a replica had begun the incident's channel set-up and been killed mid-call."""
    with session_factory() as session:
        session.execute(update(OutboxItem).values(attempted_at=utc_now()))
        if incident_values:
            session.execute(update(Incident).values(**incident_values))
        session.commit()
        return session.scalars(select(Incident)).one()


def test_a_channel_a_killed_replica_created_is_found_not_made_twice(
    one_replica, double, session_factory
):
    declare(one_replica, "Payments are slow")
    chat = SlackChat(make_web_client(double.token, double.base_url))
    made = chat.create_channel("inc-1-payments-are-slow")  # the call whose answer was lost
    tried_before(session_factory)

    assert one_replica.deliverer.deliver_pending() == 0

    with session_factory() as session:
        incident = session.scalars(select(Incident)).one()
    assert incident.channel_id == made.id
    assert len(double.calls_to("conversations.create")) == 1
    assert double.channel(made.id).pins == [incident.summary_message_ref]


def test_a_summary_and_announcement_a_killed_replica_posted_are_not_posted_twice(
    one_replica, double, session_factory
):
    chat = SlackChat(make_web_client(double.token, double.base_url))
    chat.call("conversations_join", channel=double.channel_by_name("incidents").id)  # to read it
    declare(one_replica, "Payments are slow")
    made = chat.create_channel("inc-1-payments-are-slow")
    with session_factory() as session:
        incident_id = session.scalars(select(Incident.id)).one()
        announce_id = session.scalars(
            select(OutboxItem.id).where(OutboxItem.kind == "announce_declared")
        ).one()
    # Both posts reached Slack; the replica died before it could store their refs.
    summary = chat.post(made.id, Message("INC-1 summary"), marker=f"summary:{incident_id}")
    chat.post("incidents", Message("INC-1 declared"), marker=f"outbox:{announce_id}")
    tried_before(session_factory, channel_id=made.id, channel_name=made.name)

    assert one_replica.deliverer.deliver_pending() == 0

    announcements = double.messages_in(double.channel_by_name("incidents").id)
    assert [m["text"] for m in announcements] == ["INC-1 declared"]
    assert [m["ts"] for m in double.messages_in(made.id)] == [summary]
    assert double.channel(made.id).pins == [summary]

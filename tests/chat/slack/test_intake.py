"""Durable before acknowledged: each Slack request is stored before its ack, acted on once,
and replayed when the replica that stored it never handled it.

Requests go in signed through the real Bolt path (`BotServer`); the database fails the
way a server that is away makes the driver fail, injected where SQLAlchemy runs the
driver: a statement hook raising the driver's own error, and a commit that lands and
then reports a broken connection. Nothing of the bot's own code is replaced.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.storage import database
from bot.storage.models import InboxRequest, Incident, TimelineEvent
from tests.support.signing import slack_signature
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_harness import SIGNING_SECRET, BotServer, set_up, unhandled_requests
from tests.support.slack_users import ALICE, BOB
from tests.support.waiting import eventually

FORM = "application/x-www-form-urlencoded"
KEPT = "The database is not answering; your command is kept and will run as soon as it is back."
SHORT_LEASE = 2  # seconds: a request left unhandled is replayed within about three
SET_UP_WAIT = 10  # a channel is set up in the background, after the declare is answered


# --------------------------------------------------------------------------- the database failing


def connection_lost(dialect: str) -> Exception:
    """The driver's own error for a server that went away, as it raises it."""
    if dialect == "postgresql":
        return psycopg.OperationalError(
            "consuming input failed: server closed the connection unexpectedly"
        )
    return sqlite3.OperationalError("disk I/O error")


class DatabaseAway:
    """While `failing` says so for a statement, the driver fails it as a lost server would."""

    def __init__(self, engine: Engine) -> None:
        self.failing: Callable[[str], bool] | None = None
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.failing is not None and self.failing(statement):
            raise connection_lost(conn.dialect.name)


class CommitThenBreak:
    """The next commit that declares an incident lands, then reports a broken connection."""

    def __init__(self, session_factory: sessionmaker[Session], dialect: str) -> None:
        self.armed = False
        self.broke = 0
        self.dialect = dialect
        event.listen(session_factory, "after_flush", self._after_flush)
        event.listen(session_factory, "after_commit", self._after_commit)

    def _after_flush(self, session: Session, _context: Any) -> None:
        if any(isinstance(new, Incident) for new in session.new):
            session.info["declares"] = True

    def _after_commit(self, session: Session) -> None:
        if self.armed and session.info.pop("declares", False):
            self.armed = False
            self.broke += 1
            lost = connection_lost(self.dialect)
            raise OperationalError("COMMIT", None, lost, connection_invalidated=True)


@pytest.fixture
def own_engine(settings: Settings) -> Iterator[Engine]:
    """An engine of the bot's own on the test database, for faults only the bot meets."""
    engine = database.make_engine(settings.database_url)
    yield engine
    engine.dispose()


# --------------------------------------------------------------------------- helpers


def count(session_factory: sessionmaker[Session], model: Any) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def stored(session_factory: sessionmaker[Session], key: str) -> InboxRequest | None:
    with session_factory() as session:
        return session.get(InboxRequest, key)


def signed_twice(bot: BotServer, fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """A form body and the headers that sign it, to send byte for byte more than once."""
    body = urlencode(fields).encode()
    timestamp = str(int(time.time()))
    return body, {
        "timestamp": timestamp,
        "signature": slack_signature(SIGNING_SECRET, timestamp, body),
    }


def texts(double: SlackApiDouble, response_url: str) -> list[str]:
    return [answer["text"] for answer in double.responses_to(response_url)]


def mention(channel: str, text: str, bot_user: str) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": ALICE,
        "channel": channel,
        "text": f"<@{bot_user}> {text}",
        "ts": f"{time.time():.6f}",
    }


# --------------------------------------------------------------------------- arriving twice


def test_a_byte_identical_replay_of_a_slash_command_declares_once(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    fields = bot.slash_fields(
        "declare sev2 Checkout is down", user=ALICE, channel=room, response_url="declare"
    )
    body, signature = signed_twice(bot, fields)

    first = bot.post(body, FORM, **signature)
    again = bot.post(body, FORM, **signature)

    assert (first.status, again.status) == (200, 200)
    assert again.body == b""
    eventually(lambda: texts(double, "declare"))
    eventually(lambda: set_up(session_factory), SET_UP_WAIT)
    bot.settle()
    assert count(session_factory, Incident) == 1
    assert len(texts(double, "declare")) == 1  # the replay was acknowledged, and that is all
    assert "Declared INC-1 (SEV2): Checkout is down" in texts(double, "declare")[0]
    assert len(double.calls_to("conversations.create")) == 1
    assert unhandled_requests(session_factory) == []


def test_a_redelivered_event_has_one_effect(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory
):
    asked = mention(room, "declare sev2 Search is slow", double.bot_user_id)

    assert bot.event(asked, event_id="Ev-declare").status == 200
    assert bot.event(asked, event_id="Ev-declare", retry_num=1).status == 200
    assert bot.event(asked, event_id="Ev-declare", retry_num=2).status == 200

    told = eventually(lambda: double.ephemerals_in(room))
    bot.settle()
    assert count(session_factory, Incident) == 1
    assert len(double.ephemerals_in(room)) == 1
    assert "Declared INC-1 (SEV2): Search is slow" in told[0]["text"]
    handled = stored(session_factory, "event:Ev-declare")
    assert handled is not None and handled.handled_at is not None and handled.attempts == 1


@pytest.mark.parametrize("migrated_engine", ["postgres"], indirect=True)
def test_one_event_sent_to_two_replicas_at_once_has_one_effect(
    settings: Settings, session_factory, double: SlackApiDouble, room: str
):
    with (
        BotServer(settings, session_factory, double) as one,
        BotServer(settings, session_factory, double) as other,
    ):
        declared = one.slash("declare sev2 Checkout is down", user=ALICE, channel=room)
        assert declared.status == 200
        found = eventually(lambda: set_up(session_factory), SET_UP_WAIT)
        channel = found.channel_id
        ts = double.add_message(channel, "p99 is back under 300 ms", user=BOB)
        pin = {
            "type": "reaction_added",
            "user": ALICE,
            "reaction": settings.timeline_reaction,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "item_user": BOB,
        }
        body = one.event_body(pin, event_id="Ev-pin-both")
        start = threading.Barrier(2)
        answers: list[int] = []

        def send(replica: BotServer) -> None:
            start.wait()
            answers.append(replica.post_json(body).status)

        senders = [threading.Thread(target=send, args=(r,)) for r in (one, other)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        assert answers == [200, 200]

        confirmations = eventually(lambda: thread_replies(double, channel, ts))
        one.settle()
        other.settle()
        assert len(captured(session_factory)) == 1
        assert len(thread_replies(double, channel, ts)) == len(confirmations) == 1


def captured(session_factory: sessionmaker[Session]) -> list[TimelineEvent]:
    with session_factory() as session:
        query = select(TimelineEvent).where(TimelineEvent.kind == "chat_message")
        return list(session.scalars(query))


def thread_replies(double: SlackApiDouble, channel: str, ts: str) -> list[dict[str, Any]]:
    return [m for m in double.messages_in(channel) if m.get("thread_ts") == ts and m["ts"] != ts]


# --------------------------------------------------------------------------- a replica that died


def store_orphan(
    session_factory: sessionmaker[Session], key: str, body: dict[str, Any], attempts: int = 1
) -> None:
    """A request a replica stored and acknowledged, then died before acting on."""
    long_ago = datetime.now(UTC) - timedelta(minutes=1)
    with session_factory() as session:
        session.add(
            InboxRequest(
                key=key,
                received_at=long_ago,
                body=body,
                owner="a-replica-that-died",
                lease_until=long_ago + timedelta(seconds=20),
                attempts=attempts,
            )
        )
        session.commit()


def test_a_request_its_replica_never_handled_is_replayed_and_acted_on_once(
    settings: Settings, session_factory, double: SlackApiDouble, room: str
):
    with BotServer(settings, session_factory, double) as sender:
        fields = sender.slash_fields(
            "declare sev1 Payments fail", user=ALICE, channel=room, response_url="orphan"
        )
    key = f"command:{fields['trigger_id']}"
    store_orphan(session_factory, key, fields)

    with BotServer(settings, session_factory, double) as bot:
        answer = eventually(lambda: texts(double, "orphan"))
        bot.settle()
        replayed = stored(session_factory, key)

    assert "Declared INC-1 (SEV1): Payments fail" in answer[0]
    assert len(texts(double, "orphan")) == 1
    assert count(session_factory, Incident) == 1
    assert replayed is not None and replayed.handled_at is not None
    assert (replayed.owner, replayed.attempts) == (bot.application.replica, 2)


def test_a_request_replayed_too_often_is_given_up_and_logged(
    settings: Settings, session_factory, double: SlackApiDouble, room: str, caplog
):
    with BotServer(settings, session_factory, double) as sender:
        fields = sender.slash_fields("declare sev1 Poison", user=ALICE, channel=room)
    key = f"command:{fields['trigger_id']}"
    store_orphan(session_factory, key, fields, attempts=5)

    with BotServer(settings, session_factory, double):
        gave_up = eventually(lambda: stored(session_factory, key).failed_at)

    assert gave_up is not None
    assert stored(session_factory, key).handled_at is None
    assert count(session_factory, Incident) == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [f"Gave up on {key} after 5 attempts; it was never handled"]


def test_requests_handled_a_day_ago_are_forgotten_and_newer_ones_kept(
    settings: Settings, session_factory, double: SlackApiDouble
):
    now = datetime.now(UTC)
    ages = {"old": timedelta(days=1, minutes=1), "new": timedelta(hours=23)}
    with session_factory() as session:
        for key, age in ages.items():
            moment = now - age
            session.add(InboxRequest(key=key, received_at=moment, handled_at=moment, attempts=1))
        moment = now - timedelta(days=2)  # given up: kept a week, for someone to look at
        session.add(InboxRequest(key="poison", received_at=moment, failed_at=moment, attempts=5))
        session.commit()

    with BotServer(settings, session_factory, double) as bot:
        bot.replayer.forget_old()  # its own rounds do the same, every few seconds

    assert stored(session_factory, "old") is None
    assert stored(session_factory, "new") is not None
    assert stored(session_factory, "poison") is not None


# --------------------------------------------------------------------------- the database away


def test_a_request_the_database_cannot_store_is_not_acknowledged(
    settings: Settings,
    own_engine: Engine,
    session_factory,
    double: SlackApiDouble,
    room: str,
    caplog: pytest.LogCaptureFixture,
):
    away = DatabaseAway(own_engine)
    asked = mention(room, "declare sev2 Checkout is down", double.bot_user_id)
    with BotServer(settings, database.make_session_factory(own_engine), double) as bot:
        away.failing = lambda statement: True
        refused = bot.event(asked, event_id="Ev-away")
        away.failing = None

        assert refused.status >= 500
        assert count(session_factory, InboxRequest) == 0
        assert double.ephemerals_in(room) == []
        said = [r for r in caplog.records if r.name == "bot.chat.slack.intake"]
        assert [r.getMessage() for r in said] == [
            "Did not acknowledge event:Ev-away: the database did not store it (disk I/O error)"
            if own_engine.dialect.name == "sqlite"
            else "Did not acknowledge event:Ev-away: the database did not store it "
            "(consuming input failed: server closed the connection unexpectedly)"
        ]
        assert not any(r.exc_info for r in said)

        # Not acknowledged, Slack delivers it again: now it is stored and acted on.
        assert bot.event(asked, event_id="Ev-away", retry_num=1).status == 200
        told = eventually(lambda: double.ephemerals_in(room))
        bot.settle()
    assert count(session_factory, Incident) == 1
    assert "Declared INC-1" in told[0]["text"]


def test_a_command_the_database_does_not_take_is_kept_and_runs_once_it_is_back(
    settings: Settings, own_engine: Engine, session_factory, double: SlackApiDouble, room: str
):
    away = DatabaseAway(own_engine)
    short = dataclasses.replace(settings, inbox_lease_seconds=SHORT_LEASE)
    with BotServer(short, database.make_session_factory(own_engine), double) as bot:
        # Storing the request works; everything after it fails until the database is back.
        away.failing = lambda statement: not statement.startswith(("INSERT INTO inbox", "BEGIN"))
        answer = bot.slash(
            "declare sev2 Checkout is down", user=ALICE, channel=room, response_url="d"
        )
        assert (answer.status, answer.body) == (200, b"")
        assert eventually(lambda: texts(double, "d"), timeout=10) == [KEPT]
        assert unhandled_requests(session_factory) != []
        assert count(session_factory, Incident) == 0

        away.failing = None
        both = eventually(lambda: len(texts(double, "d")) == 2 and texts(double, "d"), timeout=10)
        bot.settle()
    assert both[1].startswith("Declared INC-1 (SEV2): Checkout is down")
    assert count(session_factory, Incident) == 1
    assert unhandled_requests(session_factory) == []


def test_a_commit_that_lands_as_its_connection_breaks_is_told_done(
    settings: Settings, own_engine: Engine, session_factory, double: SlackApiDouble, room: str
):
    bot_sessions = database.make_session_factory(own_engine)
    breaking = CommitThenBreak(bot_sessions, own_engine.dialect.name)
    with BotServer(settings, bot_sessions, double) as bot:
        breaking.armed = True
        bot.slash("declare sev2 Checkout is down", user=ALICE, channel=room, response_url="d")
        told = eventually(lambda: double.responses_to("d"))
        bot.settle()

    assert breaking.broke == 1
    assert count(session_factory, Incident) == 1
    assert told[0]["text"].startswith("Done: it was recorded")
    for failure in ("fail", "wrong", "try again", "not answering"):
        assert failure not in told[0]["text"].lower()
    assert len(told) == 1
    assert unhandled_requests(session_factory) == []

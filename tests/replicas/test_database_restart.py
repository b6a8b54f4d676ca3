"""PostgreSQL going away under load, as in a restart: nothing acknowledged is lost, and
nobody is told their declare failed when it was saved.

The replicas reach the server through a forwarder the test cuts for a few seconds (every
connection closed, new ones refused) while declares come in: some before the cut, some
during it, some after it is back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.support.exactly_once import saved_twice, wait_saved, wait_settled
from tests.support.pg_proxy import PostgresProxy
from tests.support.replica_processes import Replicas
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_requests import LOOPBACK
from tests.support.slack_traffic import Sent, SlackTraffic
from tests.support.waiting import eventually

pytestmark = pytest.mark.postgres

BEFORE, DURING, AFTER = 30, 20, 10  # declares sent before the cut, while it lasts, after it
CUT_AFTER = 10  # declares acknowledged before the cut
OUTAGE_SECONDS = 5.0
CONCURRENCY = 10
SAVED_SECONDS = 20.0  # a request stored before the cut runs once the server is back
SETTLED_SECONDS = 90.0
TOLD_FAILED = ("failed", "went wrong", "try again")


@pytest.fixture
def proxy(database: Engine) -> Iterator[PostgresProxy]:
    """Between the replicas and the server (set up before them, so it outlives them)."""
    server = database.url
    with PostgresProxy(server.host or LOOPBACK, server.port or 5432) as running:
        yield running


def told(sent: Sent, double: SlackApiDouble) -> list[str]:
    """Everything the person was told about one command: the ack's body, then each answer
    posted to its response_url."""
    answers = [sent.answer.text] if sent.answer.body else []
    return answers + [json.dumps(answer) for answer in double.responses_to(sent.name)]


def test_a_database_restart_under_load_loses_no_acknowledged_declare_and_tells_nobody_it_failed(
    proxy: PostgresProxy,
    replicas: Replicas,
    slack: SlackTraffic,
    database: Engine,
    double: SlackApiDouble,
) -> None:
    through_proxy = database.url.set(host=LOOPBACK, port=proxy.port)
    started = replicas.start(
        2, overrides={"DATABASE_URL": through_proxy.render_as_string(hide_password=False)}
    )
    titles = [f"Login times out for tenant {index}" for index in range(BEFORE + DURING + AFTER)]
    commands = [(f"declare-{index}", f"declare sev2 {title}") for index, title in enumerate(titles)]

    before = slack.spread(commands[:BEFORE], started, concurrency=CONCURRENCY)
    eventually(lambda: before.acknowledged() >= CUT_AFTER, timeout=30)
    proxy.cut(OUTAGE_SECONDS)
    during = slack.spread(commands[BEFORE : BEFORE + DURING], started, concurrency=CONCURRENCY)
    eventually(lambda: proxy.up, timeout=OUTAGE_SECONDS + 5, message="the proxy is back")
    after = slack.spread(commands[BEFORE + DURING :], started, concurrency=CONCURRENCY)
    sent = before.wait() + during.wait() + after.wait()

    assert proxy.cut_connections > 0, "the cut closed none of the replicas' connections"

    title_of = {name: title for (name, _), title in zip(commands, titles, strict=True)}
    acknowledged = [title_of[one.name] for one in sent if one.acknowledged]
    saved = wait_saved(database, acknowledged, SAVED_SECONDS)
    assert saved_twice(saved, titles) == []
    wait_settled(double, database, SETTLED_SECONDS)
    misled = [
        f"{one.name}: {text}"
        for one in sent
        if title_of[one.name] in saved
        for text in told(one, double)
        if any(words in text.lower() for words in TOLD_FAILED)
    ]
    assert misled == [], f"{len(misled)} replies said a saved declare failed"

"""`/healthz`, `/readyz` and `/metrics` on the HTTP server `run` serves, over real HTTP.

The bot is the one the Slack harness serves (built and served as `run` does it); its
Web API calls go to the double. Metrics are read back with prometheus_client's own parser.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.storage import database
from bot.storage.models import Incident
from bot.storage.outbox import RefreshSummary, enqueue
from tests.support.health import get, sample, samples
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_harness import BotServer
from tests.support.slack_users import ALICE
from tests.support.waiting import eventually

HELLO = """
from bot.runbooks.sdk import runbook, step

@runbook(name="hello", summary="Says hello", allowed=["anyone"])
class Hello:
    @step
    def greet(self, ctx):
        ctx.log("hello")
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "runbooks"
    path.mkdir()
    (path / "hello.py").write_text(textwrap.dedent(HELLO), encoding="utf-8")
    return path


@pytest.fixture
def bot(
    settings: Settings,
    session_factory: sessionmaker[Session],
    double: SlackApiDouble,
    folder: Path,
) -> Iterator[BotServer]:
    configured = dataclasses.replace(settings, runbook_dirs=(folder,), replica_id="replica-7")
    with BotServer(configured, session_factory, double) as server:
        yield server
        server.application.runbooks.shutdown()


def declare(bot: BotServer, room: str, text: str, number: int) -> None:
    answer = bot.slash(f"declare {text}", user=ALICE, channel=room, response_url=f"d{number}")
    assert answer.status == 200
    eventually(lambda: bot.double.responses_to(f"d{number}"))


def test_healthz_answers_while_the_process_serves(bot: BotServer):
    assert get(bot.port, "/healthz") == (200, "ok\n")
    assert get(bot.port, "/nowhere")[0] == 404


def test_readyz_is_ready_on_a_current_database_with_nothing_stuck(bot: BotServer):
    assert get(bot.port, "/readyz") == (200, "ready\n")


def test_readyz_says_delivery_is_stalled_when_old_chat_work_waits(
    bot: BotServer, session_factory: sessionmaker[Session], room: str
):
    declare(bot, room, "sev2 Checkout is down", 1)
    bot.double.outage = True  # nothing is delivered from now on
    with session_factory() as session:
        incident = session.query(Incident).one()
        long_ago = datetime.now(UTC) - timedelta(seconds=bot.settings.ready_outbox_max_age + 60)
        enqueue(session, incident=incident, work=RefreshSummary(), now=long_ago)
        session.commit()
    status, body = get(bot.port, "/readyz")
    assert status == 503
    assert body.startswith("not ready: chat delivery is stalled: the oldest pending item")
    assert sample(bot.port, "incident_bot_outbox_pending") >= 1
    assert sample(bot.port, "incident_bot_outbox_oldest_pending_seconds") >= 360


@pytest.mark.parametrize(("revision", "shown"), [("0002", "0002"), ("base", "no revision (empty)")])
def test_readyz_says_the_schema_is_behind_after_a_downgrade(
    settings: Settings, double: SlackApiDouble, tmp_path: Path, revision: str, shown: str
):
    engine = database.make_engine(f"sqlite:///{tmp_path / 'behind.db'}")
    database.upgrade(engine)
    database.downgrade(engine, revision)
    configured = dataclasses.replace(settings, database_url=str(engine.url))
    with BotServer(configured, database.make_session_factory(engine), double) as bot:
        status, body = get(bot.port, "/readyz")
    engine.dispose()
    assert status == 503
    assert body.startswith(
        f"not ready: the database schema is at {shown}, not the newest migration"
    )


def test_readyz_says_the_database_is_unreachable(
    settings: Settings, double: SlackApiDouble, tmp_path: Path
):
    engine = database.make_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'bot.db'}")
    with BotServer(settings, database.make_session_factory(engine), double) as bot:
        status, body = get(bot.port, "/readyz")
        assert get(bot.port, "/healthz")[0] == 200  # alive, only not ready
    assert status == 503
    assert body == "not ready: the database is unreachable (OperationalError)\n"


def test_metrics_count_acks_slack_calls_and_open_incidents(bot: BotServer, room: str):
    assert sample(bot.port, "incident_bot_replica", replica="replica-7") == 1
    before = samples(bot.port)
    declare(bot, room, "sev2 Checkout is down", 1)
    declare(bot, room, "sev1 Payments are down", 2)
    eventually(lambda: sample(bot.port, "incident_bot_outbox_pending") == 0)
    after = samples(bot.port)
    acks = ("incident_bot_acks_total", (("outcome", "ok"),))
    assert after[acks] - before.get(acks, 0) == 2
    assert after[("incident_bot_ack_seconds_count", ())] >= 2
    created = (
        "incident_bot_slack_api_calls_total",
        (("method", "conversations.create"), ("outcome", "ok")),
    )
    assert after[created] == len(bot.double.calls_to("conversations.create")) == 2
    assert sample(bot.port, "incident_bot_open_incidents", severity="SEV1") == 1
    assert sample(bot.port, "incident_bot_open_incidents", severity="SEV2") == 1


def test_metrics_count_each_429_by_method(bot: BotServer, room: str):
    bot.double.fail_next("conversations.create", status=429, retry_after=1)
    declare(bot, room, "sev2 Checkout is down", 1)
    eventually(lambda: bot.double.channel_by_name("inc-1-checkout-is-down") is not None, 10)
    limited = sample(
        bot.port,
        "incident_bot_slack_api_calls_total",
        method="conversations.create",
        outcome="rate_limited",
    )
    assert limited == 1
    assert (
        sample(
            bot.port,
            "incident_bot_slack_api_calls_total",
            method="conversations.create",
            outcome="ok",
        )
        == 1
    )


def test_metrics_count_finished_runbook_runs_by_outcome(bot: BotServer, room: str):
    declare(bot, room, "sev2 Checkout is down", 1)
    answer = bot.slash("runbook run INC-1 hello", user=ALICE, channel=room, response_url="run")
    assert answer.status == 200
    eventually(
        lambda: sample(bot.port, "incident_bot_runbook_runs_total", outcome="succeeded") == 1, 30
    )


def test_metrics_count_a_refused_request_as_an_error_ack(bot: BotServer, room: str):
    answer = bot.slash("help", user=ALICE, channel=room, signed=False)
    assert answer.status == 401
    assert sample(bot.port, "incident_bot_acks_total", outcome="error") == 1
    assert sample(bot.port, "incident_bot_acks_total", outcome="ok") == 0

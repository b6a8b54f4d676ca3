"""Declares spread over replicas behind a balancer: each incident once, its chat work once.

A hundred declares go round-robin over the replicas, twenty at a time, then a status change
for each; one replica may be killed (SIGKILL) in the middle and started again. Counted in
the database and in the Slack double: INC numbers, channels created, summaries posted and
pinned, announcements.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.support.exactly_once import (
    chat_problems,
    incident_chats,
    numbers_by_title,
    outbox_given_up,
    saved_twice,
    wait_saved,
    wait_settled,
)
from tests.support.replica_processes import Replicas
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_traffic import SlackTraffic, not_acknowledged
from tests.support.waiting import eventually

pytestmark = pytest.mark.postgres

DECLARES = 100
CONCURRENCY = 20
KILL_AFTER = 30  # declares acknowledged before one replica is killed
SAVED_SECONDS = 20.0  # a dead replica's requests are replayed after INBOX_LEASE_SECONDS
SETTLED_SECONDS = 90.0
STATUS_CHANGED = "{ref}: Status changed from investigating to identified"


def declares(titles: list[str]) -> list[tuple[str, str]]:
    return [(f"declare-{index}", f"declare sev2 {title}") for index, title in enumerate(titles)]


@pytest.mark.parametrize("count", [2, 3])
def test_declares_spread_over_replicas_each_get_one_channel_summary_pin_and_announcement(
    count: int, replicas: Replicas, slack: SlackTraffic, database: Engine, double: SlackApiDouble
) -> None:
    started = replicas.start(count)
    titles = [f"Checkout errors on shard {index}" for index in range(DECLARES)]

    sent = slack.spread(declares(titles), started, concurrency=CONCURRENCY).wait()

    assert not_acknowledged(sent) == {}
    saved = wait_saved(database, titles, SAVED_SECONDS)
    assert saved_twice(saved, titles) == []
    numbers = sorted(number for title in titles for number in saved[title])
    gaps = sorted(set(range(1, DECLARES + 1)) - set(numbers))
    assert numbers == list(range(1, DECLARES + 1)), f"missing numbers: {gaps}"

    changes = [(f"status-{number}", f"status INC-{number} identified") for number in numbers]
    others = started[1:] + started[:1]  # not the replica that took the declare
    sent = slack.spread(changes, others, concurrency=CONCURRENCY).wait()

    assert not_acknowledged(sent) == {}
    wait_settled(double, database, SETTLED_SECONDS)
    chats = incident_chats(double, replicas.settings.announce_channel)
    assert chat_problems(chats, numbers, announcements=[STATUS_CHANGED]) == []
    assert outbox_given_up(database) == {}


def test_a_replica_killed_mid_load_loses_no_acknowledged_declare_and_repeats_no_chat_work(
    replicas: Replicas, slack: SlackTraffic, database: Engine, double: SlackApiDouble
) -> None:
    doomed, *survivors = replicas.start(3)
    titles = [f"Payments time out in region {index}" for index in range(DECLARES)]

    load = slack.spread(declares(titles), [doomed, *survivors], concurrency=CONCURRENCY)
    eventually(lambda: load.acknowledged() >= KILL_AFTER, timeout=30)
    doomed.kill()
    acknowledged_before_the_kill = load.acknowledged()
    sent = load.wait()
    doomed.start().wait_ready()

    assert acknowledged_before_the_kill < DECLARES, "the kill came after the load"
    title_of = dict(zip((name for name, _ in declares(titles)), titles, strict=True))
    acknowledged = [title_of[one.name] for one in sent if one.acknowledged]
    saved = wait_saved(database, acknowledged, SAVED_SECONDS)
    assert saved_twice(saved, titles) == []
    wait_settled(double, database, SETTLED_SECONDS)
    numbers = [number for found in numbers_by_title(database).values() for number in found]
    assert chat_problems(incident_chats(double, replicas.settings.announce_channel), numbers) == []
    assert outbox_given_up(database) == {}


def test_a_replica_stopped_by_sigterm_mid_load_exits_cleanly_and_its_work_goes_on(
    replicas: Replicas, slack: SlackTraffic, database: Engine, double: SlackApiDouble
) -> None:
    leaving, staying = replicas.start(2)
    titles = [f"Search is stale in shard {index}" for index in range(DECLARES)]

    load = slack.spread(declares(titles), [leaving, staying], concurrency=CONCURRENCY)
    eventually(lambda: load.acknowledged() >= KILL_AFTER, timeout=30)
    assert leaving.terminate() == 0  # as a deploy stops it: cleanly
    sent = load.wait()

    assert "Traceback" not in leaving.log_tail()
    title_of = dict(zip((name for name, _ in declares(titles)), titles, strict=True))
    acknowledged = [title_of[one.name] for one in sent if one.acknowledged]
    saved = wait_saved(database, acknowledged, SAVED_SECONDS)
    assert saved_twice(saved, titles) == []
    wait_settled(double, database, SETTLED_SECONDS)
    numbers = [number for found in numbers_by_title(database).values() for number in found]
    assert chat_problems(incident_chats(double, replicas.settings.announce_channel), numbers) == []
    assert outbox_given_up(database) == {}

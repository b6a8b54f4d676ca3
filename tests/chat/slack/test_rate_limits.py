"""Slack's per-method rate limits: a short Retry-After is waited out in place, a longer one
holds back that method alone (its next calls are refused at once, without asking Slack,
until the wait is over), and /metrics counts each 429 once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.chat.port import ChatUnavailable, Message
from bot.chat.slack.client import SlackChat
from bot.chat.slack.web_client import INLINE_RETRY_SECONDS, make_web_client
from tests.support.slack_double import SlackApiDouble
from tests.support.waiting import eventually

CREATE = "conversations.create"
POST = "chat.postMessage"


class Ticks:
    """A monotonic clock the test moves by hand; sleeping on it moves it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Answers:
    """What the chat tells /metrics: (method, outcome) for each answer, in order."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str]] = []

    def __call__(self, method: str, outcome: str) -> None:
        self.heard.append((method, outcome))

    def of(self, method: str) -> list[str]:
        return [outcome for heard, outcome in self.heard if heard == method]


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
def chat(double: SlackApiDouble, ticks: Ticks, answers: Answers) -> SlackChat:
    client = make_web_client(double.token, double.base_url, answered=answers)
    return SlackChat(client, monotonic=ticks, sleep=ticks.sleep, answered=answers)


def statuses(double: SlackApiDouble, method: str) -> list[int]:
    return [call.http_status for call in double.calls_to(method)]


def test_a_long_retry_after_holds_back_that_method_alone(
    chat: SlackChat, double: SlackApiDouble, ticks: Ticks, answers: Answers, room: str
):
    double.fail_next(CREATE, status=429, retry_after=30)
    with pytest.raises(ChatUnavailable) as first:
        chat.create_channel("inc-7-db")
    assert first.value.retry_after == 30

    ticks.now += 10
    with pytest.raises(ChatUnavailable) as second:
        chat.create_channel("inc-7-db")
    assert second.value.retry_after == 20
    assert statuses(double, CREATE) == [429]  # the second never reached Slack

    with ThreadPoolExecutor(max_workers=1) as other_thread:
        posted = other_thread.submit(chat.post, room, Message("Still investigating"))
        ref = posted.result(timeout=5)
    assert [m["ts"] for m in double.messages_in(room)] == [ref]
    assert answers.of(CREATE) == ["rate_limited", "held"]  # one 429, one call not made
    assert answers.of(POST) == ["ok"]


def test_the_hold_lapses_when_retry_after_is_over(
    chat: SlackChat, double: SlackApiDouble, ticks: Ticks, answers: Answers
):
    double.fail_next(CREATE, status=429, retry_after=5)
    with pytest.raises(ChatUnavailable):
        chat.create_channel("inc-7-db")

    ticks.now += 3
    with pytest.raises(ChatUnavailable) as held:
        chat.create_channel("inc-7-db")
    assert held.value.retry_after == 2

    ticks.now += 1.5  # half a second left: waited out in place, then Slack is asked
    assert chat.create_channel("inc-7-db").name == "inc-7-db"
    assert ticks.slept == [0.5]

    ticks.now += 60
    assert chat.create_channel("inc-8-api").name == "inc-8-api"
    assert ticks.slept == [0.5]
    assert statuses(double, CREATE) == [429, 200, 200]
    assert answers.of(CREATE) == ["rate_limited", "held", "ok", "ok"]


def test_a_short_retry_after_is_retried_in_place_while_other_methods_go_on(
    chat: SlackChat, double: SlackApiDouble, answers: Answers, room: str
):
    assert INLINE_RETRY_SECONDS == 1.0
    double.fail_next(CREATE, status=429, retry_after=1)
    with ThreadPoolExecutor(max_workers=1) as other_thread:
        creating = other_thread.submit(chat.create_channel, "inc-7-db")
        eventually(lambda: statuses(double, CREATE) == [429])

        chat.post(room, Message("Still investigating"))  # while the create waits Retry-After
        assert not creating.done()
        assert creating.result(timeout=10).name == "inc-7-db"

    assert statuses(double, CREATE) == [429, 200]
    assert answers.of(CREATE) == ["rate_limited", "ok"]
    assert answers.of(POST) == ["ok"]


def test_a_retry_after_just_over_the_inline_limit_is_not_waited_in_place(
    chat: SlackChat, double: SlackApiDouble, answers: Answers
):
    double.fail_next(CREATE, status=429, retry_after=2)
    with pytest.raises(ChatUnavailable) as raised:
        chat.create_channel("inc-7-db")

    assert raised.value.retry_after == 2
    assert statuses(double, CREATE) == [429]
    assert answers.of(CREATE) == ["rate_limited"]


def test_each_429_slack_sends_is_counted_once(
    chat: SlackChat, double: SlackApiDouble, answers: Answers
):
    # Retry-After 0: retried in place until slack_sdk's retries run out, then given up.
    double.fail_next(CREATE, status=429, retry_after=0, times=4)
    with pytest.raises(ChatUnavailable) as raised:
        chat.create_channel("inc-7-db")

    assert raised.value.retry_after == 0
    assert statuses(double, CREATE) == [429, 429, 429, 429]
    assert answers.of(CREATE) == ["rate_limited"] * 4
    assert chat.create_channel("inc-7-db").name == "inc-7-db"  # nothing is held after 0 s
    assert answers.of(CREATE) == ["rate_limited"] * 4 + ["ok"]

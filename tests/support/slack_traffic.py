"""Slack's traffic to a set of replicas: signed requests from a pool of threads, answers kept.

Requests go round-robin over the replicas, as a balancer spreads them. A request whose
connection fails (a dead replica) or that gets no answer is "not acknowledged"; an HTTP 200
is "acknowledged". Each slash command has a response_url of its own on the double, named
after the request, so its later answers can be read with `double.responses_to(name)`.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from bot.chat.slack.server import EVENTS_PATH
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_requests import (
    FORM,
    JSON,
    Answer,
    SlashCommand,
    event_body,
    post,
    signed_headers,
    slash_command_body,
)

ANSWER_SECONDS = 10.0  # the sender's own patience; Slack's is 3 s, a late 200 still counts


class Target(Protocol):
    """Where requests go: a replica's name and port."""

    @property
    def name(self) -> str: ...

    @property
    def port(self) -> int: ...


@dataclass(frozen=True)
class Signed:
    """One request exactly as Slack sent it, so it can be sent again byte for byte."""

    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Sent:
    """A slash command sent to one replica and what that replica answered."""

    name: str  # the request's name, and its response_url's name on the double
    replica: str
    answer: Answer

    @property
    def acknowledged(self) -> bool:
        return self.answer.status == 200


def not_acknowledged(sent: Sequence[Sent]) -> dict[str, int]:
    """How many commands each replica did not acknowledge, by answer: {} when all were."""
    refused = Counter(
        f"{one.replica}: "
        + (
            f"HTTP {one.answer.status} {one.answer.text[:60]}".strip()
            if one.answer.status
            else "no answer"
        )
        for one in sent
        if not one.acknowledged
    )
    return dict(refused)


class SlackTraffic:
    """One person typing slash commands in one channel, and Slack delivering events."""

    def __init__(
        self,
        double: SlackApiDouble,
        *,
        signing_secret: str,
        user_id: str,
        channel_id: str,
        command: str,
    ) -> None:
        self.double = double
        self.signing_secret = signing_secret
        self.user_id = user_id
        self.channel_id = channel_id
        self.command = command
        self._triggers = itertools.count(1)
        self._events = itertools.count(1)

    def slash_request(self, text: str, name: str) -> Signed:
        """`text` typed after the command, signed now; answers go to response_url `name`."""
        typed = SlashCommand(
            team_id=self.double.team_id,
            channel_id=self.channel_id,
            user_id=self.user_id,
            user_name=self.user_id.lower(),
            command=self.command,
            response_url=self.double.response_url(name),
        )
        body = slash_command_body(typed, text, f"{next(self._triggers)}.1234567890.trigger")
        return Signed(body, signed_headers(self.signing_secret, body, FORM))

    def event_request(self, event: dict[str, Any], event_id: str | None = None) -> Signed:
        """An Events API delivery, signed now."""
        body = event_body(
            event,
            team_id=self.double.team_id,
            event_id=event_id or f"Ev{next(self._events):08d}",
            bot_user_id=self.double.bot_user_id,
        )
        return Signed(body, signed_headers(self.signing_secret, body, JSON))

    @staticmethod
    def send(request: Signed, to: Target) -> Answer:
        return post(to.port, EVENTS_PATH, request.body, request.headers, timeout=ANSWER_SECONDS)

    def at_once(self, request: Signed, over: Sequence[Target]) -> list[Answer]:
        """Send one request to every target at the same instant (threads released together)."""
        barrier = threading.Barrier(len(over))

        def one(to: Target) -> Answer:
            barrier.wait()
            return self.send(request, to)

        with ThreadPoolExecutor(max_workers=len(over)) as pool:
            return list(pool.map(one, over))

    def slash(self, text: str, *, name: str, to: Target) -> Sent:
        return Sent(name, to.name, self.send(self.slash_request(text, name), to))

    def spread(
        self, commands: Sequence[tuple[str, str]], over: Sequence[Target], *, concurrency: int
    ) -> Load:
        """Send (name, text) commands round-robin over `over`, `concurrency` at a time, in the
        background; the returned Load tells how far it got."""
        return Load(self, commands, over, concurrency)


class Load:
    """Commands on their way, from a pool of threads; answers are kept as they come."""

    def __init__(
        self,
        traffic: SlackTraffic,
        commands: Sequence[tuple[str, str]],
        over: Sequence[Target],
        concurrency: int,
    ) -> None:
        self._lock = threading.Lock()
        self._sent: dict[int, Sent] = {}  # by the command's place in `commands`
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="slack")
        self._futures: list[Future[None]] = [
            self._pool.submit(self._one, traffic, index, name, text, over[index % len(over)])
            for index, (name, text) in enumerate(commands)
        ]
        self._pool.shutdown(wait=False)

    def _one(self, traffic: SlackTraffic, index: int, name: str, text: str, to: Target) -> None:
        sent = traffic.slash(text, name=name, to=to)
        with self._lock:
            self._sent[index] = sent

    def acknowledged(self) -> int:
        with self._lock:
            return sum(sent.acknowledged for sent in self._sent.values())

    def wait(self) -> list[Sent]:
        """Every command's answer (each gives up after ANSWER_SECONDS), in the order given."""
        for future in self._futures:
            future.result()
        with self._lock:
            return [self._sent[index] for index in range(len(self._futures))]

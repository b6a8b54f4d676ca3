"""The Slack double, also noting when each Web API call began and was answered, and what
those times tell about an incident channel's set-up.

Order and overlap, not durations, are what a test can rely on: a call that began after
another was answered had to wait for it (`longest_chain`), calls in flight together
ran side by side (`most_in_flight`). The times are time.monotonic() in the double's
process, which on Linux is one clock for every process (CLOCK_MONOTONIC)::

    with TimedSlackDouble() as double, BotServer(settings, session_factory, double) as bot:
        bot.slash("declare sev2 Checkout is down", user="U0ALICE", channel=room)
        (set_up,) = eventually(lambda: set_ups(double.timed_calls()))
        assert set_up.depth <= 3
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from tests.support.slack_double import SlackApiDouble
from tests.support.slack_double.server import BadBody, Reply, Request, parse_args

WORDS = re.compile(r"[\w-]+")  # channel names and ids are made of these (Slack's rule)


@dataclass(frozen=True)
class TimedCall:
    """One Web API call the double answered, and when it began and was answered."""

    method: str
    ok: bool
    channel: str | None  # the `channel` (or `channel_id`) argument
    created: tuple[str, str] | None  # conversations.create: the new channel's id and name
    words: frozenset[str]  # chat.postMessage: the names and ids its arguments mention
    began: float
    ended: float


class TimedSlackDouble(SlackApiDouble):
    """The project's Slack double, also noting when each Web API call came and was answered."""

    def __init__(self) -> None:
        super().__init__()
        self._timed: list[TimedCall] = []
        self._timed_lock = threading.Lock()

    def __enter__(self) -> TimedSlackDouble:
        self.start()
        return self

    def timed_calls(self, since: float = -math.inf) -> list[TimedCall]:
        """The Web API calls that began at or after `since` (time.monotonic())."""
        with self._timed_lock:
            return [call for call in self._timed if call.began >= since]

    def _answer(self, request: Request) -> Reply:  # the double's one entry for every request
        began = time.monotonic()
        reply = super()._answer(request)
        ended = time.monotonic()
        if request.path.startswith("/api/"):
            call = timed_call(request, reply, began, ended)
            with self._timed_lock:
                self._timed.append(call)
        return reply


def timed_call(request: Request, reply: Reply, began: float, ended: float) -> TimedCall:
    """What a set-up needs to know of one answered Web API request."""
    try:
        args = parse_args(request)
    except BadBody:
        args = {}
    body = json.loads(reply.body) if reply.content_type.startswith("application/json") else {}
    ok = reply.status == 200 and bool(body.get("ok"))
    method = request.path.removeprefix("/api/")
    made = body.get("channel") if method == "conversations.create" and ok else None
    posted = method == "chat.postMessage"
    words = frozenset(WORDS.findall(json.dumps(args))) if posted else frozenset()
    channel = args.get("channel") or args.get("channel_id")
    return TimedCall(
        method=method,
        ok=ok,
        channel=channel if isinstance(channel, str) else None,
        created=(made["id"], made["name"]) if isinstance(made, dict) else None,
        words=words,
        began=began,
        ended=ended,
    )


@dataclass(frozen=True)
class SetUp:
    """An incident channel whose set-up is done: created, summary posted and pinned,
    announced."""

    name: str
    create: TimedCall
    summary: TimedCall
    pin: TimedCall
    announcement: TimedCall
    calls: tuple[TimedCall, ...]  # every set-up call answered by `at`, the create among them

    @property
    def at(self) -> float:
        """When the last of the create, summary, pin and announcement was answered."""
        return max(call.ended for call in (self.create, self.summary, self.pin, self.announcement))

    @property
    def depth(self) -> int:
        """How many of its calls ran one after another (its critical path)."""
        return longest_chain(self.calls)


def set_ups(calls: Sequence[TimedCall]) -> list[SetUp]:
    """The channels whose set-up is done, from the calls: the set-up calls are the create,
    the calls into the new channel and its announcement (the first message elsewhere
    naming it, by name or id); the summary is the first message posted in the channel."""
    created = {call.created[0]: call for call in calls if call.ok and call.created}
    by_name = {call.created[1]: channel for channel, call in created.items() if call.created}
    into: dict[str, list[TimedCall]] = defaultdict(list)
    announced: dict[str, TimedCall] = {}
    for call in calls:
        if not call.ok:
            continue
        if call.channel in created:
            into[call.channel].append(call)
            continue
        for word in call.words:
            channel = word if word in created else by_name.get(word)
            if channel is not None:
                announced.setdefault(channel, call)
    found = []
    for channel, create in created.items():
        own = into[channel]
        summary = next((call for call in own if call.method == "chat.postMessage"), None)
        pin = next((call for call in own if call.method == "pins.add"), None)
        announcement = announced.get(channel)
        if summary is None or pin is None or announcement is None:
            continue
        at = max(create.ended, summary.ended, pin.ended, announcement.ended)
        done = tuple(call for call in (create, *own, announcement) if call.ended <= at)
        name = create.created[1] if create.created else channel
        found.append(SetUp(name, create, summary, pin, announcement, done))
    return found


def longest_chain(calls: Sequence[TimedCall]) -> int:
    """The most calls of which each began after the one before had been answered."""
    ordered = sorted(calls, key=lambda call: call.began)
    depth: list[int] = []
    for index, call in enumerate(ordered):
        before = [depth[i] for i in range(index) if ordered[i].ended <= call.began]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


def most_in_flight(calls: Sequence[TimedCall]) -> int:
    """The most calls that had begun and not yet been answered at any one moment."""
    edges = sorted([(call.began, 1) for call in calls] + [(call.ended, -1) for call in calls])
    running = peak = 0
    for _, step in edges:  # at a tie an answer (-1) sorts before a new call
        running += step
        peak = max(peak, running)
    return peak

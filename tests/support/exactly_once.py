"""Counting what replicas did for each incident, in the database and in the Slack double.

A change done twice (two channels for one incident, a summary pinned twice) shows as a
count other than one; `chat_problems` turns the counts into figures for the assertion
("incidents with 2 channels: 23/100"), so a failure says how much went wrong.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.storage.models import Incident, OutboxItem
from tests.support.slack_double import SlackApiDouble
from tests.support.waiting import eventually

INCIDENT_CHANNEL = re.compile(r"^inc-(\d+)(?:-|$)")
QUIET_SECONDS = 1.0  # no Slack call for this long, and nothing pending: the replicas are done


@dataclass
class IncidentChat:
    """What the double holds of one incident (by its number)."""

    number: int
    channels: list[str] = field(default_factory=list)  # created for it (conversations.create)
    summaries: int = 0  # messages in its channels that are its summary (`INC-n [SEVx, ...`)
    pin_calls: int = 0  # pins.add calls for its channels, whatever the answer
    pinned: int = 0  # messages pinned in its channels
    declared: int = 0  # its declared announcements in the announcements channel
    announced: Counter[str] = field(default_factory=Counter)  # its channels' `INC-n: ...` posts


def incident_chats(double: SlackApiDouble, announce_channel: str) -> dict[int, IncidentChat]:
    """Every incident the double has heard of, by number."""
    chats: dict[int, IncidentChat] = defaultdict(lambda: IncidentChat(0))
    channels: dict[str, int] = {}
    for call in double.calls_to("conversations.create"):
        made = call.response.get("channel") if call.response.get("ok") else None
        found = INCIDENT_CHANNEL.match(made["name"]) if isinstance(made, dict) else None
        if made is not None and found is not None:
            number = int(found.group(1))
            chats[number].number = number
            chats[number].channels.append(made["id"])
            channels[made["id"]] = number
    for call in double.calls_to("pins.add"):
        if call.args.get("channel") in channels:
            chats[channels[call.args["channel"]]].pin_calls += 1
    for channel_id, number in channels.items():
        chat, channel = chats[number], double.channel(channel_id)
        if channel is None:
            continue
        chat.pinned += len(channel.pins)
        for message in channel.messages:
            text = str(message.get("text") or "")
            if text.startswith(f"INC-{number} ["):
                chat.summaries += 1
            elif text.startswith(f"INC-{number}: "):
                chat.announced[text.split(" (by ")[0]] += 1
    for message in double.messages_in(announce_channel):
        declared = re.search(r"\bdeclared INC-(\d+) ", str(message.get("text") or ""))
        if declared is not None:
            number = int(declared.group(1))
            chats[number].number = number
            chats[number].declared += 1
    return dict(chats)


def chat_problems(
    chats: dict[int, IncidentChat], numbers: Iterable[int], *, announcements: Iterable[str] = ()
) -> list[str]:
    """Figures for every count that is not one: channels, summaries, pins, announcements.

    `announcements` are what each incident's channel must have been told once, with `{ref}`
    for its reference (`{ref}: Status changed from investigating to identified`).
    """
    wanted = sorted(numbers)
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    for number in wanted:
        chat = chats.get(number, IncidentChat(number))
        counts["channels"][len(chat.channels)] += 1
        counts["summaries posted"][chat.summaries] += 1
        counts["pins.add calls"][chat.pin_calls] += 1
        counts["messages pinned"][chat.pinned] += 1
        counts["declared announcements"][chat.declared] += 1
        for template in announcements:
            text = template.format(ref=f"INC-{number}")
            counts[f"'{template}' posts"][chat.announced[text]] += 1
    problems = [
        f"incidents with {times} {what}: {incidents}/{len(wanted)}"
        for what, by_times in counts.items()
        for times, incidents in sorted(by_times.items())
        if times != 1
    ]
    strangers = sorted(set(chats) - set(wanted))
    if strangers:
        problems.append(f"chat work for incidents not in the database: {strangers}")
    return problems


def numbers_by_title(engine: Engine) -> dict[str, list[int]]:
    """The incidents in the database: title -> INC numbers (more than one: declared twice)."""
    found: dict[str, list[int]] = defaultdict(list)
    with Session(engine) as session:
        for title, number in session.execute(select(Incident.title, Incident.number)):
            found[title].append(number)
    return dict(found)


def wait_saved(engine: Engine, titles: Iterable[str], timeout: float) -> dict[str, list[int]]:
    """Wait until an incident of each title is in the database; returns numbers_by_title."""
    wanted = list(titles)

    def all_there() -> dict[str, list[int]]:
        saved = numbers_by_title(engine)
        missing = [title for title in wanted if title not in saved]
        assert not missing, (
            f"declares not in the database: {len(missing)}/{len(wanted)}, e.g. {missing[:3]}"
        )
        return saved

    return eventually(all_there, timeout)


def saved_twice(saved: dict[str, list[int]], titles: Iterable[str]) -> list[str]:
    """The titles declared more than once, with their numbers."""
    return [f"{title}: INC-{saved[title]}" for title in titles if len(saved.get(title, [])) > 1]


def outbox_waiting(engine: Engine) -> int:
    """Chat work neither delivered nor given up."""
    with Session(engine) as session:
        query = select(func.count(OutboxItem.id)).where(
            OutboxItem.delivered_at.is_(None), OutboxItem.failed_at.is_(None)
        )
        return session.scalar(query) or 0


def outbox_given_up(engine: Engine) -> dict[str, int]:
    """Chat work the replicas gave up on, counted by kind and why."""
    with Session(engine) as session:
        query = select(OutboxItem).where(OutboxItem.failed_at.is_not(None))
        return dict(Counter(f"{item.kind}: {item.last_error}" for item in session.scalars(query)))


class Quiet:
    """True once the double has had no call for QUIET_SECONDS (asked again and again)."""

    def __init__(self, double: SlackApiDouble) -> None:
        self._double = double
        self._calls = -1
        self._since = time.monotonic()

    def __call__(self) -> bool:
        calls, now = len(self._double.calls), time.monotonic()
        if calls != self._calls:
            self._calls, self._since = calls, now
        return now - self._since >= QUIET_SECONDS


def wait_settled(double: SlackApiDouble, engine: Engine, timeout: float) -> None:
    """Wait until no chat work waits in the database and the double has had no call for
    QUIET_SECONDS: what the replicas were doing is done, doubles included."""
    quiet = Quiet(double)
    eventually(
        lambda: quiet() and outbox_waiting(engine) == 0,
        timeout,
        f"chat work still going on after {timeout} s",
    )

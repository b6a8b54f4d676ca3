"""A chat port double that records every call and can be told to fail."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.chat.port import Channel, ChatRejected, ChatUnavailable, Message
from bot.clock import Clock, utc_now
from bot.commands.grammar import parse_plain_mention


class ChatDown(ChatUnavailable):
    """What the double raises while it is told the chat is unreachable."""


@dataclass(frozen=True)
class MarkedPost:
    """A post made with a marker: what `find_posted` looks through."""

    channel: str
    thread_ref: str | None
    marker: str
    ref: str
    posted_at: datetime


@dataclass
class RecordingChat:
    calls: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)
    channels: dict[str, str] = field(default_factory=dict)
    posts: list[tuple[str, Message]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    down: bool = False
    refuse: set[str] = field(default_factory=set)  # methods that are refused for good
    fail_once: set[str] = field(default_factory=set)  # methods whose next call times out
    groups: dict[str, set[str]] = field(default_factory=dict)  # group -> members
    group_lookups: list[str] = field(default_factory=list)  # kept apart from `calls`
    marked: list[MarkedPost] = field(default_factory=list)
    clock: Clock = utc_now  # when posts are made, for find_posted's `since`

    def _record(self, method: str, *args: object) -> None:
        if self.down:
            raise ChatDown(f"{method}: chat unreachable")
        if method in self.fail_once:
            self.fail_once.discard(method)
            raise ChatDown(f"{method}: timed out")
        if method in self.refuse:
            raise ChatRejected(f"{method}: refused")
        self.calls.append((method, args))

    def create_channel(self, name: str) -> Channel:
        self._record("create_channel", name)
        channel = Channel(id=f"C{len(self.channels) + 1:04d}", name=name)
        self.channels[channel.id] = name
        return channel

    def invite(self, channel_id: str, users: list[str]) -> None:
        self._record("invite", channel_id, tuple(users))

    def set_topic(self, channel_id: str, topic: str) -> None:
        self._record("set_topic", channel_id, topic)

    def set_purpose(self, channel_id: str, purpose: str) -> None:
        self._record("set_purpose", channel_id, purpose)

    def update(self, channel_id: str, message_ref: str, message: Message) -> None:
        self._record("update", channel_id, message_ref, message.text)

    def find_channel(self, name: str) -> Channel | None:
        """The first channel made named `name` or `name-<n>` (all are the bot's)."""
        self._record("find_channel", name)
        named = re.compile(rf"{re.escape(name)}(?:-[0-9]+)?")
        found = next((i for i, made in self.channels.items() if named.fullmatch(made)), None)
        return Channel(id=found, name=self.channels[found]) if found is not None else None

    def post(
        self,
        channel: str,
        message: Message,
        thread_ref: str | None = None,
        *,
        marker: str | None = None,
    ) -> str:
        if thread_ref is None:
            self._record("post", channel, message.text)
        else:
            self._record("post", channel, message.text, thread_ref)
        self.posts.append((channel, message))
        ref = f"{channel}:{len(self.posts)}"
        if marker is not None:
            self.marked.append(MarkedPost(channel, thread_ref, marker, ref, self.clock()))
        return ref

    def find_posted(
        self, channel: str, marker: str, *, since: datetime, thread_ref: str | None = None
    ) -> str | None:
        if thread_ref is None:
            self._record("find_posted", channel, marker)
        else:
            self._record("find_posted", channel, marker, thread_ref)
        return next(
            (
                post.ref
                for post in self.marked
                if (post.channel, post.thread_ref, post.marker) == (channel, thread_ref, marker)
                and _utc(post.posted_at) >= _utc(since)
            ),
            None,
        )

    def pin(self, channel_id: str, message_ref: str) -> None:
        self._record("pin", channel_id, message_ref)

    def upload(self, channel_id: str, filename: str, content: str, title: str) -> None:
        self._record("upload", channel_id, filename, title)
        self.files[filename] = content

    def bookmark(self, channel_id: str, title: str, url: str) -> None:
        self._record("bookmark", channel_id, title, url)

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, word: str) -> str | None:
        return parse_plain_mention(word)

    def group_members(self, group: str) -> set[str]:
        self.group_lookups.append(group)
        return set(self.groups.get(group, ()))

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def texts_in(self, channel: str) -> list[str]:
        return [message.text for target, message in self.posts if target == channel]


def _utc(moment: datetime) -> datetime:
    """An aware moment; a naive one is UTC, as the database keeps it."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

"""A chat port double that records every call and can be told to fail."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.chat.port import Channel, ChatRejected, ChatUnavailable, Message
from bot.commands.grammar import parse_plain_mention


class ChatDown(ChatUnavailable):
    """What the double raises while it is told the chat is unreachable."""


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

    def post(self, channel: str, message: Message, thread_ref: str | None = None) -> str:
        if thread_ref is None:
            self._record("post", channel, message.text)
        else:
            self._record("post", channel, message.text, thread_ref)
        self.posts.append((channel, message))
        return f"{channel}:{len(self.posts)}"

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

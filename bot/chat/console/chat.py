"""The chat port on a terminal: channels in memory, messages printed with rich."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from bot.chat.port import Channel, Message
from bot.clock import Clock, utc_now
from bot.commands.grammar import parse_plain_mention

TONE_STYLES = {"info": "", "success": "green", "warning": "yellow", "error": "bold red"}
HOME_CHANNEL = "general"


@dataclass
class ChatLine:
    author: str
    text: str
    posted_at: datetime


@dataclass(frozen=True)
class MarkedPost:
    """A post that carries a marker, so that `find_posted` finds it again."""

    marker: str
    ref: str
    thread_ref: str | None
    posted_at: datetime


@dataclass
class ConsoleChannel:
    id: str
    name: str
    topic: str = ""
    purpose: str = ""
    members: set[str] = field(default_factory=set)
    history: list[ChatLine] = field(default_factory=list)
    posted: dict[str, Message] = field(default_factory=dict)
    pinned: list[str] = field(default_factory=list)
    bookmarks: list[tuple[str, str]] = field(default_factory=list)
    marked: list[MarkedPost] = field(default_factory=list)


class ConsoleChat:
    """The chat port on a terminal: messages to the current channel are printed in full,
    messages to other channels as a one-line notice."""

    def __init__(
        self,
        console: Console,
        clock: Clock = utc_now,
        files_dir: Path = Path("postmortems"),
        groups: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.console = console
        self.clock = clock
        self.files_dir = files_dir
        self.groups = dict(groups or {})  # a terminal has no groups but configured ones
        self.channels: dict[str, ConsoleChannel] = {}
        self.current = self.add_channel(HOME_CHANNEL).id

    def add_channel(self, name: str, channel_id: str | None = None) -> ConsoleChannel:
        channel = ConsoleChannel(id=channel_id or f"console-{name}", name=name)
        self.channels[channel.id] = channel
        return channel

    def find(self, channel: str) -> ConsoleChannel | None:
        """A channel by id or by name (with or without `#`)."""
        if channel in self.channels:
            return self.channels[channel]
        name = channel.lstrip("#")
        return next((c for c in self.channels.values() if c.name == name), None)

    # -- the chat port ----------------------------------------------------------

    def create_channel(self, name: str) -> Channel:
        candidate, suffix = name, 2
        while self.find(candidate) is not None:
            candidate, suffix = f"{name}-{suffix}", suffix + 1
        channel = self.add_channel(candidate)
        return Channel(id=channel.id, name=channel.name)

    def invite(self, channel_id: str, users: list[str]) -> None:
        self._channel(channel_id).members.update(users)

    def set_topic(self, channel_id: str, topic: str) -> None:
        self._channel(channel_id).topic = topic

    def set_purpose(self, channel_id: str, purpose: str) -> None:
        self._channel(channel_id).purpose = purpose

    def find_channel(self, name: str) -> Channel | None:
        """The first channel named `name` or `name-<n>`: every channel here is the bot's,
        as nobody else creates one in a terminal, and none is ever archived."""
        named = re.compile(rf"{re.escape(name)}(?:-[0-9]+)?")
        found = next((c for c in self.channels.values() if named.fullmatch(c.name)), None)
        return Channel(id=found.id, name=found.name) if found else None

    def post(
        self,
        channel: str,
        message: Message,
        thread_ref: str | None = None,
        *,
        marker: str | None = None,
    ) -> str:
        target = self.find(channel) or self.add_channel(channel.lstrip("#"))
        line = ChatLine("incident-bot", message.text, self.clock())
        target.history.append(line)
        reference = f"{target.id}:{len(target.history)}"
        target.posted[reference] = message
        if marker is not None:
            target.marked.append(MarkedPost(marker, reference, thread_ref, line.posted_at))
        if target.id == self.current:
            self.show(message)
        else:
            self.console.print(Text(f"[#{target.name}] {message.text}", style="dim"))
        return reference

    def find_posted(
        self, channel: str, marker: str, *, since: datetime, thread_ref: str | None = None
    ) -> str | None:
        target = self.find(channel)
        posts = target.marked if target is not None else []
        return next(
            (
                post.ref
                for post in posts
                if post.marker == marker
                and post.thread_ref == thread_ref
                and _utc(post.posted_at) >= _utc(since)
            ),
            None,
        )

    def update(self, channel_id: str, message_ref: str, message: Message) -> None:
        """A terminal cannot rewrite what it printed: it prints what is new, if anything.

        A changed title and lines not shown before are printed (a runbook's progress);
        a message whose title and lines stay the same (a summary refresh) prints nothing.
        """
        channel = self._channel(channel_id)
        before = channel.posted.get(message_ref)
        channel.posted[message_ref] = message
        if before is None or channel.id != self.current:
            return
        style = TONE_STYLES[message.tone]
        if message.title != before.title:
            self.console.print(Text(message.title or message.text, style=f"bold {style}".strip()))
        for line in message.lines:
            if line not in before.lines:
                self.console.print(Text(line, style=style))

    def pin(self, channel_id: str, message_ref: str) -> None:
        self._channel(channel_id).pinned.append(message_ref)

    def upload(self, channel_id: str, filename: str, content: str, title: str) -> None:
        """A terminal has nowhere to share a file: write it to disk and say where."""
        self.files_dir.mkdir(parents=True, exist_ok=True)
        path = self.files_dir / filename
        path.write_text(content, encoding="utf-8")
        channel = self._channel(channel_id)
        self.console.print(Text(f"[#{channel.name}] {title}: {path.resolve()}", style="dim"))

    def bookmark(self, channel_id: str, title: str, url: str) -> None:
        self._channel(channel_id).bookmarks.append((title, url))

    def mention(self, user: str) -> str:
        return f"@{user}"

    def parse_mention(self, word: str) -> str | None:
        return parse_plain_mention(word)

    def group_members(self, group: str) -> set[str]:
        return set(self.groups.get(group, ()))

    def _channel(self, channel_id: str) -> ConsoleChannel:
        channel = self.find(channel_id)
        if channel is None:
            raise LookupError(f"no channel {channel_id}")
        return channel

    # -- rendering ---------------------------------------------------------------

    def show(self, message: Message) -> None:
        """Print a message with the same information the Slack version carries."""
        style = TONE_STYLES[message.tone]
        if message.title:
            self.console.print(Text(message.title, style=f"bold {style}".strip()))
        else:
            self.console.print(Text(message.text, style=style))
        if message.fields:
            grid = RichTable.grid(padding=(0, 2))
            grid.add_column(style="bold")
            grid.add_column()
            for label, value in message.fields:
                grid.add_row(Text(label), Text(value))
            self.console.print(grid)
        if message.table:
            table = RichTable(*message.table.columns, show_lines=False)
            for row in message.table.rows:
                table.add_row(*(Text(cell) for cell in row))
            self.console.print(table)
        for line in message.lines:
            self.console.print(Text(line, style=style))


def _utc(moment: datetime) -> datetime:
    """An aware moment; a naive one is UTC, as the database keeps it."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

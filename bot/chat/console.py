"""The terminal chat: try the whole bot with no Slack workspace.

Channels live in memory (incident channels are restored from the database),
`/incident ...` lines go through the same grammar as Slack, plain lines are
chat messages, and `/pin` puts the last message on the incident's timeline.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from bot.chat.port import Channel, Context, Message, Reply
from bot.commands.capture import ChatMessage, MessageCapture
from bot.commands.handler import CommandHandler
from bot.times import Clock, utc_now

TONE_STYLES = {"info": "", "success": "green", "warning": "yellow", "error": "bold red"}
HOME_CHANNEL = "general"
SHELL_HELP = (
    "Terminal commands: /incident ... (the bot; `/incident help` lists its commands), "
    "/join #channel, /channels, /pin (put the last message on the timeline), "
    "/user NAME (type as someone else), /quit. Any other line is a chat message."
)


@dataclass
class ChatLine:
    author: str
    text: str
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


class ConsoleChat:
    """The chat port on a terminal: messages to the current channel are printed in full,
    messages to other channels as a one-line notice."""

    def __init__(
        self, console: Console, clock: Clock = utc_now, files_dir: Path = Path("postmortems")
    ) -> None:
        self.console = console
        self.clock = clock
        self.files_dir = files_dir
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

    def post(self, channel: str, message: Message, thread_ref: str | None = None) -> str:
        target = self.find(channel) or self.add_channel(channel.lstrip("#"))
        target.history.append(ChatLine("incident-bot", message.text, self.clock()))
        reference = f"{target.id}:{len(target.history)}"
        target.posted[reference] = message
        if target.id == self.current:
            self.show(message)
        else:
            self.console.print(Text(f"[#{target.name}] {message.text}", style="dim"))
        return reference

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


class ConsoleShell:
    """Reads lines from a terminal or a script and acts on them."""

    def __init__(
        self,
        *,
        handler: CommandHandler,
        chat: ConsoleChat,
        user: str,
        incident_channels: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.handler = handler
        self.capture = MessageCapture(handler)
        self.chat = chat
        self.user = user
        self.command = handler.settings.command_name
        for channel_id, name in incident_channels:
            chat.add_channel(name, channel_id)

    @property
    def prompt(self) -> str:
        return f"#{self.chat.channels[self.chat.current].name} {self.user}> "

    def run(self, stream: TextIO = sys.stdin) -> None:
        """Read until end of input or `/quit`."""
        interactive = stream.isatty()
        if interactive:
            self.chat.console.print(Text(SHELL_HELP, style="dim"))
        for line in self._lines(stream, interactive):
            if not self.execute(line):
                break
            if not interactive:
                # A script reads like a person who waits for the runbook to get somewhere.
                self.handler.runbooks.wait_until_idle()

    def _lines(self, stream: TextIO, interactive: bool) -> Iterator[str]:
        if not interactive:
            yield from (line.rstrip("\n") for line in stream)
            return
        _enable_line_editing()
        while True:
            try:
                yield input(self.prompt)
            except EOFError:
                self.chat.console.print()
                return
            except KeyboardInterrupt:
                self.chat.console.print()

    def execute(self, line: str) -> bool:
        """Act on one line; False means the person asked to leave."""
        text = line.strip()
        if not text:
            return True
        word, _, rest = text.partition(" ")
        if word == self.command:
            self._reply(self.handler.handle(rest, self._context()))
        elif word in ("/quit", "/exit"):
            return False
        elif word == "/join":
            self._join(rest.strip())
        elif word == "/channels":
            names = ", ".join(f"#{c.name}" for c in self.chat.channels.values())
            self.chat.console.print(Text(f"Channels: {names}"))
        elif word == "/pin":
            self._pin()
        elif word == "/user" and rest.strip():
            self.user = rest.strip().lstrip("@")
        elif word == "/help":
            self.chat.console.print(Text(SHELL_HELP))
        elif word.startswith("/"):
            self._error(f"Unknown terminal command `{word}`. {SHELL_HELP}")
        else:
            channel = self.chat.channels[self.chat.current]
            channel.history.append(ChatLine(self.user, text, self.chat.clock()))
        return True

    def _context(self) -> Context:
        return Context(actor=self.user, channel_id=self.chat.current)

    def _reply(self, reply: Reply | None) -> None:
        if reply is None:
            return
        self.chat.show(reply.message)
        if reply.open_channel is not None:
            self._join(reply.open_channel.name)

    def _join(self, name: str) -> None:
        channel = self.chat.find(name) if name else None
        if channel is None:
            known = ", ".join(f"#{c.name}" for c in self.chat.channels.values())
            self._error(f"There is no channel `{name}`. Channels: {known}")
            return
        self.chat.current = channel.id
        channel.members.add(self.user)
        self.chat.console.print(Text(f"You are now in #{channel.name}.", style="dim"))
        if channel.topic:
            self.chat.console.print(Text(f"Topic: {channel.topic}", style="dim"))
        for reference in channel.pinned:
            self.chat.show(channel.posted[reference])
        for title, url in channel.bookmarks:
            self.chat.console.print(Text(f"Bookmark: {title} {url}", style="dim"))

    def _pin(self) -> None:
        channel = self.chat.channels[self.chat.current]
        last = next((m for m in reversed(channel.history) if m.author != "incident-bot"), None)
        if last is None:
            self._error("There is no message to pin yet: type one, then /pin.")
            return
        message = ChatMessage(
            channel_id=channel.id, author=last.author, text=last.text, posted_at=last.posted_at
        )
        self._reply(self.capture.add(message, actor=self.user))

    def _error(self, text: str) -> None:
        self.chat.show(Message(text=text, tone="error"))


def _enable_line_editing() -> None:
    """Arrow keys and a persistent history where the platform has readline."""
    try:
        import readline
    except ImportError:
        return
    history = Path.home() / ".incident_bot_history"
    with contextlib.suppress(OSError):
        readline.read_history_file(history)
    readline.set_history_length(1000)
    atexit.register(_save_history, readline, history)


def _save_history(readline_module: object, history: Path) -> None:
    with contextlib.suppress(OSError):
        readline_module.write_history_file(history)  # type: ignore[attr-defined]

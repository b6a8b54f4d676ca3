"""The terminal shell: read lines from a person or a script and act on them.

`/incident ...` lines go through the same grammar as Slack, plain lines are
chat messages, and `/pin` puts the last message on the incident's timeline.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO

from rich.text import Text

from bot.chat.console.chat import ChatLine, ConsoleChat
from bot.chat.port import Context, Message, Reply
from bot.commands.capture import ChatMessage, MessageCapture
from bot.commands.handler import CommandHandler

SHELL_HELP = (
    "Terminal commands: /incident ... (the bot; `/incident help` lists its commands), "
    "/join #channel, /channels, /pin (put the last message on the timeline), "
    "/user NAME (type as someone else), /quit. Any other line is a chat message."
)


class ConsoleShell:
    """Reads lines from a terminal or a script and acts on them."""

    def __init__(
        self,
        *,
        handler: CommandHandler,
        capture: MessageCapture,
        chat: ConsoleChat,
        user: str,
        command_name: str,
        wait_until_idle: Callable[[], object],
        incident_channels: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.handler = handler
        self.capture = capture
        self.chat = chat
        self.user = user
        self.command = command_name
        self.wait_until_idle = wait_until_idle  # runbook runs have got as far as they can
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
                self.wait_until_idle()

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

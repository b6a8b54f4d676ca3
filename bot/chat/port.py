"""What the bot may ask of a chat, and the chat-neutral message it posts.

Every adapter (terminal, Slack) implements `ChatPort` and renders `Message`
in its own way, so the flows never depend on one chat product.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

Tone = Literal["info", "success", "warning", "error"]


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Choice:
    label: str
    command: str


@dataclass(frozen=True)
class Action:
    """A button or menu that runs a command, so nobody has to remember its syntax.

    `asks` says what the chat must ask for first: free text added to the end of
    the command, or a role and a person.
    """

    label: str
    command: str = ""
    asks: Literal["nothing", "text", "person"] = "nothing"
    choices: tuple[Choice, ...] = ()
    style: Literal["default", "primary", "danger"] = "default"


@dataclass(frozen=True)
class Message:
    """A chat message: a one-line `text` plus optional structure for richer chats."""

    text: str
    title: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    lines: tuple[str, ...] = ()
    table: Table | None = None
    tone: Tone = "info"
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Channel:
    id: str
    name: str


@dataclass(frozen=True)
class Reply:
    """The answer to the person who typed a command (ephemeral where the chat allows)."""

    message: Message
    open_channel: Channel | None = None  # a channel the person should be taken to


@dataclass(frozen=True)
class Context:
    """Who typed a command, and where."""

    actor: str
    channel_id: str | None = None
    # The chat's id for the request that carried the command (a replay has the same),
    # so that it is acted on once; None where requests cannot repeat (the terminal).
    request_key: str | None = None


class ChatUnavailable(Exception):
    """The chat did not answer (down, timing out, rate limiting): try again later.

    `retry_after` is how many seconds the chat asked to be left alone, when it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChatRejected(Exception):
    """The chat refused the call for good (for example, the channel is archived)."""


class ChatPort(Protocol):
    def create_channel(self, name: str) -> Channel:
        """Create a channel for an incident; a taken name gets a suffix."""

    def invite(self, channel_id: str, users: list[str]) -> None:
        """Bring people into a channel; people already there are fine."""

    def set_topic(self, channel_id: str, topic: str) -> None:
        """Set the channel's topic line."""

    def set_purpose(self, channel_id: str, purpose: str) -> None:
        """Set the channel's description."""

    def post(
        self,
        channel: str,
        message: Message,
        thread_ref: str | None = None,
        *,
        marker: str | None = None,
    ) -> str:
        """Post to a channel (id or name), in a thread if given; returns the message's ref.

        `marker` is kept with the message, unseen, so `find_posted` can find it again.
        """

    def find_posted(
        self, channel: str, marker: str, *, since: datetime, thread_ref: str | None = None
    ) -> str | None:
        """The ref of this bot's message carrying `marker`, posted in `channel` (in the
        thread `thread_ref` when given) since `since`; None when there is none.

        Asked only after an attempt whose outcome is unknown (a timeout, a replica
        killed mid-call), so that a retry never posts the same thing twice.
        """

    def find_channel(self, name: str) -> Channel | None:
        """The channel named `name`, or `name-<n>`, that this bot created and has not
        archived; None when there is none. Asked before creating it again."""

    def update(self, channel_id: str, message_ref: str, message: Message) -> None:
        """Replace a posted message in place."""

    def pin(self, channel_id: str, message_ref: str) -> None:
        """Pin a posted message in its channel."""

    def upload(self, channel_id: str, filename: str, content: str, title: str) -> None:
        """Share a text file in a channel."""

    def bookmark(self, channel_id: str, title: str, url: str) -> None:
        """Keep a link at hand in the channel."""

    def mention(self, user: str) -> str:
        """How this chat writes a mention of `user` in message text."""

    def parse_mention(self, word: str) -> str | None:
        """The user a typed word mentions, in this chat's syntax; None if it is no mention."""

    def group_members(self, group: str) -> set[str]:
        """The people in one of this chat's groups (by name or id) now; empty when unknown.

        Never raises: a group the chat cannot read right now has nobody in it.
        """

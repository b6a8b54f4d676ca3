"""People typing `/incident ...` commands, as the scenarios describe them."""

from __future__ import annotations

from bot.chat.port import Context
from bot.commands.handler import CommandHandler


class Person:
    """Someone typing commands in one channel, as a test would describe them."""

    def __init__(self, handler: CommandHandler, name: str, channel_id: str | None = None) -> None:
        self.handler = handler
        self.name = name
        self.channel_id = channel_id

    def says(self, text: str):
        reply = self.handler.handle(text, Context(actor=self.name, channel_id=self.channel_id))
        if reply is not None and reply.open_channel is not None:
            self.channel_id = reply.open_channel.id
        return reply

"""What the command layer needs from the running bot, passed in once by the application."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.chat.messages import Mention
from bot.clock import Clock
from bot.config import Settings

DeliverNow = Callable[[int], bool]  # send chat work now; True when the incident's still waits


@dataclass(frozen=True)
class CommandServices:
    """Settings, sessions, the clock, how the chat writes people, and a way to hand work on."""

    settings: Settings
    session_factory: sessionmaker[Session]
    clock: Clock
    mention: Mention
    deliver: DeliverNow

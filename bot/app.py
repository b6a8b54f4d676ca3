"""The application object: the running bot, assembled in one place and started in one order.

Every entry point (`incident-bot run` with Slack, the terminal chat, tests) builds
an `Application` on a chat port and a session factory, then starts and stops it
here, so the delivery loop, runbook recovery and the services to come (the
scheduler, health endpoints, replica coordination) start the same way everywhere.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.chat.delivery import Deliverer
from bot.chat.port import ChatPort
from bot.clock import Clock, utc_now
from bot.commands.capture import MessageCapture
from bot.commands.grammar import Grammar
from bot.commands.handler import CommandHandler
from bot.commands.services import CommandServices
from bot.config import Settings
from bot.incidents.permissions import Permissions
from bot.runbooks.engine import RunbookEngine
from bot.storage.replicas import replica_id


class Application:
    """The deliverer, the runbook engine, the command path and message capture on one chat."""

    def __init__(
        self,
        settings: Settings,
        *,
        session_factory: sessionmaker[Session],
        chat: ChatPort,
        clock: Clock = utc_now,
        deliver_in_background: bool = False,
    ) -> None:
        # This process's name on the claims and leases it holds among the replicas.
        self.replica = replica_id()
        self.deliverer = Deliverer(
            settings=settings,
            session_factory=session_factory,
            chat=chat,
            replica=self.replica,
            side_by_side=deliver_in_background,
            clock=clock,
        )
        # A chat request's thread never waits for the chat: it wakes the delivery pool.
        deliver = self.deliverer.wake if deliver_in_background else self.deliverer.deliver_now
        # Who may do what; the chat says who is in a group, the domain never asks it itself.
        permissions = Permissions(settings, group_members=chat.group_members)
        self.runbooks = RunbookEngine(
            settings=settings,
            session_factory=session_factory,
            deliver=deliver,
            permissions=permissions,
            replica=self.replica,
            clock=clock,
        )
        services = CommandServices(
            settings=settings,
            session_factory=session_factory,
            clock=clock,
            mention=chat.mention,
            deliver=deliver,
        )
        grammar = Grammar(
            settings.command_name, settings.severity_names, parse_mention=chat.parse_mention
        )
        self.handler = CommandHandler(
            services, grammar=grammar, runbooks=self.runbooks, permissions=permissions
        )
        self.capture = MessageCapture(services)

    def start(self, *, replay_now: bool = False) -> None:
        """Keep delivering chat work, then pick up the runs stopped replicas left, and keep
        looking for such runs every few seconds.

        The delivery loop replays what waits in the background, so a chat that is
        down cannot hold up the start; `replay_now` delivers it first instead (the
        terminal, whose chat is always there and whose output should stay in order).
        """
        if replay_now:
            self.deliverer.deliver_pending()
        self.deliverer.start()
        self.runbooks.start_recovering()

    def stop(self) -> None:
        """Stop runs where they are (the database keeps them), then the delivery loop."""
        self.runbooks.shutdown()
        self.deliverer.stop()

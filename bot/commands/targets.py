"""Which incident a command is about: the one named, else the channel's own."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.chat.port import Context
from bot.commands.grammar import Grammar
from bot.commands.help import needs_incident
from bot.commands.types import Targeted
from bot.errors import UsageError
from bot.incidents import lifecycle
from bot.storage.models import Incident


def find_target(
    session: Session, command: Targeted, text: str, ctx: Context, grammar: Grammar
) -> Incident:
    """The incident `command` names, or the one whose channel it was typed in.

    Anywhere else the person is told the exact command to type, with the open incidents.
    """
    if command.reference is not None:
        return lifecycle.get_incident(session, command.reference)
    if ctx.channel_id is not None:
        incident = lifecycle.incident_for_channel(session, ctx.channel_id)
        if incident is not None:
            return incident
    raise UsageError(needs_incident(grammar, text, lifecycle.list_open(session)))

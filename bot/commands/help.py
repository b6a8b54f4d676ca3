"""The generated help, and the hint that names the incident a command needs."""

from __future__ import annotations

from collections.abc import Sequence

from bot.chat.port import Message, Table
from bot.commands.grammar import Grammar
from bot.storage.models import Incident


def help_message(grammar: Grammar, topic: str | None) -> Message:
    """The generated help: every command, or one in detail."""
    if topic is not None:
        spec = grammar.specs[topic]
        lines = (spec.summary, spec.details) if spec.details else (spec.summary,)
        return Message(text=grammar.usage(topic), title=grammar.usage(topic), lines=lines)
    rows = tuple((grammar.usage(spec.name), spec.summary) for spec in grammar.specs.values())
    return Message(
        text=f"Commands: {', '.join(grammar.specs)}",
        title=f"{grammar.command_name} commands",
        table=Table(columns=("Command", "What it does"), rows=rows),
        lines=(
            "In an incident's channel, commands apply to that incident; elsewhere name it "
            "with INC-n.",
        ),
    )


def needs_incident(grammar: Grammar, text: str, open_incidents: Sequence[Incident]) -> str:
    """Tell someone outside an incident channel which incident to name, with the command."""
    verb, _, rest = text.strip().partition(" ")
    reference = open_incidents[0].reference if len(open_incidents) == 1 else "INC-<n>"
    example = f"{grammar.command_name} {verb} {reference} {rest}".rstrip()
    hint = f"This is not an incident channel, so name the incident: `{example}`."
    if len(open_incidents) == 1 and open_incidents[0].channel_name:
        hint += f" Or type it in #{open_incidents[0].channel_name}."
    if len(open_incidents) > 1:
        hint += " Open: " + ", ".join(f"{i.reference} ({i.title})" for i in open_incidents) + "."
    elif not open_incidents:
        hint += " There is no open incident right now; `list` shows open ones."
    return hint

"""The buttons and menus on incident messages: each runs an ordinary command.

A click is input like a typed command and is checked like one before it runs: its
value must be a command such a button carries (no extra arguments), and a click in an
incident's channel acts on that incident only. Anything else gets a polite private
refusal. (A private message was shown only to the person clicking, for whatever they
asked about, so it may act on another incident.)
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App, BoltContext, Respond

from bot.chat.port import Context, Message, Reply
from bot.chat.slack.blocks import payload
from bot.chat.slack.forms import PERSON_TARGET, TEXT_TARGET, person_view, text_view
from bot.chat.slack.intake import ack_at_once, finishes, request_key
from bot.chat.slack.services import SlackServices
from bot.commands.types import (
    AssignRole,
    CancelRun,
    Close,
    Command,
    DecideStep,
    Reopen,
    Resolve,
    SetSeverity,
    SetStatus,
    StartRunbook,
)
from bot.errors import IncidentBotError
from bot.incidents.lifecycle import incident_for_channel
from bot.storage.models import MAX_ID, RunbookRun

log = logging.getLogger(__name__)
VALUE_MAX = 2000  # Slack's limit for a button's value
# What the bot's buttons and menus run; a value for anything else is not the bot's.
BUTTON_COMMANDS = (
    SetStatus,
    SetSeverity,
    AssignRole,
    Resolve,
    Close,
    Reopen,
    StartRunbook,
    DecideStep,
    CancelRun,
)


def register(app: App, services: SlackServices) -> None:
    refusal = (
        "That button does not work here (it may be from an old or altered message). "
        f"Use the buttons on the incident's pinned summary, or type the command "
        f"(`{services.settings.command_name} help` lists them)."
    )

    def refuse(body: dict[str, Any], respond: Respond, reason: str) -> None:
        log.info("Refused a click by %s: %s", body["user"]["id"], reason)
        respond(
            **payload(Message(text=refusal, tone="error")),
            response_type="ephemeral",
            replace_original=False,
        )

    def run(
        body: dict[str, Any], value: Any, respond: Respond, context: BoltContext
    ) -> Reply | None:
        problem = _problem_with(services, body, value)
        if problem is not None:
            refuse(body, respond, problem)
            return None
        user, channel = body["user"]["id"], _channel(body)
        asked = Context(actor=user, channel_id=channel, request_key=request_key(context))
        reply = services.handler.handle(value, asked)
        if reply is not None:
            respond(
                **payload(reply.message),
                response_type="ephemeral",
                replace_original=False,
            )
        return reply

    def open_form(
        body: dict[str, Any], value: Any, pattern: re.Pattern[str], respond: Respond
    ) -> str | None:
        """The command a form button opens its form for, or None (refused)."""
        found = pattern.fullmatch(value) if isinstance(value, str) else None
        reference = found.groups()[-1] if found else None
        problem = "not a form button's value" if found is None else None
        problem = problem or _foreign(services, body, reference)
        if problem is not None:
            refuse(body, respond, problem)
            return None
        return str(value)

    @finishes(services)
    def on_button(
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Respond,
        context: BoltContext,
    ) -> Reply | None:
        return run(body, action.get("value"), respond, context)

    @finishes(services)
    def on_choice(
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Respond,
        context: BoltContext,
    ) -> Reply | None:
        chosen = action.get("selected_option")
        value = chosen.get("value") if isinstance(chosen, dict) else None
        return run(body, value, respond, context)

    @finishes(services)
    def on_ask_text(
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Respond,
        context: BoltContext,
    ) -> None:
        command = open_form(body, action.get("value"), TEXT_TARGET, respond)
        if command is not None:
            view = text_view(command, _channel(body) or "")
            services.chat.client.views_open(trigger_id=body["trigger_id"], view=view)

    @finishes(services)
    def on_ask_person(
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Respond,
        context: BoltContext,
    ) -> None:
        command = open_form(body, action.get("value"), PERSON_TARGET, respond)
        if command is not None:
            view = person_view(command, _channel(body) or "", services.settings.roles)
            services.chat.client.views_open(trigger_id=body["trigger_id"], view=view)

    # Acknowledged in the request thread; the work runs in the listener pool.
    app.action(re.compile(r"^run:\d+$"))(ack=ack_at_once, lazy=[on_button])
    app.action(re.compile(r"^choose:\d+$"))(ack=ack_at_once, lazy=[on_choice])
    app.action(re.compile(r"^ask_text:\d+$"))(ack=ack_at_once, lazy=[on_ask_text])
    app.action(re.compile(r"^ask_person:\d+$"))(ack=ack_at_once, lazy=[on_ask_person])


def _channel(body: dict[str, Any]) -> str | None:
    channel = body.get("channel")
    found = channel.get("id") if isinstance(channel, dict) else None
    return found if isinstance(found, str) and found else None


def _problem_with(services: SlackServices, body: dict[str, Any], value: Any) -> str | None:
    """Why a click's value must not run, or None when it is a button's command for here."""
    if not isinstance(value, str) or not value.strip():
        return "no value"
    if len(value) > VALUE_MAX:
        return "a value longer than a button's"
    try:
        command = services.handler.grammar.parse(value)
    except IncidentBotError:
        return "a value that is not a command"
    if not isinstance(command, BUTTON_COMMANDS):
        return f"a {type(command).__name__} command, which no button runs"
    if isinstance(command, StartRunbook) and command.arguments:
        return "runbook arguments, which no button carries"
    return _foreign(services, body, _reference_of(services, command))


def _reference_of(services: SlackServices, command: Command) -> str | None:
    """The incident a button's command acts on (None: the channel's own, or unknown)."""
    if isinstance(command, DecideStep | CancelRun):
        if command.run_id > MAX_ID:
            return None  # no such run: the command itself says so
        with services.session_factory() as session:
            run = session.get(RunbookRun, command.run_id)
            return run.incident.reference if run is not None else None
    return getattr(command, "reference", None)


def _foreign(services: SlackServices, body: dict[str, Any], reference: str | None) -> str | None:
    """Why a click in an incident's channel may not act on `reference`, if it may not."""
    channel = _channel(body)
    container = body.get("container")
    ephemeral = isinstance(container, dict) and container.get("is_ephemeral") is True
    if reference is None or channel is None or ephemeral:
        return None
    with services.session_factory() as session:
        incident = incident_for_channel(session, channel)
        here = incident.reference if incident is not None else None
    if here is None or here == reference.upper():
        return None
    return f"a button for {reference.upper()} clicked in the channel of {here}"

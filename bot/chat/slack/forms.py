"""Slack modals: declaring an incident, and the forms behind the summary's buttons.

Submissions are checked before the ack, so mistakes show next to the field
(`response_action: errors`); the work itself runs after the ack.
"""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.chat.port import Context, Reply
from bot.chat.slack.blocks import OPTION_TEXT_MAX, clip_plain, plain_text
from bot.chat.slack.intake import finishes, request_key
from bot.chat.slack.services import SlackServices
from bot.chat.slack.submissions import Submission
from bot.commands.types import (
    AddNote,
    AssignRole,
    Command,
    Declare,
    Resolve,
)
from bot.incidents.lifecycle import (
    SERVICE_MAX_LENGTH,
    SUMMARY_MAX_LENGTH,
    check_service,
    check_summary_length,
    check_title,
    parse_severity,
)
from bot.incidents.roles import parse_role
from bot.incidents.timeline import NOTE_MAX_LENGTH, check_note_length

# The commands whose button asks for free text: the form's title, question and limit.
TEXT_FORMS = {
    "note": ("Add a note", "What happened?", NOTE_MAX_LENGTH),
    "resolve": ("Resolve", "What resolved it?", SUMMARY_MAX_LENGTH),
}
# What a form's buttons put in its metadata: the command and the incident it is for.
TEXT_TARGET = re.compile(r"(note|resolve) (INC-\d+)")
PERSON_TARGET = re.compile(r"role (INC-\d+)")

View = dict[str, Any]


def _plain(text: str) -> dict[str, Any]:
    return plain_text(clip_plain(text, OPTION_TEXT_MAX))


def _input(block_id: str, label: str, element: dict[str, Any], optional: bool = False) -> View:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": {"action_id": "value", **element},
        "optional": optional,
    }


def declare_view(services: SlackServices, channel: str) -> View:
    settings = services.settings
    options = [
        {"text": _plain(f"{level.name}: {level.description}"), "value": level.name}
        for level in settings.severities
    ]
    default = next(o for o in options if o["value"] == settings.default_severity)
    return {
        "type": "modal",
        "callback_id": "declare",
        "private_metadata": json.dumps({"channel": channel}),
        "title": _plain("Declare an incident"),
        "submit": _plain("Declare"),
        "close": _plain("Cancel"),
        "blocks": [
            _input(
                "title",
                "Title",
                {"type": "plain_text_input", "max_length": settings.title_max_length},
            ),
            _input(
                "severity",
                "Severity",
                {"type": "static_select", "options": options, "initial_option": default},
            ),
            _input(
                "service",
                "Affected service",
                {"type": "plain_text_input", "max_length": SERVICE_MAX_LENGTH},
                optional=True,
            ),
            _input(
                "description",
                "What is happening?",
                {"type": "plain_text_input", "multiline": True},
                optional=True,
            ),
            _input("started", "Impact started at", {"type": "datetimepicker"}, optional=True),
            _input("declared", "Declared at", {"type": "datetimepicker"}, optional=True),
        ],
    }


def open_declare_form(services: SlackServices, *, trigger_id: str, channel: str) -> None:
    services.chat.client.views_open(trigger_id=trigger_id, view=declare_view(services, channel))


def register(app: App, services: SlackServices) -> None:
    settings = services.settings

    def answer(ack: Ack, form: Submission) -> bool:
        """Show the form's errors, or close it; True when the command may run."""
        if form.errors:
            ack(response_action="errors", errors=form.errors)
            return False
        ack()
        return True

    def run(
        body: dict[str, Any], form: Submission, command: Command, context: BoltContext
    ) -> Reply | None:
        user = body["user"]["id"]
        asked = Context(actor=user, channel_id=form.channel, request_key=request_key(context))
        reply = services.handler.run(command, asked)
        services.tell(user=user, channel=form.channel, reply=reply)
        return reply

    @app.view("declare")
    @finishes(services)
    def on_declare(ack: Ack, body: dict[str, Any], context: BoltContext) -> Reply | None:
        form = Submission(body)
        title = form.check("title", check_title, form.text("title"), settings)
        severity = form.check(
            "severity", parse_severity, form.choice("severity", "Choose a severity."), settings
        )
        service = form.check("service", check_service, form.text("service"))
        description = form.text("description")
        now = services.clock()
        started_at = form.moment("started", now, in_future="The impact cannot start in the future.")
        # For an incident recorded after the fact; left empty, it is declared now.
        declared_at = form.moment(
            "declared", now, in_future="An incident cannot be declared in the future."
        )
        if answer(ack, form):
            command = Declare(
                title=title,
                severity=severity,
                service=service,
                description=description or None,
                started_at=started_at.isoformat() if started_at else None,
                declared_at=declared_at.isoformat() if declared_at else None,
            )
            return run(body, form, command, context)
        return None

    @app.view("ask_text")
    @finishes(services)
    def on_text(ack: Ack, body: dict[str, Any], context: BoltContext) -> Reply | None:
        form = Submission(body)
        target = form.target("text", TEXT_TARGET)
        text = form.text("text")
        if not text:
            form.errors.setdefault("text", "Write something first.")
        elif target:
            limit = check_summary_length if target[0] == "resolve" else check_note_length
            form.check("text", limit, text)
        if answer(ack, form):
            verb, reference = target
            command: Command = (
                Resolve(reference=reference, summary=text)
                if verb == "resolve"
                else AddNote(reference=reference, text=text)
            )
            return run(body, form, command, context)
        return None

    @app.view("ask_person")
    @finishes(services)
    def on_person(ack: Ack, body: dict[str, Any], context: BoltContext) -> Reply | None:
        form = Submission(body)
        target = form.target("role", PERSON_TARGET)
        role = form.check("role", parse_role, form.choice("role", "Choose a role."), settings)
        person = form.choice("person", "Choose a person.", key="selected_user")
        if answer(ack, form):
            (reference,) = target
            command = AssignRole(reference=reference, role=role, holder=person)
            return run(body, form, command, context)
        return None


def text_view(command: str, channel: str) -> View:
    title, label, limit = TEXT_FORMS[command.split()[0]]
    return {
        "type": "modal",
        "callback_id": "ask_text",
        "private_metadata": json.dumps({"command": command, "channel": channel}),
        "title": _plain(title),
        "submit": _plain("Save"),
        "blocks": [
            _input(
                "text",
                label,
                {"type": "plain_text_input", "multiline": True, "max_length": limit},
            )
        ],
    }


def person_view(command: str, channel: str, roles: tuple[str, ...]) -> View:
    options = [{"text": _plain(role.capitalize()), "value": role} for role in roles]
    return {
        "type": "modal",
        "callback_id": "ask_person",
        "private_metadata": json.dumps({"command": command, "channel": channel}),
        "title": _plain("Assign a role"),
        "submit": _plain("Assign"),
        "blocks": [
            _input("role", "Role", {"type": "static_select", "options": options}),
            _input("person", "Person", {"type": "users_select"}),
        ],
    }

"""Slack modals: declaring an incident, and the forms behind the summary's buttons.

Submissions are checked before the ack, so mistakes show next to the field
(`response_action: errors`); the work itself runs after the ack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
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
# A submitted form read: what is wrong with it, and its command when nothing is.
FormReader = Callable[[dict[str, Any]], tuple[Submission, Command | None]]


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
    # Each form is read twice: in the request thread, to show its errors in the ack;
    # then in the listener pool, to run its command (reading is pure: same answer).

    def run(
        body: dict[str, Any], form: Submission, command: Command, context: BoltContext
    ) -> Reply | None:
        user = body["user"]["id"]
        asked = Context(actor=user, channel_id=form.channel, request_key=request_key(context))
        reply = services.handler.run(command, asked)
        services.tell(user=user, channel=form.channel, reply=reply)
        return reply

    def form(callback_id: str, read: FormReader) -> None:
        def acknowledge(ack: Ack, body: dict[str, Any]) -> None:
            """Show the form's errors next to their fields, or close it."""
            submitted, _ = read(body)
            if submitted.errors:
                ack(response_action="errors", errors=submitted.errors)
            else:
                ack()

        @finishes(services)
        def act(body: dict[str, Any], context: BoltContext) -> Reply | None:
            submitted, command = read(body)
            return None if command is None else run(body, submitted, command, context)

        app.view(callback_id)(ack=acknowledge, lazy=[act])

    def read_declare(body: dict[str, Any]) -> tuple[Submission, Command | None]:
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
        if form.errors:
            return form, None
        return form, Declare(
            title=title,
            severity=severity,
            service=service,
            description=description or None,
            started_at=started_at.isoformat() if started_at else None,
            declared_at=declared_at.isoformat() if declared_at else None,
        )

    def read_text(body: dict[str, Any]) -> tuple[Submission, Command | None]:
        form = Submission(body)
        target = form.target("text", TEXT_TARGET)
        text = form.text("text")
        if not text:
            form.errors.setdefault("text", "Write something first.")
        elif target:
            limit = check_summary_length if target[0] == "resolve" else check_note_length
            form.check("text", limit, text)
        if form.errors:
            return form, None
        verb, reference = target
        if verb == "resolve":
            return form, Resolve(reference=reference, summary=text)
        return form, AddNote(reference=reference, text=text)

    def read_person(body: dict[str, Any]) -> tuple[Submission, Command | None]:
        form = Submission(body)
        target = form.target("role", PERSON_TARGET)
        role = form.check("role", parse_role, form.choice("role", "Choose a role."), settings)
        person = form.choice("person", "Choose a person.", key="selected_user")
        if form.errors:
            return form, None
        (reference,) = target
        return form, AssignRole(reference=reference, role=role, holder=person)

    form("declare", read_declare)
    form("ask_text", read_text)
    form("ask_person", read_person)


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

"""Slack modals: declaring an incident, and the forms behind the summary's buttons.

Submissions are checked before the ack, so mistakes show next to the field
(`response_action: errors`); the work itself runs after the ack.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App

from bot.chat.port import Context
from bot.chat.slack.blocks import OPTION_TEXT_MAX, plain_text
from bot.chat.slack.services import SlackServices
from bot.commands.types import (
    AddNote,
    AssignRole,
    Command,
    Declare,
    Resolve,
)
from bot.errors import UsageError
from bot.incidents.lifecycle import check_title

# The commands whose button asks for free text: the form's title and question.
TEXT_FORMS = {"note": ("Add a note", "What happened?"), "resolve": ("Resolve", "What resolved it?")}

View = dict[str, Any]


def _plain(text: str) -> dict[str, Any]:
    return plain_text(text[:OPTION_TEXT_MAX])


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
            _input("service", "Affected service", {"type": "plain_text_input"}, optional=True),
            _input(
                "description",
                "What is happening?",
                {"type": "plain_text_input", "multiline": True},
                optional=True,
            ),
            _input("started", "Impact started at", {"type": "datetimepicker"}, optional=True),
        ],
    }


def open_declare_form(services: SlackServices, *, trigger_id: str, channel: str) -> None:
    services.chat.client.views_open(trigger_id=trigger_id, view=declare_view(services, channel))


def _values(body: dict[str, Any]) -> dict[str, Any]:
    """Each input block's value, by block id."""
    values: dict[str, Any] = {}
    for block_id, fields in body["view"]["state"]["values"].items():
        field = fields["value"]
        if "selected_option" in field:
            values[block_id] = (field["selected_option"] or {}).get("value")
        elif "selected_date_time" in field:
            values[block_id] = field["selected_date_time"]
        elif "selected_user" in field:
            values[block_id] = field["selected_user"]
        else:
            values[block_id] = field.get("value")
    return values


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(body["view"].get("private_metadata") or "{}"))


def register(app: App, services: SlackServices) -> None:
    settings = services.settings

    def run(body: dict[str, Any], command: Command) -> None:
        user = body["user"]["id"]
        channel = _metadata(body).get("channel")
        reply = services.handler.run(command, Context(actor=user, channel_id=channel))
        services.tell(user=user, channel=channel, reply=reply)

    @app.view("declare")
    def on_declare(ack: Ack, body: dict[str, Any]) -> None:
        values = _values(body)
        errors = {}
        try:
            check_title(values.get("title") or "", settings)
        except UsageError as problem:
            errors["title"] = str(problem)
        started = values.get("started")
        started_at = datetime.fromtimestamp(int(started), UTC) if started else None
        if started_at is not None and started_at > services.clock():
            errors["started"] = "The impact cannot start in the future."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        command = Declare(
            title=values["title"],
            severity=values.get("severity"),
            service=values.get("service"),
            description=values.get("description"),
            started_at=started_at.isoformat() if started_at else None,
        )
        run(body, command)

    @app.view("ask_text")
    def on_text(ack: Ack, body: dict[str, Any]) -> None:
        text = (_values(body).get("text") or "").strip()
        if not text:
            ack(response_action="errors", errors={"text": "Write something first."})
            return
        ack()
        verb, reference = _metadata(body)["command"].split()
        command: Command = (
            Resolve(reference=reference, summary=text)
            if verb == "resolve"
            else AddNote(reference=reference, text=text)
        )
        run(body, command)

    @app.view("ask_person")
    def on_person(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        values = _values(body)
        reference = _metadata(body)["command"].split()[1]
        run(body, AssignRole(reference=reference, role=values["role"], holder=values["person"]))


def text_view(command: str, channel: str) -> View:
    title, label = TEXT_FORMS[command.split()[0]]
    return {
        "type": "modal",
        "callback_id": "ask_text",
        "private_metadata": json.dumps({"command": command, "channel": channel}),
        "title": _plain(title),
        "submit": _plain("Save"),
        "blocks": [_input("text", label, {"type": "plain_text_input", "multiline": True})],
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

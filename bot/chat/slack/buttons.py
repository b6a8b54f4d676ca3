"""The buttons and menus on incident messages: each runs an ordinary command."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.chat.port import Context
from bot.chat.slack.blocks import payload
from bot.chat.slack.forms import person_view, text_view
from bot.chat.slack.services import SlackServices


def register(app: App, services: SlackServices) -> None:
    def run(body: dict[str, Any], command: str, respond: Respond) -> None:
        user, channel = body["user"]["id"], body.get("channel", {}).get("id")
        reply = services.handler.handle(command, Context(actor=user, channel_id=channel))
        if reply is not None:
            respond(
                **payload(reply.message),
                response_type="ephemeral",
                replace_original=False,
            )

    @app.action(re.compile(r"^run:\d+$"))
    def on_button(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        run(body, action["value"], respond)

    @app.action(re.compile(r"^choose:\d+$"))
    def on_choice(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        run(body, action["selected_option"]["value"], respond)

    @app.action(re.compile(r"^ask_text:\d+$"))
    def on_ask_text(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        channel = body.get("channel", {}).get("id", "")
        services.chat.client.views_open(
            trigger_id=body["trigger_id"], view=text_view(action["value"], channel)
        )

    @app.action(re.compile(r"^ask_person:\d+$"))
    def on_ask_person(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        channel = body.get("channel", {}).get("id", "")
        view = person_view(action["value"], channel, services.settings.roles)
        services.chat.client.views_open(trigger_id=body["trigger_id"], view=view)

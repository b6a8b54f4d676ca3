"""The `/incident` slash command: ack at once, run the command, answer privately."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, Respond

from bot.chat.port import Context, Reply
from bot.chat.slack.blocks import payload
from bot.chat.slack.forms import open_declare_form
from bot.chat.slack.intake import ack_at_once, finishes, request_key
from bot.chat.slack.services import SlackServices


def register(app: App, services: SlackServices) -> None:
    @finishes(services)
    def on_command(command: dict[str, Any], respond: Respond, context: BoltContext) -> Reply | None:
        text = str(command.get("text") or "").strip()
        user, channel = command["user_id"], command["channel_id"]
        if text.lower() in ("", "declare"):
            open_declare_form(services, trigger_id=command["trigger_id"], channel=channel)
            return None
        asked = Context(actor=user, channel_id=channel, request_key=request_key(context))
        reply = services.handler.handle(text, asked)
        if reply is not None:
            respond(
                **payload(reply.message),
                response_type="ephemeral",
            )
        return reply

    # Acknowledged in the request thread; the work runs in the listener pool.
    app.command(services.settings.command_name)(ack=ack_at_once, lazy=[on_command])

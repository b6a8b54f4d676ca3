"""Slack events that feed the timeline: marking reactions, edits, and (optionally) every message.

Slack may deliver an event twice; intake stores it once, and acting on it claims its
request key (`event:<event_id>`), so a redelivery or a replay changes nothing.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App, BoltContext

from bot.chat.port import ChatRejected, ChatUnavailable, Context, Reply
from bot.chat.slack.intake import ack_at_once, finishes, request_key
from bot.chat.slack.services import SlackServices
from bot.commands.capture import ChatMessage

log = logging.getLogger(__name__)
UNREADABLE = "(the message could not be read from Slack)"
_LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>\s*")


def posted_at(ts: str) -> datetime:
    """Slack's message timestamp as a UTC time."""
    return datetime.fromtimestamp(float(ts), UTC)


def register(app: App, services: SlackServices) -> None:
    settings = services.settings
    chat = services.chat

    def fetch(channel: str, ts: str) -> tuple[str, str, str | None]:
        """The text, author and permalink of a message; placeholders if Slack cannot say."""
        try:
            history = chat.call(
                "conversations_history", channel=channel, latest=ts, inclusive=True, limit=1
            )
            found = [m for m in history.get("messages", []) if m.get("ts") == ts]
            if not found:  # a reply in a thread: history holds only the thread's parent
                thread = chat.call(
                    "conversations_replies",
                    channel=channel,
                    ts=ts,
                    oldest=ts,
                    latest=ts,
                    inclusive=True,
                    limit=1,
                )
                found = [m for m in thread.get("messages", []) if m.get("ts") == ts]
            permalink = chat.call("chat_getPermalink", channel=channel, message_ts=ts)
        except (ChatUnavailable, ChatRejected) as error:
            log.warning("Could not read message %s in %s: %s", ts, channel, error)
            return UNREADABLE, "", None
        message = found[0] if found else {}
        return (
            str(message.get("text") or UNREADABLE),
            str(message.get("user") or ""),
            permalink.get("permalink"),
        )

    def is_this_bot(user: str | None) -> bool:
        try:
            return bool(user) and user == chat.bot_user_id
        except (ChatUnavailable, ChatRejected):
            return False

    @finishes(services)
    def on_reaction_added(event: dict[str, Any], context: BoltContext) -> None:
        item = event.get("item", {})
        if event.get("reaction") != settings.timeline_reaction or item.get("type") != "message":
            return
        if is_this_bot(event.get("item_user")):
            return  # its own posts say what the timeline already holds
        channel, ts = item["channel"], item["ts"]
        text, author, permalink = fetch(channel, ts)
        message = ChatMessage(
            channel_id=channel,
            author=author or event.get("item_user") or event["user"],
            text=text,
            posted_at=posted_at(ts),
            message_ref=ts,
            permalink=permalink,
        )
        services.capture.add(
            message,
            actor=event["user"],
            request_key=request_key(context),
            confirm_in_thread=True,
        )

    @finishes(services)
    def on_reaction_removed(event: dict[str, Any], context: BoltContext) -> None:
        item = event.get("item", {})
        if event.get("reaction") != settings.timeline_reaction or item.get("type") != "message":
            return
        services.capture.remove(
            channel_id=item["channel"],
            message_ref=item["ts"],
            actor=event["user"],
            request_key=request_key(context),
        )

    @finishes(services)
    def on_message(event: dict[str, Any], context: BoltContext) -> None:
        if event.get("subtype") == "message_changed":
            changed = event.get("message", {})
            if changed.get("bot_id"):
                return
            services.capture.edit(
                channel_id=event["channel"],
                message_ref=changed["ts"],
                text=str(changed.get("text") or ""),
                actor=str(changed.get("user") or ""),
                request_key=request_key(context),
            )
            return
        is_human = not event.get("subtype") and not event.get("bot_id") and event.get("user")
        if not (settings.capture_all_messages and is_human):
            return
        message = ChatMessage(
            channel_id=event["channel"],
            author=event["user"],
            text=str(event.get("text") or ""),
            posted_at=posted_at(event["ts"]),
            message_ref=event["ts"],
        )
        services.capture.add(message, actor=event["user"], request_key=request_key(context))

    @finishes(services)
    def on_mention(event: dict[str, Any], context: BoltContext) -> Reply | None:
        """`@incident-bot status identified` works like the slash command."""
        text = _LEADING_MENTION.sub("", str(event.get("text") or ""), count=1)
        user, channel = event["user"], event["channel"]
        asked = Context(actor=user, channel_id=channel, request_key=request_key(context))
        reply = services.handler.handle(text, asked)
        services.tell(user=user, channel=channel, reply=reply)
        return reply

    # Acknowledged in the request thread; the work runs in the listener pool.
    app.event("reaction_added")(ack=ack_at_once, lazy=[on_reaction_added])
    app.event("reaction_removed")(ack=ack_at_once, lazy=[on_reaction_removed])
    app.event("message")(ack=ack_at_once, lazy=[on_message])
    app.event("app_mention")(ack=ack_at_once, lazy=[on_mention])

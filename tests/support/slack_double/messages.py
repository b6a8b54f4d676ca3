"""chat.* (post, update, ephemeral, permalink), pins, reactions and bookmarks."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from tests.support.slack_double.args import ApiError, flag, json_arg, present, require
from tests.support.slack_double.state import WorkspaceState

EMOJI_NAME = re.compile(r"^[a-z0-9_+'-]+$")


class MessageMethods(WorkspaceState):
    """Messages in channels and threads, and what is pinned, reacted to or bookmarked."""

    # ---- chat

    def chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._post_target(require(args, "channel"))
        content = self._content(args)
        if not self._has_content(content):
            raise ApiError("no_text")
        metadata = _metadata(args)
        message = self._new_message(content)
        if metadata is not None:
            message["metadata"] = metadata
        if present(args, "thread_ts"):
            self._add_to_thread(channel, message, str(args["thread_ts"]))
            if flag(args, "reply_broadcast"):
                message["subtype"] = "thread_broadcast"
        channel.messages.append(message)
        return {"channel": channel.id, "ts": message["ts"], "message": copy.deepcopy(message)}

    def chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._message(channel, require(args, "ts"))
        if message.get("user") != self.bot_user_id:
            raise ApiError("cant_update_message")
        content = self._content(args)
        if not self._has_content(content):
            raise ApiError("no_text")
        message.update(content)  # blocks/attachments left out are kept, as Slack does
        message["edited"] = {"user": self.bot_user_id, "ts": self.new_ts()}
        return {
            "channel": channel.id,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "message": copy.deepcopy(message),
        }

    def chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._post_target(require(args, "channel"))
        user_id = require(args, "user")
        if user_id not in channel.members:
            raise ApiError("user_not_in_channel")
        content = self._content(args)
        if not self._has_content(content):
            raise ApiError("no_text")
        message = {**self._new_message(content), "to_user": user_id}
        channel.ephemeral.append(message)
        return {"message_ts": message["ts"]}

    def chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(args)
        message = self._message(channel, require(args, "message_ts"))
        link = f"{self.url}archives/{channel.id}/p{message['ts'].replace('.', '')}"
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            link += f"?thread_ts={thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    # ---- pins, reactions, bookmarks

    def pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if not present(args, "timestamp"):
            raise ApiError("no_item_specified")
        if not self.is_member(channel):
            raise ApiError("not_in_channel")
        message = self._message(channel, args["timestamp"])
        if message["ts"] in channel.pins:
            raise ApiError("already_pinned")
        channel.pins.append(message["ts"])
        message.setdefault("pinned_to", []).append(channel.id)
        return {}

    def reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(args)
        message = self._message(channel, require(args, "timestamp"))
        name = require(args, "name")
        if not EMOJI_NAME.match(name):
            raise ApiError("invalid_name")
        reactions = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if self.bot_user_id in reaction["users"]:
            raise ApiError("already_reacted")
        reaction["users"].append(self.bot_user_id)
        reaction["count"] += 1
        return {}

    def bookmarks_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel({"channel": require(args, "channel_id")})
        if args.get("type") != "link":
            raise ApiError("invalid_bookmark_type")
        link = str(args.get("link") or "")
        if not link.startswith(("http://", "https://")):
            raise ApiError("invalid_link")
        now = int(time.time())
        bookmark = {
            "id": self.new_id("Bk"),
            "channel_id": channel.id,
            "title": require(args, "title"),
            "link": link,
            "emoji": args.get("emoji"),
            "icon_url": None,
            "type": "link",
            "entity_id": None,
            "date_created": now,
            "date_updated": 0,
            "rank": "U",
            "last_updated_by_user_id": self.bot_user_id,
            "last_updated_by_team_id": self.team_id,
            "shortcut_id": None,
            "app_id": None,
        }
        channel.bookmarks.append(bookmark)
        return {"bookmark": dict(bookmark)}


def _metadata(args: dict[str, Any]) -> dict[str, Any] | None:
    """Message metadata, as Slack checks it: an object (or its JSON) with a string
    `event_type` and an object `event_payload`."""
    metadata = json_arg(args, "metadata", "invalid_metadata_format")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise ApiError("invalid_metadata_format")
    event_type, event_payload = metadata.get("event_type"), metadata.get("event_payload")
    if not isinstance(event_type, str) or not event_type or not isinstance(event_payload, dict):
        raise ApiError("invalid_metadata_schema")
    return {"event_type": event_type, "event_payload": copy.deepcopy(event_payload)}

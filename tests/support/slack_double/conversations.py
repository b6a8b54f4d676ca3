"""auth.test, users.info and the conversations.* methods: channels, members, topics, history."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from tests.support.slack_double.args import ApiError, flag, require
from tests.support.slack_double.pages import Paging, in_window, page, ts_order
from tests.support.slack_double.state import WorkspaceState

CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")
CONVERSATION_TYPES = {"public_channel", "private_channel", "mpim", "im"}
MAX_TOPIC = 250
MAX_CHANNEL_NAME = 80
# How each listing pages, from the reference's defaults and maximums.
CHANNEL_PAGES = Paging(100, 1000, "invalid_limit", "id", str)
HISTORY_PAGES = Paging(100, 999, "invalid_arguments", "ts", ts_order, newest_first=True)
REPLY_PAGES = Paging(1000, 1000, "invalid_arguments", "ts", ts_order)


class ConversationMethods(WorkspaceState):
    """Who the bot is, who the users are, and the channels they talk in."""

    # ---- auth / users

    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.url,
            "team": self.team_name,
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(require(args, "user"))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": self.user_json(user)}

    # ---- conversations

    def conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = require(args, "name")
        if len(name) > MAX_CHANNEL_NAME:
            raise ApiError("invalid_name_maxlength")
        if not CHANNEL_NAME.match(name):
            raise ApiError("invalid_name_specials")
        if set(name) <= set("-_"):
            raise ApiError("invalid_name_punctuation")
        if self.channel_by_name(name) is not None:
            raise ApiError("name_taken")
        channel_id = self.add_channel(
            name,
            members=[self.bot_user_id],
            private=flag(args, "is_private"),
            creator=self.bot_user_id,
        )
        return {"channel": self.channel_json(self.channels[channel_id])}

    def conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(args)
        wanted = [u.strip() for u in str(require(args, "users")).split(",") if u.strip()]
        if not wanted:
            raise ApiError("no_user")
        failures, new = [], []
        for user_id in dict.fromkeys(wanted):
            if user_id not in self.users or self.users[user_id].deleted:
                failures.append({"user": user_id, "ok": False, "error": "user_not_found"})
            elif user_id == self.bot_user_id:
                failures.append({"user": user_id, "ok": False, "error": "cant_invite_self"})
            elif user_id not in channel.members:
                new.append(user_id)
        if failures and not flag(args, "force"):
            raise ApiError(failures[0]["error"], errors=failures)
        if not new and not failures:
            # Only when every invitee was already there is that an error.
            already = [{"user": u, "ok": False, "error": "already_in_channel"} for u in wanted]
            raise ApiError("already_in_channel", errors=already)
        channel.members.extend(new)
        answer: dict[str, Any] = {"channel": self.channel_json(channel)}
        if failures:
            answer["errors"] = failures
        return answer

    def _set_text_property(self, args: dict[str, Any], prop: str) -> dict[str, Any]:
        channel = self._visible_channel(args)
        value = require(args, prop)
        if not self.is_member(channel):
            raise ApiError("not_in_channel")
        if channel.is_archived:
            raise ApiError("is_archived")
        if len(value) > MAX_TOPIC:
            raise ApiError("too_long")
        setattr(
            channel,
            prop,
            {"value": value, "creator": self.bot_user_id, "last_set": int(time.time())},
        )
        return {"channel": self.channel_json(channel)}

    def conversations_set_topic(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._set_text_property(args, "topic")

    def conversations_set_purpose(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._set_text_property(args, "purpose")

    def conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self.channel_json(self._visible_channel(args))}

    def conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(args)
        if channel.is_private or channel.is_im:
            raise ApiError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise ApiError("is_archived")
        if self.is_member(channel):
            return {
                "channel": self.channel_json(channel),
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        channel.members.append(self.bot_user_id)
        return {"channel": self.channel_json(channel)}

    def conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = {t.strip() for t in str(args.get("types") or "public_channel").split(",")}
        if not types <= CONVERSATION_TYPES:
            raise ApiError("invalid_types")
        exclude_archived = flag(args, "exclude_archived")
        listed = []
        for channel in self.channels.values():
            kind = "im" if channel.is_im else "private" if channel.is_private else "public"
            kind = kind if kind == "im" else f"{kind}_channel"
            if kind not in types or (exclude_archived and channel.is_archived):
                continue
            if kind != "public_channel" and not self.is_member(channel):
                continue
            listed.append(self.channel_json(channel))
        paged = page(listed, args, CHANNEL_PAGES)
        return {"channels": paged.items, "response_metadata": paged.response_metadata}

    def conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages (and thread broadcasts), newest first."""
        channel = self._visible_channel(args)
        if not self.is_member(channel):
            raise ApiError("not_in_channel")
        top_level = [
            m
            for m in channel.messages
            if m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast"
        ]
        paged = page(in_window(top_level, args), args, HISTORY_PAGES)
        return {
            "messages": _as_listed(paged.items, args),
            "has_more": paged.has_more,
            "pin_count": len(channel.pins),
            "response_metadata": paged.response_metadata,
        }

    def conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent, then its replies, oldest first (`ts` may be any of them)."""
        channel = self._visible_channel(args)
        if not self.is_member(channel):
            raise ApiError("not_in_channel")
        asked = channel.message(str(args["ts"]))
        if asked is None:
            raise ApiError("thread_not_found")
        root = asked.get("thread_ts") or asked["ts"]
        thread = [m for m in channel.messages if m["ts"] == root or m.get("thread_ts") == root]
        paged = page(in_window(thread, args), args, REPLY_PAGES)
        return {
            "messages": _as_listed(paged.items, args),
            "has_more": paged.has_more,
            "response_metadata": paged.response_metadata,
        }


def _as_listed(messages: list[dict[str, Any]], args: dict[str, Any]) -> list[dict[str, Any]]:
    """Copies of listed messages; their metadata only when `include_all_metadata` asks."""
    listed = copy.deepcopy(messages)
    if not flag(args, "include_all_metadata"):
        for message in listed:
            message.pop("metadata", None)
    return listed

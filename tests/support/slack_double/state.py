"""The workspace's state: its records, new IDs and timestamps, finding channels the way
Slack's methods do, and the JSON shapes Slack answers with."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any

from tests.support.slack_double.args import ApiError, json_arg, present, require
from tests.support.slack_double.records import Channel, UploadedFile, User, UserGroup

MAX_BLOCKS = 50


class WorkspaceState:
    """Slack's state for one workspace; the method handlers build on it (see `Workspace`)."""

    def __init__(self, root_url: Callable[[], str], chat_write_public: bool = True) -> None:
        self._root_url = root_url
        self.chat_write_public = chat_write_public
        self.team_id = "T0TEAM"
        self.team_name = "Incident Double"
        self.url = "https://incident-double.slack.com/"
        self.bot_user_id = "U0BOT"
        self.bot_id = "B0BOT"
        self.app_id = "A0APP"
        self.owner_user_id = "U0OWNER"  # the person who made the workspace and #general
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, UserGroup] = {}
        self.files: dict[str, UploadedFile] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self._ids = {prefix: itertools.count(1) for prefix in ("C", "D", "F", "S", "V", "Bk")}
        self._last_micros = 0
        self.add_user(self.bot_user_id, "incident-bot", real_name="Incident Bot", is_bot=True)
        self.add_user(self.owner_user_id, "owner", real_name="Workspace Owner")
        self.add_channel("general", general=True, creator=self.owner_user_id)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids[prefix]):08d}"

    def new_ts(self) -> str:
        micros = max(int(time.time() * 1_000_000), self._last_micros + 1)
        self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def add_user(
        self, user_id: str, name: str, *, real_name: str = "", is_bot: bool = False
    ) -> str:
        self.users[user_id] = User(user_id, name, real_name or name, is_bot)
        return user_id

    def add_channel(
        self,
        name: str,
        members: Iterable[str] = (),
        private: bool = False,
        *,
        general: bool = False,
        creator: str,
        archived: bool = False,
    ) -> str:
        member_ids = list(dict.fromkeys(members))
        unknown = [m for m in (*member_ids, creator) if m not in self.users]
        if unknown:
            raise ValueError(f"unknown users {unknown}: add them with add_user() first")
        channel = Channel(
            id=self.new_id("C"),
            name=name,
            is_private=private,
            members=member_ids,
            created=int(time.time()),
            creator=creator,
            is_archived=archived,
            is_general=general,
        )
        self.channels[channel.id] = channel
        return channel.id

    def channel_by_name(self, name: str) -> Channel | None:
        name = name.removeprefix("#")
        return next((c for c in self.channels.values() if c.name == name and not c.is_im), None)

    def find_channel(self, ref: str) -> Channel | None:
        return self.channels.get(ref) or self.channel_by_name(ref)

    def is_member(self, channel: Channel) -> bool:
        return self.bot_user_id in channel.members

    def _channel(self, args: dict[str, Any], name: str = "channel") -> Channel:
        """The channel an ID argument names (Slack wants IDs, not names, here)."""
        channel = self.channels.get(require(args, name))
        if channel is None:
            raise ApiError("channel_not_found")
        return channel

    def _visible_channel(self, args: dict[str, Any]) -> Channel:
        """Like `_channel`, but private channels the bot is not in do not exist for it."""
        channel = self._channel(args)
        if channel.is_private and not self.is_member(channel):
            raise ApiError("channel_not_found")
        return channel

    def _member_channel(self, args: dict[str, Any], name: str = "channel") -> Channel:
        channel = self._channel(args, name)
        if not self.is_member(channel):
            raise ApiError("not_in_channel")
        if channel.is_archived:
            raise ApiError("is_archived")
        return channel

    def _post_target(self, ref: str) -> Channel:
        """chat.postMessage's `channel`: an ID, a user ID (DM), or a public channel's name."""
        if ref in self.channels:
            channel = self.channels[ref]
        elif ref in self.users and ref != self.bot_user_id:
            channel = self._im_with(ref)
        else:
            channel = self.channel_by_name(ref)
            if channel is None or channel.is_private:
                raise ApiError("channel_not_found")
        if channel.is_archived:
            raise ApiError("is_archived")
        if not self.is_member(channel) and (channel.is_private or not self.chat_write_public):
            raise ApiError("not_in_channel")
        return channel

    def _im_with(self, user_id: str) -> Channel:
        for channel in self.channels.values():
            if channel.is_im and user_id in channel.members:
                return channel
        channel = Channel(
            id=self.new_id("D"),
            name=user_id,
            is_im=True,
            members=[self.bot_user_id, user_id],
            created=int(time.time()),
        )
        self.channels[channel.id] = channel
        return channel

    def _message(self, channel: Channel, ts: str) -> dict[str, Any]:
        message = channel.message(ts)
        if message is None:
            raise ApiError("message_not_found")
        return message

    def channel_json(self, channel: Channel) -> dict[str, Any]:
        if channel.is_im:
            user = next(m for m in channel.members if m != self.bot_user_id)
            return {"id": channel.id, "created": channel.created, "is_im": True, "user": user}
        return {
            "id": channel.id,
            "name": channel.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": channel.is_private,
            "created": channel.created,
            "creator": channel.creator,
            "is_archived": channel.is_archived,
            "is_general": channel.is_general,
            "unlinked": 0,
            "name_normalized": channel.name,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "pending_shared": [],
            "is_pending_ext_shared": False,
            "is_member": self.is_member(channel),
            "topic": dict(channel.topic),
            "purpose": dict(channel.purpose),
            "previous_names": [],
            "num_members": len(channel.members),
        }

    def user_json(self, user: User) -> dict[str, Any]:
        return {
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "real_name": user.real_name,
            "tz": "Etc/UTC",
            "tz_label": "Coordinated Universal Time",
            "tz_offset": 0,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "profile": {
                "real_name": user.real_name,
                "display_name": user.name,
                "real_name_normalized": user.real_name,
                "display_name_normalized": user.name,
                "team": self.team_id,
            },
        }

    def _content(self, args: dict[str, Any]) -> dict[str, Any]:
        """text/blocks/attachments of a message, decoded and checked like Slack does."""
        content: dict[str, Any] = {}
        if "text" in args:
            content["text"] = args["text"] or ""
        if present(args, "markdown_text"):
            content["text"] = args["markdown_text"]
        blocks = json_arg(args, "blocks", "invalid_blocks_format")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise ApiError("invalid_blocks_format")
            if len(blocks) > MAX_BLOCKS:
                raise ApiError(
                    "invalid_blocks",
                    response_metadata={"messages": ["[ERROR] no more than 50 items allowed"]},
                )
            if not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks):
                raise ApiError(
                    "invalid_blocks",
                    response_metadata={"messages": ["[ERROR] missing required field: type"]},
                )
            content["blocks"] = blocks
        attachments = json_arg(args, "attachments", "invalid_attachments")
        if attachments is not None:
            if not isinstance(attachments, list):
                raise ApiError("invalid_attachments")
            content["attachments"] = attachments
        return content

    @staticmethod
    def _has_content(content: dict[str, Any]) -> bool:
        return bool(content.get("text") or content.get("blocks") or content.get("attachments"))

    def _new_message(self, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": "",
            **content,
            "ts": self.new_ts(),
        }

    def _add_to_thread(self, channel: Channel, message: dict[str, Any], thread_ts: str) -> None:
        message["thread_ts"] = thread_ts
        parent = channel.message(thread_ts)
        if parent is not None:
            parent["thread_ts"] = thread_ts
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["latest_reply"] = message["ts"]
            users = parent.setdefault("reply_users", [])
            if message["user"] not in users:
                users.append(message["user"])

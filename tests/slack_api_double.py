"""A local Slack Web API double: a real HTTP server on 127.0.0.1 that answers like Slack.

Point a real client at it::

    with SlackApiDouble() as double:
        client = WebClient(token=double.token, base_url=double.base_url)
        client.conversations_create(name="inc-42")

Which arguments each method requires, and which error code Slack gives when one is
missing, come from the Slack API reference data in ``/work/shared/slack-api-ref``
(read at run time, never copied here). Without that folder a small built-in table
keeps the double working.

The workspace is modelled (users, channels with members, messages with ``ts``, pins,
reactions, bookmarks, topics, purposes, views, files), every request is recorded as a
``Call``, and failures can be injected: ``fail_next(...)`` and ``outage``.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import functools
import itertools
import json
import mimetypes
import re
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "slack-api-ref"
DEFAULT_TOKEN = "xoxb-test-token"

# Pseudo-method names under which non-API requests are recorded (and can be failed).
UPLOAD = "upload"
RESPONSE_URL = "response_url"
ANY_METHOD = "*"

# Used only when the reference data is missing: required arguments (besides `token`)
# and the error Slack gives for a missing one where it is not the generic answer.
_BUILTIN_REQUIRED: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "bookmarks.add": ("title", "type"),
    "chat.getPermalink": ("channel", "message_ts"),
    "chat.postEphemeral": ("user", "channel"),
    "chat.postMessage": ("channel",),
    "chat.update": ("ts", "channel"),
    "conversations.create": ("name",),
    "conversations.history": ("channel",),
    "conversations.replies": ("channel", "ts"),
    "conversations.info": ("channel",),
    "conversations.invite": ("channel", "users"),
    "conversations.join": ("channel",),
    "conversations.list": (),
    "conversations.setPurpose": ("channel", "purpose"),
    "conversations.setTopic": ("channel", "topic"),
    "files.completeUploadExternal": ("files",),
    "files.getUploadURLExternal": ("length", "filename"),
    "files.info": ("file",),
    "pins.add": ("channel",),
    "reactions.add": ("name", "timestamp", "channel"),
    "users.info": ("user",),
    "views.open": ("view",),
    "views.publish": ("user_id", "view"),
    "views.update": ("view",),
}
_BUILTIN_MISSING_ERRORS: dict[tuple[str, str], str] = {
    ("conversations.create", "name"): "invalid_name_required",
    ("conversations.invite", "users"): "no_user",
    ("pins.add", "channel"): "channel_not_found",
    ("files.getUploadURLExternal", "length"): "missing_argument",
    ("files.getUploadURLExternal", "filename"): "missing_argument",
}

_METHOD_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$")
_CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")
_EMOJI_NAME = re.compile(r"^[a-z0-9_+'-]+$")
_MISSING_WORDS = re.compile(r"was empty|no value|not specified|missing|not provided", re.I)
_CONVERSATION_TYPES = {"public_channel", "private_channel", "mpim", "im"}
_MAX_TOPIC = 250
_MAX_CHANNEL_NAME = 80
_MAX_BLOCKS = 50


# --------------------------------------------------------------------------- reference data


@functools.cache
def _load_spec(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class SlackReference:
    """What the reference data says about methods: required args and error codes."""

    def __init__(self, root: Path | None = REFERENCE_DIR) -> None:
        self.root = root if root is not None and (root / "methods").is_dir() else None

    @property
    def available(self) -> bool:
        return self.root is not None

    def spec(self, method: str) -> dict[str, Any] | None:
        if self.root is None or not _METHOD_NAME.match(method):
            return None
        return _load_spec(self.root / "methods" / f"{method}.json")

    def is_known(self, method: str) -> bool:
        return self.spec(method) is not None or method in _BUILTIN_REQUIRED

    def required_args(self, method: str) -> list[str]:
        spec = self.spec(method)
        if spec is None:
            return list(_BUILTIN_REQUIRED.get(method, ()))
        required = (spec.get("args") or {}).get("required") or []
        return [arg for arg in required if arg != "token"]

    def errors(self, method: str) -> dict[str, str]:
        """Error code -> description, as the reference lists them for `method`."""
        spec = self.spec(method)
        raw = (spec or {}).get("errors") or {}
        if not isinstance(raw, dict):
            return {}
        return {
            code: (v.get("desc", "") if isinstance(v, dict) else str(v)) for code, v in raw.items()
        }

    def missing_argument_error(self, method: str, arg: str) -> dict[str, Any]:
        """The body Slack answers when required `arg` of `method` is missing or empty.

        1. an error the method documents for exactly this argument being empty
           (e.g. conversations.create `name` -> invalid_name_required,
           conversations.invite `users` -> no_user, pins.add `channel` -> channel_not_found);
        2. otherwise `missing_argument` where the method lists it;
        3. otherwise Slack's generic `invalid_arguments` with a message, as in the
           reference's own example (conversations.setTopic without `topic`).
        """
        if self.root is None:
            code = _BUILTIN_MISSING_ERRORS.get((method, arg))
        else:
            errors = self.errors(method)
            code = next(
                (
                    c
                    for c, desc in errors.items()
                    if f"`{arg}`" in desc and _MISSING_WORDS.search(desc)
                ),
                "missing_argument" if "missing_argument" in errors else None,
            )
        if code is not None:
            return {"ok": False, "error": code}
        return {
            "ok": False,
            "error": "invalid_arguments",
            "response_metadata": {"messages": [f"[ERROR] missing required field: {arg}"]},
        }


# --------------------------------------------------------------------------- workspace model


class ApiError(Exception):
    """A Slack `ok: false` answer raised by a method handler."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body: dict[str, Any] = {"ok": False, "error": error, **extra}


class _MissingArgument(Exception):
    def __init__(self, arg: str) -> None:
        super().__init__(arg)
        self.arg = arg


@dataclass
class User:
    id: str
    name: str
    real_name: str = ""
    is_bot: bool = False
    deleted: bool = False


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    members: list[str] = field(default_factory=list)
    created: int = 0
    creator: str = ""
    is_archived: bool = False
    is_general: bool = False
    topic: dict[str, Any] = field(
        default_factory=lambda: {"value": "", "creator": "", "last_set": 0}
    )
    purpose: dict[str, Any] = field(
        default_factory=lambda: {"value": "", "creator": "", "last_set": 0}
    )
    messages: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)
    bookmarks: list[dict[str, Any]] = field(default_factory=list)

    def message(self, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages if m["ts"] == ts), None)


@dataclass
class UploadedFile:
    id: str
    name: str
    length: int
    content: bytes | None = None
    title: str = ""
    channels: list[str] = field(default_factory=list)
    initial_comment: str | None = None
    thread_ts: str | None = None
    completed: bool = False
    created: int = 0


def _flag(args: dict[str, Any], name: str) -> bool:
    value = args.get(name)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def _json_arg(args: dict[str, Any], name: str, error: str) -> Any:
    """An argument that arrives JSON-encoded in form bodies, or as JSON in JSON bodies."""
    value = args.get(name)
    if not isinstance(value, str):
        return value
    if value == "":
        return None
    try:
        return json.loads(value)
    except ValueError:
        raise ApiError(
            error, response_metadata={"messages": [f"[ERROR] {name}: invalid json"]}
        ) from None


def _present(args: dict[str, Any], name: str) -> bool:
    return args.get(name) not in (None, "")


def _require(args: dict[str, Any], name: str) -> Any:
    if not _present(args, name):
        raise _MissingArgument(name)
    return args[name]


class Workspace:
    """Slack's state for one workspace, and one handler per implemented method.

    Not thread-safe by itself: `SlackApiDouble` calls it under its lock.
    """

    def __init__(self, root_url: Callable[[], str], chat_write_public: bool = True) -> None:
        self._root_url = root_url
        self.chat_write_public = chat_write_public
        self.team_id = "T0TEAM"
        self.team_name = "Incident Double"
        self.url = "https://incident-double.slack.com/"
        self.bot_user_id = "U0BOT"
        self.bot_id = "B0BOT"
        self.app_id = "A0APP"
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.files: dict[str, UploadedFile] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self._ids = {prefix: itertools.count(1) for prefix in ("C", "D", "F", "V", "Bk")}
        self._last_micros = 0
        self.add_user(self.bot_user_id, "incident-bot", real_name="Incident Bot", is_bot=True)
        self.add_channel("general", general=True)

    # ---- state helpers

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
        creator: str = "",
    ) -> str:
        unknown = [m for m in members if m not in self.users]
        if unknown:
            raise ValueError(f"unknown users {unknown}: add them with add_user() first")
        channel = Channel(
            id=self.new_id("C"),
            name=name,
            is_private=private,
            members=list(dict.fromkeys(members)),
            created=int(time.time()),
            creator=creator,
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
        channel = self.channels.get(_require(args, name))
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
        if _present(args, "markdown_text"):
            content["text"] = args["markdown_text"]
        blocks = _json_arg(args, "blocks", "invalid_blocks_format")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise ApiError("invalid_blocks_format")
            if len(blocks) > _MAX_BLOCKS:
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
        attachments = _json_arg(args, "attachments", "invalid_attachments")
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
        user = self.users.get(_require(args, "user"))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": self.user_json(user)}

    # ---- conversations

    def conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = _require(args, "name")
        if len(name) > _MAX_CHANNEL_NAME:
            raise ApiError("invalid_name_maxlength")
        if not _CHANNEL_NAME.match(name):
            raise ApiError("invalid_name_specials")
        if set(name) <= set("-_"):
            raise ApiError("invalid_name_punctuation")
        if self.channel_by_name(name) is not None:
            raise ApiError("name_taken")
        channel_id = self.add_channel(
            name,
            members=[self.bot_user_id],
            private=_flag(args, "is_private"),
            creator=self.bot_user_id,
        )
        return {"channel": self.channel_json(self.channels[channel_id])}

    def conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(args)
        wanted = [u.strip() for u in str(_require(args, "users")).split(",") if u.strip()]
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
        if failures and not _flag(args, "force"):
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
        value = _require(args, prop)
        if not self.is_member(channel):
            raise ApiError("not_in_channel")
        if channel.is_archived:
            raise ApiError("is_archived")
        if len(value) > _MAX_TOPIC:
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
        if not types <= _CONVERSATION_TYPES:
            raise ApiError("invalid_types")
        exclude_archived = _flag(args, "exclude_archived")
        listed = []
        for channel in self.channels.values():
            kind = "im" if channel.is_im else "private" if channel.is_private else "public"
            kind = kind if kind == "im" else f"{kind}_channel"
            if kind not in types or (exclude_archived and channel.is_archived):
                continue
            if kind != "public_channel" and not self.is_member(channel):
                continue
            listed.append(self.channel_json(channel))
        return {"channels": listed, "response_metadata": {"next_cursor": ""}}

    def conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(args)
        if not self.is_member(channel):
            raise ApiError("not_in_channel")
        top_level = [
            m
            for m in channel.messages
            if m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast"
        ]
        if _present(args, "oldest"):
            top_level = [m for m in top_level if float(m["ts"]) >= float(args["oldest"])]
        if _present(args, "latest"):
            top_level = [m for m in top_level if float(m["ts"]) <= float(args["latest"])]
        newest_first = list(reversed(top_level))
        limit = int(args.get("limit") or 100)
        return {
            "messages": copy.deepcopy(newest_first[:limit]),
            "has_more": len(newest_first) > limit,
            "pin_count": len(channel.pins),
            "response_metadata": {"next_cursor": ""},
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
        if _present(args, "oldest"):
            thread = [m for m in thread if float(m["ts"]) >= float(args["oldest"])]
        if _present(args, "latest"):
            thread = [m for m in thread if float(m["ts"]) <= float(args["latest"])]
        limit = int(args.get("limit") or 1000)
        return {
            "messages": copy.deepcopy(thread[:limit]),
            "has_more": len(thread) > limit,
            "response_metadata": {"next_cursor": ""},
        }

    # ---- chat

    def chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._post_target(_require(args, "channel"))
        content = self._content(args)
        if not self._has_content(content):
            raise ApiError("no_text")
        message = self._new_message(content)
        if _present(args, "thread_ts"):
            self._add_to_thread(channel, message, str(args["thread_ts"]))
            if _flag(args, "reply_broadcast"):
                message["subtype"] = "thread_broadcast"
        channel.messages.append(message)
        return {"channel": channel.id, "ts": message["ts"], "message": copy.deepcopy(message)}

    def chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._message(channel, _require(args, "ts"))
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
        channel = self._post_target(_require(args, "channel"))
        user_id = _require(args, "user")
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
        message = self._message(channel, _require(args, "message_ts"))
        link = f"{self.url}archives/{channel.id}/p{message['ts'].replace('.', '')}"
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            link += f"?thread_ts={thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    # ---- pins, reactions, bookmarks

    def pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if not _present(args, "timestamp"):
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
        message = self._message(channel, _require(args, "timestamp"))
        name = _require(args, "name")
        if not _EMOJI_NAME.match(name):
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
        channel = self._visible_channel({"channel": _require(args, "channel_id")})
        if args.get("type") != "link":
            raise ApiError("invalid_bookmark_type")
        link = str(args.get("link") or "")
        if not link.startswith(("http://", "https://")):
            raise ApiError("invalid_link")
        now = int(time.time())
        bookmark = {
            "id": self.new_id("Bk"),
            "channel_id": channel.id,
            "title": _require(args, "title"),
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

    # ---- views

    def _view(self, args: dict[str, Any], kind: str) -> dict[str, Any]:
        view = _json_arg(args, "view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != kind:
            raise ApiError(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] view.type must be {kind!r}"]},
            )
        external_id = view.get("external_id") or ""
        return {
            "id": "",
            "team_id": self.team_id,
            "type": kind,
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": external_id,
            "state": {"values": {}},
            "hash": self.new_ts(),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": None,
            "previous_view_id": None,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }

    def _check_external_id(self, view: dict[str, Any], replacing: str | None = None) -> None:
        external_id = view["external_id"]
        if external_id and any(
            v["external_id"] == external_id and v_id != replacing for v_id, v in self.views.items()
        ):
            raise ApiError("duplicate_external_id")

    def views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not (_present(args, "trigger_id") or _present(args, "interactivity_pointer")):
            raise _MissingArgument("trigger_id")
        view = self._view(args, "modal")
        self._check_external_id(view)
        view["id"] = view["root_view_id"] = self.new_id("V")
        view["trigger_id"] = args.get("trigger_id")
        self.views[view["id"]] = view
        return {"view": copy.deepcopy(view)}

    def views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        if _present(args, "view_id"):
            old = self.views.get(args["view_id"])
        elif _present(args, "external_id"):
            old = next(
                (v for v in self.views.values() if v["external_id"] == args["external_id"]), None
            )
        else:
            raise _MissingArgument("view_id")
        if old is None:
            raise ApiError("not_found")
        if _present(args, "hash") and args["hash"] != old["hash"]:
            raise ApiError("hash_conflict")
        view = self._view(args, old["type"])
        self._check_external_id(view, replacing=old["id"])
        view.update(id=old["id"], root_view_id=old["root_view_id"])
        self.views[old["id"]] = view
        return {"view": copy.deepcopy(view)}

    def views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = _require(args, "user_id")
        old = self.home_views.get(user_id)
        if old and _present(args, "hash") and args["hash"] != old["hash"]:
            raise ApiError("hash_conflict")
        view = self._view(args, "home")
        view["id"] = view["root_view_id"] = old["id"] if old else self.new_id("V")
        self.home_views[user_id] = view
        return {"view": copy.deepcopy(view)}

    # ---- files (upload v2)

    def files_get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = _require(args, "filename")
        try:
            length = int(_require(args, "length"))
        except (TypeError, ValueError):
            raise ApiError(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] length"]}
            ) from None
        if length <= 0:
            raise ApiError("missing_argument")  # what Slack answers for length=0
        file = UploadedFile(id=self.new_id("F"), name=filename, length=length)
        self.files[file.id] = file
        return {"upload_url": f"{self._root_url()}/upload/v1/{file.id}", "file_id": file.id}

    def receive_upload(self, file_id: str, data: bytes) -> bool:
        file = self.files.get(file_id)
        if file is None or file.completed:
            return False
        file.content = data
        return True

    def files_complete_upload_external(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = _json_arg(args, "files", "invalid_arguments")
        if not isinstance(entries, list) or not entries:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] files"]})
        files = []
        for entry in entries:
            file = self.files.get(str((entry or {}).get("id")))
            if file is None or file.content is None:
                raise ApiError("file_not_found")
            files.append((file, entry.get("title")))
        refs = [args["channel_id"]] if _present(args, "channel_id") else []
        refs += [c for c in str(args.get("channels") or "").split(",") if c]
        channels = [self._member_channel({"channel": ref}) for ref in dict.fromkeys(refs)]
        thread_ts = args.get("thread_ts") or None
        for file, title in files:
            file.title = title or file.name
            file.channels = [c.id for c in channels]
            file.initial_comment = args.get("initial_comment")
            file.thread_ts = thread_ts
            file.completed = True
            file.created = int(time.time())
        shared = [self.file_json(f) for f, _ in files]
        for channel in channels:
            message = self._new_message({"text": args.get("initial_comment") or ""})
            message.update(files=copy.deepcopy(shared), upload=True, display_as_bot=False)
            if thread_ts:
                self._add_to_thread(channel, message, thread_ts)
            channel.messages.append(message)
        return {"files": shared}

    def file_json(self, file: UploadedFile) -> dict[str, Any]:
        mimetype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        filetype = Path(file.name).suffix.lstrip(".").lower() or "binary"
        private = [c for c in file.channels if self.channels[c].is_private]
        ims = [c for c in file.channels if self.channels[c].is_im]
        return {
            "id": file.id,
            "created": file.created,
            "timestamp": file.created,
            "name": file.name,
            "title": file.title,
            "mimetype": mimetype,
            "filetype": filetype,
            "user": self.bot_user_id,
            "user_team": self.team_id,
            "size": len(file.content or b""),
            "is_public": any(c not in private and c not in ims for c in file.channels),
            "url_private": f"{self.url}files/{self.bot_user_id}/{file.id}/{quote(file.name)}",
            "permalink": f"{self.url}files/{self.bot_user_id}/{file.id}/{quote(file.name)}",
            "channels": [c for c in file.channels if c not in private and c not in ims],
            "groups": private,
            "ims": ims,
        }

    def files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(_require(args, "file"))
        if file is None or not file.completed:
            raise ApiError("file_not_found")
        return {
            "file": self.file_json(file),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }


Handler = Callable[[Workspace, dict[str, Any]], dict[str, Any]]

HANDLERS: dict[str, Handler] = {
    "auth.test": Workspace.auth_test,
    "bookmarks.add": Workspace.bookmarks_add,
    "chat.getPermalink": Workspace.chat_get_permalink,
    "chat.postEphemeral": Workspace.chat_post_ephemeral,
    "chat.postMessage": Workspace.chat_post_message,
    "chat.update": Workspace.chat_update,
    "conversations.create": Workspace.conversations_create,
    "conversations.history": Workspace.conversations_history,
    "conversations.replies": Workspace.conversations_replies,
    "conversations.info": Workspace.conversations_info,
    "conversations.invite": Workspace.conversations_invite,
    "conversations.join": Workspace.conversations_join,
    "conversations.list": Workspace.conversations_list,
    "conversations.setPurpose": Workspace.conversations_set_purpose,
    "conversations.setTopic": Workspace.conversations_set_topic,
    "files.completeUploadExternal": Workspace.files_complete_upload_external,
    "files.getUploadURLExternal": Workspace.files_get_upload_url_external,
    "files.info": Workspace.files_info,
    "pins.add": Workspace.pins_add,
    "reactions.add": Workspace.reactions_add,
    "users.info": Workspace.users_info,
    "views.open": Workspace.views_open,
    "views.publish": Workspace.views_publish,
    "views.update": Workspace.views_update,
}


# --------------------------------------------------------------------------- HTTP plumbing


@dataclass
class Call:
    """One request the double received and its answer.

    `method` is the Web API method, or "upload" / "response_url" for those endpoints;
    `http_status` is 0 when the connection was reset (outage = "reset"); `response` is the
    JSON body, or {"body": text} for text answers; `injected` marks outage/fail_next answers.
    """

    method: str
    args: dict[str, Any]
    http_status: int
    response: dict[str, Any]
    injected: bool = False


@dataclass
class _Fault:
    status: int
    error: str | None
    retry_after: int | None
    delay: float
    times: int


@dataclass
class _Request:
    method: str  # HTTP verb
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False

    @classmethod
    def json(cls, status: int, body: dict[str, Any], **headers: str) -> _Reply:
        return cls(status, json.dumps(body).encode("utf-8"), headers=headers)

    @classmethod
    def text(cls, status: int, text: str) -> _Reply:
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8")


class _BadBody(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _parse_args(request: _Request) -> dict[str, Any]:
    """Query string plus body: form-urlencoded, JSON or multipart, as Slack accepts."""
    args: dict[str, Any] = {
        k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()
    }
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if not request.body:
        return args
    if kind == "application/json":
        try:
            body = json.loads(request.body.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError included
            raise _BadBody("invalid_json") from None
        if not isinstance(body, dict):
            raise _BadBody("json_not_object")
        args.update(body)
    elif kind == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            args[name] = payload if part.get_filename() else payload.decode("utf-8")
    elif kind in ("application/x-www-form-urlencoded", ""):
        try:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise _BadBody("invalid_form_data") from None
        args.update({k: v[-1] for k, v in form.items()})
    else:
        raise _BadBody("invalid_post_type")
    return args


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5  # idle connections cannot hold up stop()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: no request lines on stderr

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        url = urlsplit(self.path)
        request = _Request(
            method=self.command,
            path=unquote(url.path),
            query=url.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        reply = self.server.double._answer(request)
        if reply.reset:
            # SO_LINGER 0: closing sends a TCP RST instead of a clean FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins every request thread
    block_on_close = True

    def __init__(self, double: SlackApiDouble) -> None:
        self.double = double
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.double._note_server_error()


# --------------------------------------------------------------------------- the double


class SlackApiDouble:
    """A Slack Web API on loopback, with a workspace, call recording and fault injection."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        reference_dir: Path | None = REFERENCE_DIR,
        chat_write_public: bool = True,
    ) -> None:
        self.token = token
        self.reference = SlackReference(reference_dir)
        self.workspace = Workspace(lambda: self.url, chat_write_public=chat_write_public)
        self.server_errors: list[BaseException] = []
        self._lock = threading.RLock()
        self._calls: list[Call] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._stubs: dict[str, dict[str, Any]] = {}
        self._responses: dict[str, list[Any]] = {}
        self._outage: str | bool = False
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> SlackApiDouble:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-api-double",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes requests sleeping on an injected delay
        self._server.shutdown()
        self._server.server_close()  # joins the request threads
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> SlackApiDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port> (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the Slack API double is not running: call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def bot_user_id(self) -> str:
        return self.workspace.bot_user_id

    @property
    def team_id(self) -> str:
        return self.workspace.team_id

    # ---- fault injection

    @property
    def outage(self) -> str | bool:
        return self._outage

    @outage.setter
    def outage(self, value: str | bool) -> None:
        if value not in (False, True, "503", "reset"):
            raise ValueError('outage is False, True (same as "503"), "503" or "reset"')
        self._outage = "503" if value is True else value

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls to `method` ("*" for any) fail or answer slowly.

        status=429: HTTP 429, Retry-After (default 1), body ok=false "ratelimited";
        status=5xx: that status with a JSON error body; error="x": HTTP 200 ok=false "x";
        delay=seconds: wait first (alone: then answer normally). Faults queue in order.
        """
        if status is None and error is None and not delay:
            raise ValueError("give a status, an error or a delay")
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = _Fault(status or 200, error, retry_after, delay, times)
        with self._lock:
            self._faults.setdefault(method, deque()).append(fault)

    def stub(self, method: str, response: dict[str, Any]) -> None:
        """Answer `method` (one the double does not model) with `response` after the usual
        token and required-argument checks. "ok": true is added unless given."""
        with self._lock:
            self._stubs[method] = {"ok": True, **response}

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for key in (method, ANY_METHOD):
                queue = self._faults.get(key)
                if queue:
                    fault = queue[0]
                    fault.times -= 1
                    if fault.times <= 0:
                        queue.popleft()
                    return fault
        return None

    @staticmethod
    def _fault_reply(fault: _Fault) -> _Reply | None:
        if fault.status == 429:
            body = {"ok": False, "error": fault.error or "ratelimited"}
            return _Reply.json(429, body, **{"Retry-After": str(fault.retry_after)})
        if fault.status >= 500:
            default = "internal_error" if fault.status == 500 else "service_unavailable"
            return _Reply.json(fault.status, {"ok": False, "error": fault.error or default})
        if fault.error:
            return _Reply.json(fault.status, {"ok": False, "error": fault.error})
        return None  # only a delay

    # ---- recording

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def response_url(self, name: str) -> str:
        """A response_url on the double; JSON POSTs to it land in responses_to(name)."""
        return f"{self.url}/response/{quote(name, safe='')}"

    def responses_to(self, name: str) -> list[Any]:
        with self._lock:
            return copy.deepcopy(self._responses.get(name, []))

    def _note_server_error(self) -> None:
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, ConnectionError | TimeoutError):
            with self._lock:
                self.server_errors.append(error)

    # ---- workspace helpers (thread-safe; return copies)

    def add_user(
        self, user_id: str, name: str, *, real_name: str = "", is_bot: bool = False
    ) -> str:
        with self._lock:
            return self.workspace.add_user(user_id, name, real_name=real_name, is_bot=is_bot)

    def add_channel(
        self,
        name: str,
        members: Iterable[str] = (),
        private: bool = False,
        *,
        topic: str = "",
        purpose: str = "",
    ) -> str:
        """Add a channel; `members` are user IDs (include double.bot_user_id for the bot).
        Returns the channel ID."""
        with self._lock:
            channel_id = self.workspace.add_channel(name, members=members, private=private)
            channel = self.workspace.channels[channel_id]
            channel.topic["value"] = topic
            channel.purpose["value"] = purpose
            return channel_id

    def add_message(
        self, channel: str, text: str, *, user: str, thread_ts: str | None = None
    ) -> str:
        """Put a message from `user` (e.g. a human) into a channel (ID or name), in a thread if
        `thread_ts` is given; returns its ts."""
        with self._lock:
            found = self.workspace.find_channel(channel)
            if found is None or user not in self.workspace.users:
                raise ValueError(f"unknown channel {channel!r} or user {user!r}")
            message = {"type": "message", "user": user, "text": text, "team": self.team_id}
            message["ts"] = self.workspace.new_ts()
            found.messages.append(message)
            if thread_ts is not None:
                self.workspace._add_to_thread(found, message, thread_ts)
            return message["ts"]

    def channel(self, channel_id: str) -> Channel | None:
        with self._lock:
            return copy.deepcopy(self.workspace.find_channel(channel_id))

    def channel_by_name(self, name: str) -> Channel | None:
        with self._lock:
            return copy.deepcopy(self.workspace.channel_by_name(name))

    def messages_in(self, channel: str) -> list[dict[str, Any]]:
        """Messages in a channel (ID or name), oldest first, thread replies included."""
        found = self.channel(channel)
        return found.messages if found else []

    def ephemerals_in(self, channel: str) -> list[dict[str, Any]]:
        found = self.channel(channel)
        return found.ephemeral if found else []

    @property
    def files(self) -> list[UploadedFile]:
        """Completed file uploads, with their bytes."""
        with self._lock:
            return [copy.deepcopy(f) for f in self.workspace.files.values() if f.completed]

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self.workspace.views)

    @property
    def home_views(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self.workspace.home_views)

    # ---- answering

    def _answer(self, request: _Request) -> _Reply:
        route, _, rest = request.path.lstrip("/").partition("/")
        method = {"api": rest, "upload": UPLOAD, "response": RESPONSE_URL}.get(route, request.path)
        try:
            args = self._request_args(route, rest, request)
        except _BadBody as bad:
            return self._record(method, {}, _Reply.json(200, {"ok": False, "error": bad.error}))
        recorded = {k: v for k, v in args.items() if k != "token"}

        injected = self._injected_reply(method)
        if injected is not None:
            return self._record(method, recorded, injected, injected=True)
        if route == "api":
            reply = self._answer_api(method, args, request.headers)
        elif route == "upload":
            reply = self._answer_upload(args["file_id"], request.body)
        elif route == "response" and rest:
            reply = self._answer_response_url(rest, request.body)
        else:
            reply = _Reply.text(404, "not found")
        return self._record(method, recorded, reply)

    @staticmethod
    def _request_args(route: str, rest: str, request: _Request) -> dict[str, Any]:
        if route == "api":
            return _parse_args(request)
        if route == "upload":
            return {"file_id": rest.removeprefix("v1/"), "length": len(request.body)}
        if route == "response":
            return {"name": rest, "body": request.body.decode("utf-8", "replace")}
        return {}

    def _injected_reply(self, method: str) -> _Reply | None:
        """The outage or fail_next() answer for this request, if any (after any delay)."""
        if self._outage == "reset":
            return _Reply(0, reset=True)
        if self._outage:
            return _Reply.json(503, {"ok": False, "error": "service_unavailable"})
        fault = self._take_fault(method)
        if fault is None:
            return None
        if fault.delay:
            self._stopping.wait(fault.delay)  # stop() cuts the wait short
        return self._fault_reply(fault)

    def _answer_api(self, method: str, args: dict[str, Any], headers: dict[str, str]) -> _Reply:
        with self._lock:
            handler = HANDLERS.get(method)
            stub = self._stubs.get(method)
            if handler is None and stub is None:
                if self.reference.is_known(method):
                    body = {"ok": False, "error": "double_not_implemented", "req_method": method}
                else:
                    body = {"ok": False, "error": "unknown_method", "req_method": method}
                return _Reply.json(200, body)
            auth_error = self._auth_error(args, headers)
            if auth_error:
                return _Reply.json(200, {"ok": False, "error": auth_error})
            try:
                for arg in self.reference.required_args(method):
                    if not _present(args, arg):
                        raise _MissingArgument(arg)
                if handler is None:
                    return _Reply.json(200, copy.deepcopy(stub or {}))
                return _Reply.json(200, {"ok": True, **handler(self.workspace, args)})
            except _MissingArgument as missing:
                return _Reply.json(200, self.reference.missing_argument_error(method, missing.arg))
            except ApiError as error:
                return _Reply.json(200, error.body)

    def _auth_error(self, args: dict[str, Any], headers: dict[str, str]) -> str | None:
        authorization = headers.get("authorization", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        token = token or args.get("token")
        if not token:
            return "not_authed"
        return None if token == self.token else "invalid_auth"

    def _answer_upload(self, file_id: str, data: bytes) -> _Reply:
        with self._lock:
            if not self.workspace.receive_upload(file_id, data):
                return _Reply.text(404, "file not found")
        return _Reply.text(200, f"OK - {len(data)}")

    def _answer_response_url(self, name: str, body: bytes) -> _Reply:
        try:
            payload = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return _Reply.text(400, "invalid_payload")
        with self._lock:
            self._responses.setdefault(name, []).append(payload)
        return _Reply.text(200, "ok")

    def _record(
        self, method: str, args: dict[str, Any], reply: _Reply, *, injected: bool = False
    ) -> _Reply:
        if reply.content_type.startswith("application/json"):
            response = json.loads(reply.body) if reply.body else {}
        else:
            response = {"body": reply.body.decode("utf-8")}
        with self._lock:
            self._calls.append(Call(method, args, reply.status, response, injected))
        return reply

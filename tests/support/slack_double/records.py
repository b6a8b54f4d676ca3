"""The workspace's records: users, user groups, channels (with members, messages, pins,
bookmarks) and uploaded files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
class UserGroup:
    id: str
    handle: str
    name: str
    members: list[str] = field(default_factory=list)


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

"""The Slack API reference, read at run time: which arguments a method requires, and which
error Slack answers when one is missing.

The data lives in ``../shared/slack-api-ref`` next to the checkout (`REFERENCE_DIR`) and is
never copied here; without it a small built-in table keeps the double working.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from tests.support.paths import repo_root

REFERENCE_DIR = repo_root().parent / "shared" / "slack-api-ref"

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
    "usergroups.list": (),
    "usergroups.users.list": ("usergroup",),
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
_MISSING_WORDS = re.compile(r"was empty|no value|not specified|missing|not provided", re.I)


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

"""File uploads the v2 way: an upload URL, the bytes posted to it, then completing the upload."""

from __future__ import annotations

import copy
import mimetypes
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.support.slack_double.args import ApiError, json_arg, present, require
from tests.support.slack_double.records import UploadedFile
from tests.support.slack_double.state import WorkspaceState


class FileMethods(WorkspaceState):
    """files.getUploadURLExternal, the upload itself, files.completeUploadExternal, files.info."""

    # ---- files (upload v2)

    def files_get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = require(args, "filename")
        try:
            length = int(require(args, "length"))
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
        entries = json_arg(args, "files", "invalid_arguments")
        if not isinstance(entries, list) or not entries:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] files"]})
        files = []
        for entry in entries:
            file = self.files.get(str((entry or {}).get("id")))
            if file is None or file.content is None:
                raise ApiError("file_not_found")
            files.append((file, entry.get("title")))
        refs = [args["channel_id"]] if present(args, "channel_id") else []
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
        file = self.files.get(require(args, "file"))
        if file is None or not file.completed:
            raise ApiError("file_not_found")
        return {
            "file": self.file_json(file),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

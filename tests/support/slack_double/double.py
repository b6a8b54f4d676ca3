"""The double itself: starts and stops the server, answers each request from the workspace
(after the token and required-argument checks), records every call, and offers thread-safe
helpers to set up and inspect the workspace."""

from __future__ import annotations

import copy
import json
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.support.slack_double.args import ApiError, MissingArgument, present
from tests.support.slack_double.faults import Faults
from tests.support.slack_double.records import Channel, UploadedFile
from tests.support.slack_double.reference import REFERENCE_DIR, SlackReference
from tests.support.slack_double.server import BadBody, Reply, Request, Server, parse_args
from tests.support.slack_double.workspace import HANDLERS, Workspace

DEFAULT_TOKEN = "xoxb-test-token"

# Pseudo-method names under which non-API requests are recorded (and can be failed).
UPLOAD = "upload"
RESPONSE_URL = "response_url"


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
        self._stubs: dict[str, dict[str, Any]] = {}
        self._responses: dict[str, list[Any]] = {}
        self._stopping = threading.Event()
        self.faults = Faults(self._stopping)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> SlackApiDouble:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = Server(self._answer, self._note_server_error)
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
    def bot_id(self) -> str:
        """The bot's `bot_id`, which marks the messages it posts (besides its user id)."""
        return self.workspace.bot_id

    @property
    def team_id(self) -> str:
        return self.workspace.team_id

    @property
    def owner_user_id(self) -> str:
        """The person who made the workspace: the creator of channels a test adds."""
        return self.workspace.owner_user_id

    # ---- fault injection

    @property
    def outage(self) -> str | bool:
        return self.faults.outage

    @outage.setter
    def outage(self, value: str | bool) -> None:
        self.faults.outage = value

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
        self.faults.fail_next(
            method,
            status=status,
            error=error,
            retry_after=retry_after,
            delay=delay,
            times=times,
        )

    def stub(self, method: str, response: dict[str, Any]) -> None:
        """Answer `method` (one the double does not model) with `response` after the usual
        token and required-argument checks. "ok": true is added unless given."""
        with self._lock:
            self._stubs[method] = {"ok": True, **response}

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

    def add_usergroup(self, handle: str, members: Iterable[str], *, name: str = "") -> str:
        """Add a user group (`@handle`) of user IDs; returns its ID (`S...`)."""
        with self._lock:
            return self.workspace.add_usergroup(handle, list(members), name)

    def add_channel(
        self,
        name: str,
        members: Iterable[str] = (),
        private: bool = False,
        *,
        topic: str = "",
        purpose: str = "",
        creator: str | None = None,
        archived: bool = False,
    ) -> str:
        """Add a channel; `members` are user IDs (include double.bot_user_id for the bot),
        `creator` whoever made it (the workspace owner unless given). Returns its ID."""
        with self._lock:
            channel_id = self.workspace.add_channel(
                name,
                members=members,
                private=private,
                creator=creator or self.workspace.owner_user_id,
                archived=archived,
            )
            channel = self.workspace.channels[channel_id]
            channel.topic["value"] = topic
            channel.purpose["value"] = purpose
            return channel_id

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str,
        thread_ts: str | None = None,
        bot_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Put a message from `user` (e.g. a human, or another app's bot user with its
        `bot_id`) into a channel (ID or name), in a thread if `thread_ts` is given, with
        message `metadata` if given; returns its ts."""
        with self._lock:
            found = self.workspace.find_channel(channel)
            if found is None or user not in self.workspace.users:
                raise ValueError(f"unknown channel {channel!r} or user {user!r}")
            message: dict[str, Any] = {
                "type": "message",
                "user": user,
                "text": text,
                "team": self.team_id,
            }
            if bot_id is not None:
                message["bot_id"] = bot_id
            if metadata is not None:
                message["metadata"] = copy.deepcopy(metadata)
            ts = message["ts"] = self.workspace.new_ts()
            found.messages.append(message)
            if thread_ts is not None:
                self.workspace._add_to_thread(found, message, thread_ts)
            return ts

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

    def _answer(self, request: Request) -> Reply:
        route, _, rest = request.path.lstrip("/").partition("/")
        method = {"api": rest, "upload": UPLOAD, "response": RESPONSE_URL}.get(route, request.path)
        try:
            args = self._request_args(route, rest, request)
        except BadBody as bad:
            return self._record(method, {}, Reply.json(200, {"ok": False, "error": bad.error}))
        recorded = {k: v for k, v in args.items() if k != "token"}

        injected = self.faults.injected_reply(method)
        if injected is not None:
            return self._record(method, recorded, injected, injected=True)
        if route == "api":
            reply = self._answer_api(method, args, request.headers)
        elif route == "upload":
            reply = self._answer_upload(args["file_id"], request.body)
        elif route == "response" and rest:
            reply = self._answer_response_url(rest, request.body)
        else:
            reply = Reply.text(404, "not found")
        return self._record(method, recorded, reply)

    @staticmethod
    def _request_args(route: str, rest: str, request: Request) -> dict[str, Any]:
        if route == "api":
            return parse_args(request)
        if route == "upload":
            return {"file_id": rest.removeprefix("v1/"), "length": len(request.body)}
        if route == "response":
            return {"name": rest, "body": request.body.decode("utf-8", "replace")}
        return {}

    def _answer_api(self, method: str, args: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            handler = HANDLERS.get(method)
            stub = self._stubs.get(method)
            if handler is None and stub is None:
                if self.reference.is_known(method):
                    body = {"ok": False, "error": "double_not_implemented", "req_method": method}
                else:
                    body = {"ok": False, "error": "unknown_method", "req_method": method}
                return Reply.json(200, body)
            auth_error = self._auth_error(args, headers)
            if auth_error:
                return Reply.json(200, {"ok": False, "error": auth_error})
            try:
                for arg in self.reference.required_args(method):
                    if not present(args, arg):
                        raise MissingArgument(arg)
                if handler is None:
                    return Reply.json(200, copy.deepcopy(stub or {}))
                return Reply.json(200, {"ok": True, **handler(self.workspace, args)})
            except MissingArgument as missing:
                return Reply.json(200, self.reference.missing_argument_error(method, missing.arg))
            except ApiError as error:
                return Reply.json(200, error.body)

    def _auth_error(self, args: dict[str, Any], headers: dict[str, str]) -> str | None:
        authorization = headers.get("authorization", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        token = token or args.get("token")
        if not token:
            return "not_authed"
        return None if token == self.token else "invalid_auth"

    def _answer_upload(self, file_id: str, data: bytes) -> Reply:
        with self._lock:
            if not self.workspace.receive_upload(file_id, data):
                return Reply.text(404, "file not found")
        return Reply.text(200, f"OK - {len(data)}")

    def _answer_response_url(self, name: str, body: bytes) -> Reply:
        try:
            payload = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return Reply.text(400, "invalid_payload")
        with self._lock:
            self._responses.setdefault(name, []).append(payload)
        return Reply.text(200, "ok")

    def _record(
        self, method: str, args: dict[str, Any], reply: Reply, *, injected: bool = False
    ) -> Reply:
        if reply.content_type.startswith("application/json"):
            response = json.loads(reply.body) if reply.body else {}
        else:
            response = {"body": reply.body.decode("utf-8")}
        with self._lock:
            self._calls.append(Call(method, args, reply.status, response, injected))
        return reply

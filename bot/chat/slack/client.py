"""The Slack Web API behind the chat port, with retries and Slack's error rules."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from http.client import RemoteDisconnected
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.chat.port import Channel, ChatRejected, ChatUnavailable, Message
from bot.chat.slack.blocks import bot_mention, clip, payload, slack_escape
from bot.commands.grammar import parse_plain_mention

log = logging.getLogger(__name__)

MAX_RETRIES = 3
TOPIC_MAX = 250
PURPOSE_MAX = 250
NAME_TAKEN_SUFFIXES = 20
# Answers that mean "fine, it is already so" rather than failure.
_SLACK_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")
HARMLESS = {"already_in_channel", "cant_invite_self", "already_pinned"}
# How long a user group's members are trusted before Slack is asked again.
GROUP_CACHE_SECONDS = 60.0
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
RATE_LIMITED = "rate_limited"  # the outcome counted for a 429


class _ServerErrorRetry(ServerErrorRetryHandler):
    """Slack's 502 and 504 (from its edge) are as temporary as its 500 and 503."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in (500, 502, 503, 504)


# Who is told of each Slack answer: (method as Slack names it, outcome).
Answered = Callable[[str, str], None]


def _not_counted(method: str, outcome: str) -> None:
    """The default: answers are not counted anywhere."""


class _CountedRateLimitRetry(RateLimitErrorRetryHandler):
    """slack_sdk's 429 retry, telling `answered` of each 429 it retries."""

    def __init__(self, answered: Answered, *, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._answered = answered

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        retry = super()._can_retry(state=state, request=request, response=response, error=error)
        if retry:
            self._answered(request.url.rstrip("/").rsplit("/", 1)[-1], RATE_LIMITED)
        return retry


def make_web_client(
    token: str, base_url: str, timeout: int = 10, *, answered: Answered = _not_counted
) -> WebClient:
    """A WebClient that retries connection errors, 429 (after Retry-After) and 5xx;
    `answered` hears of every 429 it retries."""
    backoff = BackoffRetryIntervalCalculator(backoff_factor=0.5)
    handlers: list[RetryHandler] = [
        ConnectionErrorRetryHandler(
            max_retry_count=MAX_RETRIES,
            interval_calculator=backoff,
            error_types=[URLError, ConnectionError, RemoteDisconnected, TimeoutError],
        ),
        _CountedRateLimitRetry(answered, max_retry_count=MAX_RETRIES),
        _ServerErrorRetry(max_retry_count=MAX_RETRIES, interval_calculator=backoff),
    ]
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=handlers)


class SlackChat:
    """The chat port on Slack."""

    def __init__(
        self,
        client: WebClient,
        *,
        private_channels: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
        answered: Answered = _not_counted,
    ) -> None:
        self.client = client
        self._answered = answered  # told of each call's final answer, for /metrics
        self.private_channels = private_channels
        self._bot_user_id: str | None = None
        self._monotonic = monotonic
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}  # group -> (until, members)
        self._groups_lock = threading.Lock()

    @property
    def bot_user_id(self) -> str:
        """The bot's own user id (asked of Slack once)."""
        if self._bot_user_id is None:
            self._bot_user_id = str(self.call("auth_test")["user_id"])
        return self._bot_user_id

    @property
    def known_bot_user_id(self) -> str | None:
        """The bot's user id if Slack has told it yet; never waits on Slack."""
        return self._bot_user_id

    def call(self, method: str, **args: Any) -> dict[str, Any]:
        """Call a Web API method; turn Slack's failures into the port's two kinds."""
        name = method.replace("_", ".")  # usergroups_users_list -> usergroups.users.list
        try:
            response = getattr(self.client, method)(**args)
        except SlackApiError as error:
            status = error.response.status_code
            code = error.response.get("error", "") if error.response.data else ""
            if code in HARMLESS:
                self._answered(name, "ok")
                return dict(error.response.data)
            if status == 429 or code == "ratelimited":
                self._answered(name, RATE_LIMITED)
                raise ChatUnavailable(f"Slack {method}: {code or status}") from None
            if status >= 500 or code == "service_unavailable":
                self._answered(name, "unavailable")
                raise ChatUnavailable(f"Slack {method}: {code or status}") from None
            self._answered(name, "rejected")
            raise ChatRejected(f"Slack {method}: {code or status}") from None
        except (SlackClientError, URLError, ConnectionError, TimeoutError, OSError) as error:
            self._answered(name, "unreachable")
            raise ChatUnavailable(f"Slack {method}: {type(error).__name__}: {error}") from None
        self._answered(name, "ok")
        return dict(response.data) if isinstance(response.data, dict) else {}

    def create_channel(self, name: str) -> Channel:
        candidate = name
        for attempt in range(2, NAME_TAKEN_SUFFIXES + 2):
            try:
                data = self.call(
                    "conversations_create", name=candidate, is_private=self.private_channels
                )
            except ChatRejected as error:
                if "name_taken" not in str(error):
                    raise
                suffix = f"-{attempt}"
                candidate = name[: 80 - len(suffix)] + suffix
                continue
            channel = data["channel"]
            return Channel(id=channel["id"], name=channel["name"])
        raise ChatRejected(f"Slack conversations.create: every name like {name} is taken")

    def invite(self, channel_id: str, users: list[str]) -> None:
        # One call per person: one person who cannot be invited must not keep out the rest.
        for user in users:
            if user == self.bot_user_id:
                continue
            try:
                self.call("conversations_invite", channel=channel_id, users=user)
            except ChatRejected as error:
                log.warning("Could not invite %s to %s: %s", user, channel_id, error)

    def set_topic(self, channel_id: str, topic: str) -> None:
        topic = clip(slack_escape(topic), TOPIC_MAX)
        self.call("conversations_setTopic", channel=channel_id, topic=topic)

    def set_purpose(self, channel_id: str, purpose: str) -> None:
        self.call(
            "conversations_setPurpose",
            channel=channel_id,
            purpose=clip(slack_escape(purpose), PURPOSE_MAX),
        )

    def post(self, channel: str, message: Message, thread_ref: str | None = None) -> str:
        data = self.call(
            "chat_postMessage",
            channel=channel,
            **payload(message),
            thread_ts=thread_ref,
            unfurl_links=False,
        )
        return str(data["ts"])

    def update(self, channel_id: str, message_ref: str, message: Message) -> None:
        self.call(
            "chat_update",
            channel=channel_id,
            ts=message_ref,
            **payload(message),
        )

    def pin(self, channel_id: str, message_ref: str) -> None:
        self.call("pins_add", channel=channel_id, timestamp=message_ref)

    def upload(self, channel_id: str, filename: str, content: str, title: str) -> None:
        """Slack's upload flow (getUploadURLExternal, upload, completeUploadExternal)."""
        self.call(
            "files_upload_v2", channel=channel_id, content=content, filename=filename, title=title
        )

    def bookmark(self, channel_id: str, title: str, url: str) -> None:
        self.call("bookmarks_add", channel_id=channel_id, title=title, type="link", link=url)

    def mention(self, user: str) -> str:
        return bot_mention(user)

    def parse_mention(self, word: str) -> str | None:
        return parse_slack_mention(word)

    def group_members(self, group: str) -> set[str]:
        """A user group's members, by id (`S0604QSJC`) or handle (`oncall`), cached briefly.

        When Slack cannot say, the group has nobody in it: an unknown group is kept like an
        answer, an outage is not, so the next question asks Slack again.
        """
        now = self._monotonic()
        with self._groups_lock:
            until, members = self._groups.get(group, (now, frozenset()))
        if until > now:
            return set(members)
        found: dict[str, Any] = {}
        try:
            group_id = group if _GROUP_ID.match(group) else self._group_id(group.lstrip("@"))
            if group_id is not None:
                found = self.call("usergroups_users_list", usergroup=group_id)
        except ChatUnavailable as error:  # asked again next time
            log.warning("Could not read the members of user group %s: %s", group, error)
            return set()
        except ChatRejected as error:  # no such group, or no access: nobody, for a while
            log.warning("Could not read the members of user group %s: %s", group, error)
        members = frozenset(str(user) for user in found.get("users", ()))
        with self._groups_lock:
            self._groups[group] = (now + GROUP_CACHE_SECONDS, members)
        return set(members)

    def _group_id(self, handle: str) -> str | None:
        groups = self.call("usergroups_list").get("usergroups", ())
        return next((str(g["id"]) for g in groups if g.get("handle") == handle), None)


def parse_slack_mention(word: str) -> str | None:
    """Slack writes `<@U123|alice>` (or `<@U123>`) for a mention; `@alice` works too."""
    slack = _SLACK_MENTION.match(word)
    return slack.group(1) if slack else parse_plain_mention(word)

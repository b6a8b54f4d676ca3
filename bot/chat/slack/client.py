"""The Slack Web API behind the chat port, with retries and Slack's error rules."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.chat.port import Channel, ChatRejected, ChatUnavailable, Message
from bot.chat.slack.blocks import bot_mention, clip, payload, slack_escape
from bot.chat.slack.web_client import (
    HELD,
    INLINE_RETRY_SECONDS,
    RATE_LIMITED,
    Answered,
    MethodThrottles,
    not_counted,
    retry_after_seconds,
)
from bot.commands.grammar import parse_plain_mention

log = logging.getLogger(__name__)

TOPIC_MAX = 250
PURPOSE_MAX = 250
CHANNEL_NAME_MAX = 80
NAME_TAKEN_SUFFIXES = 20
_SLACK_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")
# Answers that mean "fine, it is already so" rather than failure.
HARMLESS = {"already_in_channel", "cant_invite_self", "already_pinned"}
# How long a user group's members are trusted before Slack is asked again.
GROUP_CACHE_SECONDS = 60.0
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
# The message metadata that carries a post's marker, so `find_posted` can find it again.
MARKER_EVENT = "incident_bot_work"
HISTORY_PAGE = 200
CHANNELS_PAGE = 1000
CHANNEL_TYPES = "public_channel,private_channel"
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")  # names are lower case, ids upper case
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SlackChat:
    """The chat port on Slack."""

    def __init__(
        self,
        client: WebClient,
        *,
        private_channels: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        answered: Answered = not_counted,
    ) -> None:
        self.client = client
        self._answered = answered  # told of each call's final answer, for /metrics
        self.private_channels = private_channels
        self._bot: tuple[str, str] | None = None  # (user id, bot id)
        self._monotonic = monotonic
        self._sleep = sleep
        self._throttles = MethodThrottles(monotonic)
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}  # group -> (until, members)
        self._groups_lock = threading.Lock()

    @property
    def bot_user_id(self) -> str:
        """The bot's own user id (asked of Slack once)."""
        return self._identity()[0]

    @property
    def known_bot_user_id(self) -> str | None:
        """The bot's user id if Slack has told it yet; never waits on Slack."""
        return self._bot[0] if self._bot is not None else None

    def _identity(self) -> tuple[str, str]:
        """The bot's user id and bot id, which mark the messages it posted."""
        if self._bot is None:
            answer = self.call("auth_test")
            self._bot = (str(answer["user_id"]), str(answer.get("bot_id") or ""))
        return self._bot

    def call(self, method: str, **args: Any) -> dict[str, Any]:
        """Call a Web API method; turn Slack's failures into the port's two kinds.

        A method Slack asked to wait is not called before the wait is over: a short rest is
        waited out here, a longer one raises ChatUnavailable at once. Other methods go on.
        """
        name = method.replace("_", ".")  # usergroups_users_list -> usergroups.users.list
        self._wait_for_turn(name)
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
                wait = retry_after_seconds(error.response.headers)
                if wait is not None:
                    self._throttles.hold(name, wait)
                raise ChatUnavailable(
                    f"Slack {method}: {code or status}", retry_after=wait
                ) from None
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

    def _wait_for_turn(self, name: str) -> None:
        """Wait out the rest of a short wait Slack asked of `name`; refuse a longer one.

        A refused call is counted as held: Slack never saw it.
        """
        while (left := self._throttles.remaining(name)) > 0:
            if left > INLINE_RETRY_SECONDS:
                self._answered(name, HELD)
                raise ChatUnavailable(
                    f"Slack {name}: rate limited for {left:.1f} s more", retry_after=left
                )
            self._sleep(left)

    def _pages(self, method: str, key: str, **args: Any) -> Iterator[dict[str, Any]]:
        """The items under `key` of every page of a paginated method, page after page."""
        cursor = ""
        while True:
            data = self.call(method, **args, **({"cursor": cursor} if cursor else {}))
            yield from data.get(key, ())
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return

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
                candidate = name[: CHANNEL_NAME_MAX - len(suffix)] + suffix
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

    def find_channel(self, name: str) -> Channel | None:
        user_id = self.bot_user_id
        made: list[tuple[int, Channel]] = []  # (which of create_channel's names, channel)
        for found in self._channels(exclude_archived=True):
            attempt = _attempt_of(str(found.get("name", "")), name)
            if attempt is not None and found.get("creator") == user_id:
                made.append((attempt, Channel(id=str(found["id"]), name=str(found["name"]))))
        return min(made, key=lambda made_as: made_as[0])[1] if made else None

    def post(
        self,
        channel: str,
        message: Message,
        thread_ref: str | None = None,
        *,
        marker: str | None = None,
    ) -> str:
        metadata = (
            {"event_type": MARKER_EVENT, "event_payload": {"marker": marker}}
            if marker is not None
            else None
        )
        data = self.call(
            "chat_postMessage",
            channel=channel,
            **payload(message),
            thread_ts=thread_ref,
            unfurl_links=False,
            metadata=metadata,
        )
        return str(data["ts"])

    def find_posted(
        self, channel: str, marker: str, *, since: datetime, thread_ref: str | None = None
    ) -> str | None:
        user_id, bot_id = self._identity()
        method, thread = "conversations_history", {}
        if thread_ref is not None:
            method, thread = "conversations_replies", {"ts": thread_ref}
        for message in self._pages(
            method,
            "messages",
            channel=self._channel_id(channel),
            **thread,
            oldest=slack_ts(since),
            include_all_metadata=True,
            limit=HISTORY_PAGE,
        ):
            if _marker_of(message) == marker and _posted_by(message, user_id, bot_id):
                return str(message["ts"])
        return None

    def _channel_id(self, channel: str) -> str:
        """A channel's id; a name (`post` takes either) is looked up among the channels."""
        if _CHANNEL_ID.match(channel):
            return channel
        name = channel.removeprefix("#")
        found = next((c for c in self._channels() if c.get("name") == name), None)
        if found is None:
            raise ChatRejected(f"Slack conversations.list: no channel named #{name}")
        return str(found["id"])

    def _channels(self, **args: Any) -> Iterator[dict[str, Any]]:
        """The public and private channels the bot can see, every page."""
        return self._pages(
            "conversations_list", "channels", types=CHANNEL_TYPES, limit=CHANNELS_PAGE, **args
        )

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


def slack_ts(moment: datetime) -> str:
    """A moment as Slack writes a message's ts; a naive datetime is UTC (as databases keep it)."""
    elapsed = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) - _EPOCH
    return f"{elapsed.days * 86400 + elapsed.seconds}.{elapsed.microseconds:06d}"


def _marker_of(message: Mapping[str, Any]) -> str | None:
    """The marker a message carries in this bot's metadata, if any."""
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != MARKER_EVENT:
        return None
    event_payload = metadata.get("event_payload")
    marker = event_payload.get("marker") if isinstance(event_payload, dict) else None
    return marker if isinstance(marker, str) else None


def _posted_by(message: Mapping[str, Any], user_id: str, bot_id: str) -> bool:
    """Whether the bot (its user, or its bot id) posted a message."""
    return message.get("user") == user_id or bool(bot_id and message.get("bot_id") == bot_id)


def _attempt_of(found: str, name: str) -> int | None:
    """Which of `create_channel`'s names for `name` `found` is: 1 for `name` itself, n for
    `name-n` (clipped as `create_channel` clips it); None when it is neither."""
    if found == name:
        return 1
    base, dash, digits = found.rpartition("-")
    clipped = name[: CHANNEL_NAME_MAX - len(dash + digits)]
    numbered = bool(dash) and digits.isascii() and digits.isdigit()
    return int(digits) if numbered and base == clipped else None


def parse_slack_mention(word: str) -> str | None:
    """Slack writes `<@U123|alice>` (or `<@U123>`) for a mention; `@alice` works too."""
    slack = _SLACK_MENTION.match(word)
    return slack.group(1) if slack else parse_plain_mention(word)

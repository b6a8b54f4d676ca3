"""The chat port's lookups on Slack, through the Web API double: a post's marker rides in
Slack message metadata and `find_posted` finds only this bot's message carrying it;
`find_channel` finds the incident channel this bot made, under any of its names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.chat.port import Channel, ChatRejected, Message
from bot.chat.slack.client import MARKER_EVENT, SlackChat
from bot.chat.slack.web_client import make_web_client
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_users import ALICE, BOB
from tests.support.waiting import eventually

DEPLOY_BOT, DEPLOY_BOT_ID = "U0DEPLOY", "B0DEPLOY"  # another app's bot in the workspace


@pytest.fixture
def chat(double: SlackApiDouble) -> SlackChat:
    return SlackChat(make_web_client(double.token, double.base_url))


@pytest.fixture
def channel(chat: SlackChat) -> Channel:
    return chat.create_channel("inc-7-db")


@pytest.fixture
def since() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=1)


def marked(marker: str) -> dict[str, object]:
    return {"event_type": MARKER_EVENT, "event_payload": {"marker": marker}}


def moment_of(ts: str) -> datetime:
    seconds, micros = ts.split(".")
    return datetime.fromtimestamp(int(seconds), UTC).replace(microsecond=int(micros))


# --------------------------------------------------------------------------- markers


def test_a_marker_travels_as_message_metadata_and_finds_the_post_again(
    chat: SlackChat, double: SlackApiDouble, channel: Channel, since: datetime
):
    ref = chat.post(channel.id, Message("INC-7 declared"), marker="outbox-41")

    [stored] = double.messages_in(channel.id)
    assert stored["ts"] == ref and stored["metadata"] == marked("outbox-41")
    assert chat.find_posted(channel.id, "outbox-41", since=since) == ref
    [history] = double.calls_to("conversations.history")
    assert history.args["include_all_metadata"] in ("1", "true", True)
    assert moment_of(history.args["oldest"]) == since


def test_a_post_without_a_marker_sends_no_metadata(
    chat: SlackChat, double: SlackApiDouble, channel: Channel, since: datetime
):
    chat.post(channel.id, Message("INC-7 declared"))

    assert "metadata" not in double.calls_to("chat.postMessage")[0].args
    assert "metadata" not in double.messages_in(channel.id)[0]
    assert chat.find_posted(channel.id, "outbox-41", since=since) is None


def test_only_this_bots_message_with_that_marker_is_found(
    chat: SlackChat, double: SlackApiDouble, channel: Channel, since: datetime
):
    double.add_user(DEPLOY_BOT, "deploy-bot", is_bot=True)
    double.add_message(
        channel.id, "copied", user=DEPLOY_BOT, bot_id=DEPLOY_BOT_ID, metadata=marked("outbox-41")
    )
    double.add_message(channel.id, "a person", user=ALICE, metadata=marked("outbox-41"))
    chat.post(channel.id, Message("other work"), marker="outbox-40")
    assert chat.find_posted(channel.id, "outbox-41", since=since) is None

    ours = chat.post(channel.id, Message("INC-7 declared"), marker="outbox-41")
    double.add_message(channel.id, "later, by a person", user=BOB, metadata=marked("outbox-41"))

    assert chat.find_posted(channel.id, "outbox-41", since=since) == ours


def test_a_message_posted_before_since_is_not_found(
    chat: SlackChat, double: SlackApiDouble, channel: Channel
):
    earlier = chat.post(channel.id, Message("before the attempt"), marker="outbox-41")
    since = moment_of(earlier) + timedelta(milliseconds=1)
    eventually(lambda: datetime.now(UTC) > since)  # the next post is after `since`

    assert chat.find_posted(channel.id, "outbox-41", since=since) is None
    later = chat.post(channel.id, Message("the attempt"), marker="outbox-41")
    assert chat.find_posted(channel.id, "outbox-41", since=since) == later
    assert chat.find_posted(channel.id, "outbox-41", since=since - timedelta(seconds=5)) == later


def test_a_naive_since_is_read_as_utc(chat: SlackChat, channel: Channel, since: datetime):
    ref = chat.post(channel.id, Message("INC-7 declared"), marker="outbox-41")
    naive = since.replace(tzinfo=None)  # how SQLite gives a timestamp back

    assert chat.find_posted(channel.id, "outbox-41", since=naive) == ref


def test_a_thread_reply_is_found_in_its_thread_only(
    chat: SlackChat, double: SlackApiDouble, channel: Channel, since: datetime
):
    parent = double.add_message(channel.id, "db is slow again", user=ALICE)
    reply = chat.post(channel.id, Message("Noted on INC-7"), parent, marker="outbox-42")

    assert chat.find_posted(channel.id, "outbox-42", since=since, thread_ref=parent) == reply
    assert chat.find_posted(channel.id, "outbox-42", since=since) is None  # not top level
    [replies] = double.calls_to("conversations.replies")
    assert replies.args["ts"] == parent


def test_a_channel_named_rather_than_given_by_id_is_looked_up(
    chat: SlackChat, double: SlackApiDouble, since: datetime
):
    double.add_channel("announcements", members=[double.bot_user_id])
    ref = chat.post("announcements", Message("INC-7 declared"), marker="outbox-43")

    assert chat.find_posted("announcements", "outbox-43", since=since) == ref
    assert chat.find_posted("#announcements", "outbox-43", since=since) == ref
    with pytest.raises(ChatRejected, match="no channel named #nowhere"):
        chat.find_posted("nowhere", "outbox-43", since=since)


def test_a_channel_the_bot_posts_in_without_being_a_member_cannot_be_searched(
    chat: SlackChat, since: datetime
):
    # The bot announces in #incidents with chat:write.public, but history needs membership.
    chat.post("incidents", Message("INC-7 declared"), marker="outbox-44")

    with pytest.raises(ChatRejected, match="not_in_channel"):
        chat.find_posted("incidents", "outbox-44", since=since)


def test_find_posted_reads_every_page_of_the_history(
    chat: SlackChat, double: SlackApiDouble, channel: Channel, since: datetime
):
    ref = chat.post(channel.id, Message("INC-7 declared"), marker="outbox-45")
    for n in range(250):  # newer posts by the bot push the one sought to the second page
        double.add_message(
            channel.id,
            f"update {n}",
            user=double.bot_user_id,
            bot_id=double.bot_id,
            metadata=marked(f"outbox-{1000 + n}"),
        )

    assert chat.find_posted(channel.id, "outbox-45", since=since) == ref
    pages = double.calls_to("conversations.history")
    assert len(pages) == 2 and "cursor" not in pages[0].args and pages[1].args["cursor"]
    assert pages[0].args["limit"] == "200"


# --------------------------------------------------------------------------- channels


def test_find_channel_finds_the_channel_the_bot_made(chat: SlackChat, channel: Channel):
    assert chat.find_channel("inc-7-db") == channel
    assert chat.find_channel("inc-7") is None
    assert chat.find_channel("inc-7-d") is None


def test_find_channel_finds_the_suffixed_name_when_a_person_had_taken_the_name(
    chat: SlackChat, double: SlackApiDouble
):
    double.add_channel("inc-7-db", members=[ALICE], creator=ALICE)
    made = chat.create_channel("inc-7-db")
    assert made.name == "inc-7-db-2"

    assert chat.find_channel("inc-7-db") == made


def test_find_channel_prefers_the_first_name_the_bot_made(chat: SlackChat, double: SlackApiDouble):
    # Listed in the order they were made; the first of create_channel's names wins.
    chat.create_channel("inc-7-db-3")
    first = chat.create_channel("inc-7-db")
    chat.create_channel("inc-7-db-2")

    assert chat.find_channel("inc-7-db") == first


def test_find_channel_ignores_archived_channels_and_ones_people_made(
    chat: SlackChat, double: SlackApiDouble
):
    bot = double.bot_user_id
    double.add_channel("inc-7-db", members=[bot], creator=bot, archived=True)
    double.add_channel("inc-7-db-2", members=[bot, ALICE], creator=ALICE)
    double.add_channel("inc-7-db-3", members=[ALICE], private=True, creator=ALICE)
    double.add_channel("inc-7-db-copy", members=[bot], creator=bot)
    assert chat.find_channel("inc-7-db") is None

    private = SlackChat(make_web_client(double.token, double.base_url), private_channels=True)
    made = private.create_channel("inc-7-db")
    assert made.name == "inc-7-db-4"
    assert chat.find_channel("inc-7-db") == made
    [listing, *_] = double.calls_to("conversations.list")
    assert listing.args["types"] == "public_channel,private_channel"
    assert listing.args["exclude_archived"] in ("1", "true", True)


def test_find_channel_matches_a_long_name_clipped_for_its_suffix(
    chat: SlackChat, double: SlackApiDouble
):
    name = "inc-7-" + "x" * 74  # Slack's longest name, 80 characters
    double.add_channel(name, members=[ALICE], creator=ALICE)
    made = chat.create_channel(name)
    assert made.name == name[:78] + "-2"

    assert chat.find_channel(name) == made


def test_find_channel_reads_every_page_of_channels(chat: SlackChat, double: SlackApiDouble):
    for n in range(1000):
        double.add_channel(f"team-{n}", creator=ALICE)
    made = chat.create_channel("inc-7-db")

    assert chat.find_channel("inc-7-db") == made
    pages = double.calls_to("conversations.list")
    assert len(pages) == 2 and pages[1].args["cursor"]
    assert pages[0].args["limit"] == "1000"

"""The Slack Web API double answers a real slack_sdk WebClient like Slack does."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from tests.support.slack_double import REFERENCE_DIR, SlackApiDouble, SlackReference

needs_reference = pytest.mark.skipif(
    not SlackReference().available, reason=f"no Slack API reference data at {REFERENCE_DIR}"
)

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*SEV1* declared"}}]


@pytest.fixture
def double() -> Iterator[SlackApiDouble]:
    with SlackApiDouble() as running:
        running.add_user("U1", "alice")
        running.add_user("U2", "bob")
        yield running


@pytest.fixture
def client(double: SlackApiDouble) -> WebClient:
    return WebClient(token=double.token, base_url=double.base_url, timeout=5)


def slack_error(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value


def error_of(call) -> str:
    return slack_error(call).response["error"]


# --------------------------------------------------------------------------- basics


def test_base_url_is_loopback_api_root(double: SlackApiDouble):
    assert double.base_url.startswith("http://127.0.0.1:")
    assert double.base_url.endswith("/api/")


def test_auth_test_names_the_bot(client: WebClient, double: SlackApiDouble):
    answer = client.auth_test()
    assert answer["user_id"] == double.bot_user_id == "U0BOT"
    assert answer["team_id"] == double.team_id
    assert answer["url"].startswith("https://")


def test_unknown_method_is_http_200_unknown_method(client: WebClient):
    error = slack_error(lambda: client.api_call("incidents.declare"))
    assert error.response.status_code == 200
    assert error.response.data == {
        "ok": False,
        "error": "unknown_method",
        "req_method": "incidents.declare",
    }


@needs_reference
def test_real_methods_the_double_does_not_model_say_so_unless_stubbed(
    client: WebClient, double: SlackApiDouble
):
    assert error_of(lambda: client.api_call("conversations.archive")) == "double_not_implemented"
    double.stub("conversations.archive", {})
    channel_id = double.add_channel("old", members=[double.bot_user_id])
    assert client.conversations_archive(channel=channel_id)["ok"] is True


@pytest.mark.parametrize(("token", "error"), [("xoxb-wrong", "invalid_auth"), (None, "not_authed")])
def test_bad_or_missing_token_is_rejected(double: SlackApiDouble, token, error):
    client = WebClient(token=token, base_url=double.base_url, timeout=5)
    assert error_of(client.auth_test) == error


def test_token_may_come_as_a_post_parameter(double: SlackApiDouble):
    client = WebClient(base_url=double.base_url, timeout=5)
    assert client.api_call("auth.test", params={"token": double.token})["ok"] is True


def test_json_bodies_are_accepted_like_form_bodies(client: WebClient, double: SlackApiDouble):
    channel_id = double.add_channel("ops", members=[double.bot_user_id])
    answer = client.api_call(
        "chat.postMessage", json={"channel": channel_id, "text": "hi", "blocks": BLOCKS}
    )
    assert answer["message"]["blocks"] == BLOCKS
    assert double.calls_to("chat.postMessage")[0].args["blocks"] == BLOCKS


def test_every_call_is_recorded_without_the_token(client: WebClient, double: SlackApiDouble):
    client.auth_test()
    client.conversations_create(name="inc-1")
    assert [c.method for c in double.calls] == ["auth.test", "conversations.create"]
    create = double.calls_to("conversations.create")[0]
    assert create.args == {"name": "inc-1"}
    assert create.http_status == 200 and create.response["ok"] is True
    double.reset_calls()
    assert double.calls == []


# --------------------------------------------------------------------------- required arguments


@needs_reference
def test_required_arguments_come_from_the_reference_data():
    reference = SlackReference()
    assert reference.available
    assert reference.required_args("chat.update") == ["ts", "channel"]
    assert reference.required_args("conversations.invite") == ["channel", "users"]


@pytest.mark.parametrize(
    ("method", "params", "error"),
    [
        ("conversations.invite", {"channel": "C1"}, "no_user"),  # "No value was passed for users"
        ("conversations.create", {}, "invalid_name_required"),  # "name was empty"
        ("pins.add", {"timestamp": "1.2"}, "channel_not_found"),  # "channel ... not specified"
        ("files.getUploadURLExternal", {"filename": "a.txt"}, "missing_argument"),
        ("chat.update", {"channel": "C1"}, "invalid_arguments"),  # Slack's generic answer
    ],
)
def test_missing_required_argument_gets_the_methods_own_error(
    client: WebClient, method, params, error
):
    assert error_of(lambda: client.api_call(method, params=params)) == error


def test_generic_missing_argument_answer_names_the_field(client: WebClient):
    response = slack_error(lambda: client.api_call("conversations.setTopic", params={})).response
    assert response.data == {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": ["[ERROR] missing required field: channel"]},
    }


def test_without_reference_data_a_builtin_table_still_rejects_missing_arguments(tmp_path: Path):
    with SlackApiDouble(reference_dir=tmp_path / "absent") as double:
        assert not double.reference.available
        client = WebClient(token=double.token, base_url=double.base_url, timeout=5)
        invite = lambda params: client.api_call("conversations.invite", params=params)  # noqa: E731
        assert error_of(lambda: invite({})) == "invalid_arguments"
        assert error_of(lambda: invite({"channel": "C1"})) == "no_user"
        assert error_of(lambda: client.api_call("conversations.create")) == (
            "invalid_name_required"
        )
        assert error_of(lambda: client.api_call("conversations.archive")) == "unknown_method"
        assert client.conversations_create(name="inc-1")["ok"] is True


# --------------------------------------------------------------------------- channels


def test_create_makes_the_bot_a_member(client: WebClient, double: SlackApiDouble):
    channel = client.conversations_create(name="inc-2026-11-25-db", is_private=True)["channel"]
    assert channel["is_member"] is True and channel["is_private"] is True
    stored = double.channel_by_name("inc-2026-11-25-db")
    assert stored is not None and stored.id == channel["id"]
    assert stored.members == [double.bot_user_id]


def test_create_with_a_taken_name_is_name_taken(client: WebClient):
    client.conversations_create(name="inc-1")
    assert error_of(lambda: client.conversations_create(name="inc-1")) == "name_taken"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("Inc-1", "invalid_name_specials"),
        ("inc 1", "invalid_name_specials"),
        ("inc.1", "invalid_name_specials"),
        ("장애", "invalid_name_specials"),  # Korean only
        ("---", "invalid_name_punctuation"),
        ("i" * 81, "invalid_name_maxlength"),
    ],
)
def test_invalid_channel_names(client: WebClient, name, error):
    assert error_of(lambda: client.conversations_create(name=name)) == error


def test_eighty_characters_is_still_allowed(client: WebClient):
    assert client.conversations_create(name="i" * 80)["channel"]["name"] == "i" * 80


def test_invite_adds_members(client: WebClient, double: SlackApiDouble):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    client.conversations_invite(channel=channel_id, users=["U1", "U2"])
    assert double.channel(channel_id).members == [double.bot_user_id, "U1", "U2"]


def test_already_in_channel_only_when_every_invitee_already_is(
    client: WebClient, double: SlackApiDouble
):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    client.conversations_invite(channel=channel_id, users="U1")
    client.conversations_invite(channel=channel_id, users="U1,U2")  # U2 is new: fine
    error = slack_error(lambda: client.conversations_invite(channel=channel_id, users="U1,U2"))
    assert error.response["error"] == "already_in_channel"
    assert {e["user"] for e in error.response["errors"]} == {"U1", "U2"}


def test_invite_failures_invite_nobody(client: WebClient, double: SlackApiDouble):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    error = slack_error(lambda: client.conversations_invite(channel=channel_id, users="U1,U404"))
    assert error.response["error"] == "user_not_found"
    assert error.response["errors"] == [{"user": "U404", "ok": False, "error": "user_not_found"}]
    assert "U1" not in double.channel(channel_id).members
    invite_self = lambda: client.conversations_invite(channel=channel_id, users="U0BOT")  # noqa: E731
    assert error_of(invite_self) == "cant_invite_self"


def test_invite_with_force_invites_the_valid_ones(client: WebClient, double: SlackApiDouble):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    answer = client.conversations_invite(channel=channel_id, users="U1,U404", force=True)
    assert answer["errors"][0]["user"] == "U404"
    assert "U1" in double.channel(channel_id).members


def test_invite_needs_a_channel_the_bot_is_in(client: WebClient, double: SlackApiDouble):
    outside = double.add_channel("elsewhere", members=["U1"])
    assert error_of(lambda: client.conversations_invite(channel=outside, users="U2")) == (
        "not_in_channel"
    )
    assert error_of(lambda: client.conversations_invite(channel="C404", users="U2")) == (
        "channel_not_found"
    )


def test_topic_purpose_info_join_and_list(client: WebClient, double: SlackApiDouble):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    client.conversations_setTopic(channel=channel_id, topic="SEV1 | IC: @alice")
    client.conversations_setPurpose(channel=channel_id, purpose="Database outage")
    info = client.conversations_info(channel=channel_id)["channel"]
    assert info["topic"]["value"] == "SEV1 | IC: @alice"
    assert info["purpose"]["value"] == "Database outage"
    assert error_of(lambda: client.conversations_setTopic(channel=channel_id, topic="x" * 251)) == (
        "too_long"
    )

    public = double.add_channel("announcements")
    assert client.conversations_join(channel=public)["channel"]["is_member"] is True
    hidden = double.add_channel("secret", members=["U1"], private=True)
    assert error_of(lambda: client.conversations_info(channel=hidden)) == "channel_not_found"

    names = {c["name"] for c in client.conversations_list()["channels"]}
    assert {"general", "inc-1", "announcements"} <= names and "secret" not in names
    listing = client.conversations_list(types="private_channel")
    assert listing["channels"] == [] and listing["response_metadata"]["next_cursor"] == ""
    assert error_of(lambda: client.conversations_list(types="nonsense")) == "invalid_types"


# --------------------------------------------------------------------------- messages


def test_post_update_pin_flow(client: WebClient, double: SlackApiDouble):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    posted = client.chat_postMessage(channel="#inc-1", text="SEV1 declared", blocks=BLOCKS)
    assert posted["channel"] == channel_id
    assert posted["message"]["text"] == "SEV1 declared"
    ts = posted["ts"]

    updated = client.chat_update(channel=channel_id, ts=ts, text="SEV1 resolved")
    assert updated["text"] == "SEV1 resolved"
    client.pins_add(channel=channel_id, timestamp=ts)
    assert error_of(lambda: client.pins_add(channel=channel_id, timestamp=ts)) == "already_pinned"

    [message] = double.messages_in(channel_id)
    assert message["text"] == "SEV1 resolved" and message["blocks"] == BLOCKS
    assert message["pinned_to"] == [channel_id] and "edited" in message
    history = client.conversations_history(channel=channel_id)
    assert [m["ts"] for m in history["messages"]] == [ts] and history["pin_count"] == 1
    permalink = client.chat_getPermalink(channel=channel_id, message_ts=ts)["permalink"]
    assert permalink.endswith(f"/archives/{channel_id}/p{ts.replace('.', '')}")


def test_message_errors(client: WebClient, double: SlackApiDouble):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    with pytest.warns(UserWarning, match="text"):  # slack_sdk warns too
        assert error_of(lambda: client.chat_postMessage(channel=channel_id)) == "no_text"
    assert error_of(lambda: client.chat_postMessage(channel="#nowhere", text="x")) == (
        "channel_not_found"
    )
    assert error_of(lambda: client.chat_update(channel=channel_id, ts="1.000001", text="x")) == (
        "message_not_found"
    )
    assert error_of(lambda: client.pins_add(channel=channel_id, timestamp="1.000001")) == (
        "message_not_found"
    )
    theirs = double.add_message(channel_id, "a human wrote this", user="U1")
    assert error_of(lambda: client.chat_update(channel=channel_id, ts=theirs, text="x")) == (
        "cant_update_message"
    )


def test_private_channels_need_membership(client: WebClient, double: SlackApiDouble):
    private = double.add_channel("sec-inc", members=["U1"], private=True)
    assert error_of(lambda: client.chat_postMessage(channel=private, text="x")) == "not_in_channel"
    assert error_of(lambda: client.chat_postMessage(channel="#sec-inc", text="x")) == (
        "channel_not_found"  # names resolve public channels only
    )
    theirs = double.add_message(private, "hello", user="U1")
    assert error_of(lambda: client.pins_add(channel=private, timestamp=theirs)) == (
        "not_in_channel"
    )


def test_threads_ephemerals_reactions_bookmarks_and_users(
    client: WebClient, double: SlackApiDouble
):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    client.conversations_invite(channel=channel_id, users="U1")
    parent = client.chat_postMessage(channel=channel_id, text="timeline")["ts"]
    client.chat_postMessage(channel=channel_id, text="14:02 failover", thread_ts=parent)
    history = client.conversations_history(channel=channel_id)["messages"]
    assert [m["ts"] for m in history] == [parent] and history[0]["reply_count"] == 1

    assert client.chat_postEphemeral(channel=channel_id, user="U1", text="psst")["message_ts"]
    ephemeral = lambda: client.chat_postEphemeral(channel=channel_id, user="U2", text="x")  # noqa: E731
    assert error_of(ephemeral) == "user_not_in_channel"
    assert double.ephemerals_in(channel_id)[0]["to_user"] == "U1"

    client.reactions_add(channel=channel_id, timestamp=parent, name="eyes")
    react_again = lambda: client.reactions_add(channel=channel_id, timestamp=parent, name="eyes")  # noqa: E731
    assert error_of(react_again) == "already_reacted"

    bookmark = client.bookmarks_add(
        channel_id=channel_id, title="Runbook", type="link", link="https://example.com/rb"
    )["bookmark"]
    assert bookmark["channel_id"] == channel_id and bookmark["title"] == "Runbook"
    assert double.channel(channel_id).bookmarks[0]["link"] == "https://example.com/rb"

    assert client.users_info(user="U1")["user"]["name"] == "alice"
    assert error_of(lambda: client.users_info(user="U404")) == "user_not_found"


def test_views_need_a_trigger_and_are_recorded(client: WebClient, double: SlackApiDouble):
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Declare"}, "blocks": []}
    assert error_of(lambda: client.api_call("views.open", json={"view": modal})) == (
        "invalid_arguments"
    )
    view = client.views_open(trigger_id="123.456.abc", view=modal)["view"]
    assert view["id"].startswith("V") and double.views[view["id"]]["trigger_id"] == "123.456.abc"

    changed = {**modal, "title": {"type": "plain_text", "text": "Declared"}}
    client.views_update(view_id=view["id"], view=changed, hash=view["hash"])
    assert double.views[view["id"]]["title"]["text"] == "Declared"
    assert error_of(lambda: client.views_update(view_id="V404", view=changed)) == "not_found"

    client.views_publish(user_id="U1", view={"type": "home", "blocks": BLOCKS})
    assert double.home_views["U1"]["blocks"] == BLOCKS


# --------------------------------------------------------------------------- metadata and pages

WORK = {"event_type": "incident_bot_work", "event_payload": {"marker": "outbox-41"}}


def test_message_metadata_is_kept_and_listed_only_when_asked_for(
    client: WebClient, double: SlackApiDouble
):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    posted = client.chat_postMessage(channel=channel_id, text="declared", metadata=WORK)
    as_form = client.api_call(
        "chat.postMessage",
        data={"channel": channel_id, "text": "as a form", "metadata": json.dumps(WORK)},
    )
    client.chat_postMessage(channel=channel_id, text="reply", thread_ts=posted["ts"], metadata=WORK)

    assert [m["metadata"] for m in double.messages_in(channel_id)] == [WORK] * 3
    plain = client.conversations_history(channel=channel_id)["messages"]
    assert [m["ts"] for m in plain] == [as_form["ts"], posted["ts"]]
    assert all("metadata" not in m for m in plain)
    listed = client.conversations_history(channel=channel_id, include_all_metadata=True)
    assert [m["metadata"] for m in listed["messages"]] == [WORK, WORK]
    thread = client.conversations_replies(channel=channel_id, ts=posted["ts"])["messages"]
    assert all("metadata" not in m for m in thread)
    thread = client.conversations_replies(
        channel=channel_id, ts=posted["ts"], include_all_metadata=True
    )["messages"]
    assert [m["metadata"] for m in thread] == [WORK, WORK]


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ("{not json", "invalid_metadata_format"),
        ('["incident_bot_work"]', "invalid_metadata_format"),
        ('{"event_payload": {}}', "invalid_metadata_schema"),
        ('{"event_type": 7, "event_payload": {}}', "invalid_metadata_schema"),
        (
            '{"event_type": "incident_bot_work", "event_payload": "outbox-41"}',
            "invalid_metadata_schema",
        ),
    ],
)
def test_malformed_metadata_is_refused(client: WebClient, double: SlackApiDouble, metadata, error):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    post = lambda: client.api_call(  # noqa: E731
        "chat.postMessage", data={"channel": channel_id, "text": "x", "metadata": metadata}
    )
    assert error_of(post) == error
    assert double.messages_in(channel_id) == []


def test_history_windows_are_exclusive_unless_inclusive(client: WebClient, double: SlackApiDouble):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    first, second, third = (
        client.chat_postMessage(channel=channel_id, text=str(n))["ts"] for n in range(3)
    )

    def listed(**window) -> list[str]:
        answer = client.conversations_history(channel=channel_id, **window)
        return [m["ts"] for m in answer["messages"]]

    assert listed(oldest=first) == [third, second]
    assert listed(oldest=first, inclusive=True) == [third, second, first]
    assert listed(oldest=first, latest=third) == [second]
    assert listed(oldest=first, latest=third, inclusive=True) == [third, second, first]
    assert error_of(lambda: listed(oldest="yesterday")) == "invalid_ts_oldest"
    assert error_of(lambda: listed(latest="soon")) == "invalid_ts_latest"
    thread = client.conversations_replies(channel=channel_id, ts=first, oldest=first)
    assert thread["messages"] == []


def test_history_and_replies_page_with_cursors(client: WebClient, double: SlackApiDouble):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    parent = client.chat_postMessage(channel=channel_id, text="parent")["ts"]
    posted = [client.chat_postMessage(channel=channel_id, text=str(n))["ts"] for n in range(4)]
    replies = [
        client.chat_postMessage(channel=channel_id, text=f"r{n}", thread_ts=parent)["ts"]
        for n in range(2)
    ]

    def all_pages(method, **args) -> tuple[list[str], list[bool]]:
        seen, more, cursor = [], [], None
        while True:
            answer = method(channel=channel_id, limit=2, cursor=cursor, **args)
            seen += [m["ts"] for m in answer["messages"]]
            more.append(answer["has_more"])
            cursor = answer["response_metadata"]["next_cursor"]
            if not cursor:
                return seen, more

    newest_first = [*reversed(posted), parent]
    assert all_pages(client.conversations_history) == (newest_first, [True, True, False])
    assert all_pages(client.conversations_replies, ts=parent) == ([parent, *replies], [True, False])
    bad = lambda: client.conversations_history(channel=channel_id, cursor="not-a-cursor")  # noqa: E731
    assert error_of(bad) == "invalid_cursor"


def test_channels_list_with_creators_archived_and_pages(client: WebClient, double: SlackApiDouble):
    made = client.conversations_create(name="inc-1")["channel"]
    added = double.add_channel("ops")
    by_alice = double.add_channel("alice-notes", members=["U1"], creator="U1")
    archived = double.add_channel("inc-0", members=[double.bot_user_id], archived=True)
    private = double.add_channel("sec-1", members=[double.bot_user_id], private=True)

    assert made["creator"] == double.bot_user_id
    listed = {c["id"]: c for c in client.conversations_list()["channels"]}
    assert listed[added]["creator"] == double.owner_user_id != double.bot_user_id
    assert listed[by_alice]["creator"] == "U1"
    assert listed[archived]["is_archived"] is True and private not in listed
    both = client.conversations_list(types="public_channel,private_channel", exclude_archived=True)
    names = [c["name"] for c in both["channels"]]
    assert names == ["general", "inc-1", "ops", "alice-notes", "sec-1"]

    seen, cursor = [], None
    while True:
        answer = client.conversations_list(limit=2, cursor=cursor)
        assert len(answer["channels"]) <= 2
        seen += [c["name"] for c in answer["channels"]]
        cursor = answer["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == ["general", "inc-1", "ops", "alice-notes", "inc-0"]
    assert error_of(lambda: client.conversations_list(limit="many")) == "invalid_limit"
    assert error_of(lambda: client.conversations_list(cursor="bm9wZQ==")) == "invalid_cursor"
    with pytest.raises(ValueError, match="unknown users"):
        double.add_channel("nobody", creator="U404")


# --------------------------------------------------------------------------- files and response_url


def test_files_upload_v2_end_to_end(client: WebClient, double: SlackApiDouble):
    channel_id = client.conversations_create(name="inc-1")["channel"]["id"]
    double.reset_calls()

    answer = client.files_upload_v2(
        channel=channel_id,
        content="14:00 alert\n14:02 failover\n",
        filename="timeline.txt",
        title="Timeline",
        initial_comment="Timeline attached",
    )

    assert answer["file"]["title"] == "Timeline"
    assert [c.method for c in double.calls] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    [uploaded] = double.files
    assert uploaded.content == b"14:00 alert\n14:02 failover\n"
    assert (uploaded.name, uploaded.title, uploaded.channels) == (
        "timeline.txt",
        "Timeline",
        [channel_id],
    )
    [share] = double.messages_in(channel_id)
    assert share["text"] == "Timeline attached" and share["files"][0]["id"] == uploaded.id
    assert client.files_info(file=uploaded.id)["file"]["name"] == "timeline.txt"


def test_files_complete_needs_an_uploaded_file_and_a_channel_the_bot_is_in(
    client: WebClient, double: SlackApiDouble
):
    outside = double.add_channel("elsewhere")
    url = client.files_getUploadURLExternal(filename="a.txt", length=1)
    assert url["upload_url"].startswith(double.url)
    complete = lambda channel: client.files_completeUploadExternal(  # noqa: E731
        files=[{"id": url["file_id"]}], channel_id=channel
    )
    assert error_of(lambda: complete(outside)) == "file_not_found"  # nothing uploaded yet
    urllib.request.urlopen(urllib.request.Request(url["upload_url"], data=b"x"), timeout=5)
    assert error_of(lambda: complete(outside)) == "not_in_channel"
    assert error_of(lambda: client.files_getUploadURLExternal(filename="a", length=0)) == (
        "missing_argument"
    )


def test_response_url_posts_are_recorded(double: SlackApiDouble):
    url = double.response_url("cmd-1")
    assert url.startswith(double.url)
    answer = WebhookClient(url).send(text="Incident declared", response_type="in_channel")
    assert answer.status_code == 200
    assert double.responses_to("cmd-1") == [
        {"text": "Incident declared", "response_type": "in_channel"}
    ]
    assert double.calls_to("response_url")[0].args["name"] == "cmd-1"


# --------------------------------------------------------------------------- fault injection


def test_rate_limit_without_retry_handlers_raises_429(client: WebClient, double: SlackApiDouble):
    double.fail_next("chat.postMessage", status=429, retry_after=1)
    error = slack_error(lambda: client.chat_postMessage(channel="#general", text="x"))
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "1"
    assert error.response["error"] == "ratelimited"
    [call] = double.calls
    assert (call.http_status, call.injected) == (429, True)


def test_rate_limit_handler_waits_retry_after_then_succeeds(
    double: SlackApiDouble, monkeypatch: pytest.MonkeyPatch
):
    # The handler sleeps Retry-After plus up to 1 s of jitter; pin the jitter to 0.
    monkeypatch.setattr(builtin_handlers, "random", SimpleNamespace(random=lambda: 0.0))
    client = WebClient(
        token=double.token,
        base_url=double.base_url,
        timeout=5,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    double.fail_next("auth.test", status=429, retry_after=1)
    started = time.monotonic()
    assert client.auth_test()["ok"] is True
    assert time.monotonic() - started >= 1.0
    assert [c.http_status for c in double.calls_to("auth.test")] == [429, 200]


def test_a_429_is_injected_for_one_method_only(client: WebClient, double: SlackApiDouble):
    double.fail_next("conversations.create", status=429, retry_after=30)
    assert client.chat_postMessage(channel="#general", text="x")["ok"] is True
    error = slack_error(lambda: client.conversations_create(name="inc-1"))
    assert (error.response.status_code, error.response.headers["Retry-After"]) == (429, "30")
    assert client.conversations_create(name="inc-1")["ok"] is True


def test_server_errors_and_injected_slack_errors(client: WebClient, double: SlackApiDouble):
    double.fail_next("conversations.create", status=503)
    double.fail_next("conversations.create", error="restricted_action", times=2)
    first = slack_error(lambda: client.conversations_create(name="inc-1"))
    assert first.response.status_code == 503 and first.response["ok"] is False
    for _ in range(2):
        assert error_of(lambda: client.conversations_create(name="inc-1")) == "restricted_action"
    assert client.conversations_create(name="inc-1")["ok"] is True
    assert double.channel_by_name("inc-1") is not None


def test_outage_503_then_recovery(client: WebClient, double: SlackApiDouble):
    double.outage = True
    error = slack_error(client.auth_test)
    assert error.response.status_code == 503
    double.outage = False
    assert client.auth_test()["ok"] is True


def test_outage_reset_closes_the_connection(double: SlackApiDouble):
    double.outage = "reset"
    no_retries = WebClient(token=double.token, base_url=double.base_url, retry_handlers=[])
    with pytest.raises(ConnectionError):
        no_retries.auth_test()
    [call] = double.calls
    assert (call.http_status, call.injected) == (0, True)
    double.outage = False
    assert no_retries.auth_test()["ok"] is True


def test_slow_answer_trips_the_client_timeout(double: SlackApiDouble):
    double.fail_next("auth.test", delay=2.0)
    impatient = WebClient(token=double.token, base_url=double.base_url, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        impatient.auth_test()
    assert time.monotonic() - started < 1.0


# --------------------------------------------------------------------------- hygiene


def test_stop_leaves_no_threads_and_nothing_on_stderr(capfd: pytest.CaptureFixture[str]):
    before = set(threading.enumerate())
    with SlackApiDouble() as double:
        client = WebClient(token=double.token, base_url=double.base_url, timeout=5)
        client.auth_test()
        double.fail_next("auth.test", delay=2.0)
        with pytest.raises(TimeoutError):
            WebClient(token=double.token, base_url=double.base_url, timeout=0.2).auth_test()
    assert set(threading.enumerate()) - before == set()
    assert capfd.readouterr().err == ""
    assert double.server_errors == []

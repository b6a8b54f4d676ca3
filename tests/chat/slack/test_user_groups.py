"""Slack user groups: what the Web API double answers, and how the chat port reads them
(by ID or handle, kept for a minute, nobody when Slack cannot say)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat.slack.client import GROUP_CACHE_SECONDS, SlackChat
from bot.chat.slack.web_client import make_web_client
from tests.support.slack_double import SlackApiDouble

ALICE, BOB, ERIN = "U0ALICE", "U0BOB", "U0ERIN"


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def double() -> Iterator[SlackApiDouble]:
    with SlackApiDouble() as running:
        for user, name in ((ALICE, "alice"), (BOB, "bob"), (ERIN, "erin")):
            running.add_user(user, name)
        yield running
    assert running.server_errors == []


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def chat(double: SlackApiDouble, ticks: Ticks) -> SlackChat:
    return SlackChat(make_web_client(double.token, double.base_url), monotonic=ticks)


def test_the_double_lists_groups_and_their_members(double: SlackApiDouble):
    oncall = double.add_usergroup("oncall", [ALICE, BOB], name="On call")
    client = WebClient(token=double.token, base_url=double.base_url)

    listed = client.usergroups_list(include_users=True)["usergroups"]
    assert [(g["id"], g["handle"], g["name"], g["users"]) for g in listed] == [
        (oncall, "oncall", "On call", [ALICE, BOB])
    ]
    assert "users" not in client.usergroups_list()["usergroups"][0]
    assert client.usergroups_users_list(usergroup=oncall)["users"] == [ALICE, BOB]


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        ({"usergroup": "S404"}, {"ok": False, "error": "no_such_subteam"}),
        (
            {},
            {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": ["[ERROR] missing required field: usergroup"]},
            },
        ),
    ],
)
def test_an_unknown_or_missing_group_is_answered_like_slack(double: SlackApiDouble, args, answer):
    client = WebClient(token=double.token, base_url=double.base_url)
    with pytest.raises(SlackApiError) as refused:
        client.api_call("usergroups.users.list", params=args)
    assert (refused.value.response.status_code, refused.value.response.data) == (200, answer)


def test_members_by_id_or_handle_are_kept_for_a_minute(
    double: SlackApiDouble, chat: SlackChat, ticks: Ticks
):
    leads = double.add_usergroup("incident-leads", [ERIN])

    assert chat.group_members(leads) == {ERIN}
    assert chat.group_members("incident-leads") == {ERIN}
    assert chat.group_members("@incident-leads") == {ERIN}
    assert [c.method for c in double.calls if c.method.startswith("usergroups")] == [
        "usergroups.users.list",
        "usergroups.list",
        "usergroups.users.list",
        "usergroups.list",
        "usergroups.users.list",
    ]
    double.reset_calls()
    ticks.now += GROUP_CACHE_SECONDS - 1
    assert chat.group_members(leads) == {ERIN}
    assert double.calls == []

    double.workspace.usergroups[leads].members.append(BOB)  # Bob joins the group
    ticks.now += 2
    assert chat.group_members(leads) == {ERIN, BOB}
    assert [c.args for c in double.calls_to("usergroups.users.list")] == [{"usergroup": leads}]


def test_a_group_slack_cannot_read_has_nobody_in_it(
    double: SlackApiDouble, chat: SlackChat, caplog
):
    oncall = double.add_usergroup("oncall", [ALICE])

    assert chat.group_members("nobody-has-this-handle") == set()
    assert chat.group_members("S404") == set()  # no_such_subteam
    double.outage = True
    assert chat.group_members(oncall) == set()
    double.outage = False
    assert chat.group_members(oncall) == {ALICE}  # an outage is not remembered
    assert "Could not read the members of user group S404" in caplog.text

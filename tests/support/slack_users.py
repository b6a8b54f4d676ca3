"""The people of the Slack workspace the Slack tests run in, by their user ids."""

from __future__ import annotations

from tests.support.slack_double import SlackApiDouble

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U123"


def add_workspace(double: SlackApiDouble) -> None:
    """The people above and the announcements channel, in a Slack double."""
    for user, name in ((ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")):
        double.add_user(user, name)
    double.add_channel("incidents")

"""The people of the Slack workspace the Slack tests run in, by their user ids."""

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U123"

"""The terminal chat: try the whole bot with no Slack workspace."""

"""incident-bot: a chat bot for incident response."""

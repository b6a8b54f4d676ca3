"""The chat port and its adapters (terminal, Slack)."""

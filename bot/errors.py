"""The bot's small error tree; adapters turn these into a message for the user."""


class IncidentBotError(Exception):
    """A problem the user can act on; its text is shown to them as it is."""


class ConfigError(IncidentBotError):
    """A setting has a value the bot cannot use."""


class UsageError(IncidentBotError):
    """A command was typed wrongly; the message says what to type instead."""


class NotFound(IncidentBotError):
    """The incident, note or item named does not exist."""


class Forbidden(IncidentBotError):
    """The person asking may not do this."""


class InvalidTransition(IncidentBotError):
    """The incident cannot move to the asked status from where it is."""

"""Who may make which change to an incident, as configured."""

from __future__ import annotations

from bot.config import Settings
from bot.errors import Forbidden
from bot.models import Incident


class NotAllowed(Forbidden):
    """A refusal that knows who would be allowed, so the chat can name them."""

    def __init__(self, action: str, incident: Incident, allowed: list[tuple[str, str | None]]):
        self.action = action
        self.incident = incident
        self.allowed = allowed  # (what, who holds it now)
        labels = " or ".join(f"the {what}" for what, _ in allowed)
        super().__init__(f"Only {labels} may {action} {incident.reference}.")


def require(settings: Settings, *, incident: Incident, actor: str, action: str) -> None:
    """Refuse `action` by `actor` unless a configured rule allows them."""
    people = settings.permissions.get(action)
    if not people or "anyone" in people:
        return
    holders = incident.current_roles()
    if "declarer" in people and actor == incident.declared_by:
        return
    if any(holders.get(role) == actor for role in people if role != "declarer"):
        return
    allowed = [
        (person, incident.declared_by if person == "declarer" else holders.get(person))
        for person in people
    ]
    raise NotAllowed(action, incident, allowed)

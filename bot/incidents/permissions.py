"""Who may make which change to an incident, as configured."""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import Settings
from bot.errors import Forbidden
from bot.storage.models import Incident


class NotAllowed(Forbidden):
    """A refusal that knows who would be allowed, so the chat can name them."""

    def __init__(self, action: str, incident: Incident, allowed: list[tuple[str, str | None]]):
        self.action = action
        self.incident = incident
        self.allowed = allowed  # (what, who holds it now)
        labels = " or ".join(f"the {what}" for what, _ in allowed)
        super().__init__(f"Only {labels} may {action} {incident.reference}.")


def is_one_of(incident: Incident, actor: str, people: Sequence[str]) -> bool:
    """Whether `actor` is one of `people` on this incident: role names, `declarer`, `anyone`."""
    holders = incident.current_roles()
    return any(
        person == "anyone"
        or (person == "declarer" and actor == incident.declared_by)
        or holders.get(person) == actor
        for person in people
    )


def require(settings: Settings, *, incident: Incident, actor: str, action: str) -> None:
    """Refuse `action` by `actor` unless a configured rule allows them."""
    people = settings.permissions.get(action)
    if not people or is_one_of(incident, actor, people):
        return
    holders = incident.current_roles()
    allowed = [
        (person, incident.declared_by if person == "declarer" else holders.get(person))
        for person in people
    ]
    raise NotAllowed(action, incident, allowed)

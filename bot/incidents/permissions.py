"""Who may change an incident, start and steer its runbooks, and approve their steps.

Safe by default (`DEFAULT_PERMISSION_RULES` in the settings, which `INCIDENT_PERMISSIONS`
may change rule by rule): anyone may declare, add notes, take a role nobody holds and read;
the incident's responders may change it; its commander, or an incident admin, may take
over what someone else holds, wrote or started. A role counts for running a runbook or
approving a step only when someone else gave it: nobody can appoint themselves to it.
Every refusal says who may, and the command path records it on the timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config import DEFAULT_PERMISSION_RULES, Settings
from bot.errors import Forbidden
from bot.incidents.people import GroupMembers, PeopleList
from bot.incidents.timeline import record_event
from bot.storage.models import EventKind, Incident, TimelineEvent

# What doing something to what someone else holds, wrote or started needs instead.
OTHERS = {"role": "reassign", "note": "others_notes", "steer": "others_runs"}
# How a refusal says each action: "Only ... may change the severity of INC-3."
DOING = {
    "role": "take a free role in",
    "reassign": "reassign a role someone else holds in",
    "note": "add notes to",
    "others_notes": "edit or delete someone else's note in",
    "status": "change the status of",
    "sev": "change the severity of",
    "started": "set when the impact started in",
    "detected": "set when the problem was detected in",
    "ack": "acknowledge",
    "action": "change the action items of",
    "resolve": "resolve",
    "runbook": "start runbooks in",
    "steer": "steer runbook runs in",
    "others_runs": "steer someone else's runbook run in",
    "close": "close",
    "reopen": "reopen",
}


@dataclass(frozen=True)
class Who:
    """Someone a refusal names as allowed, and who that is now.

    `people` is None for a configured list, whose members are not spelled out in chat.
    """

    what: str
    people: tuple[str, ...] | None = None


class NotAllowed(Forbidden):
    """A refusal that knows who would be allowed, so the chat can name them."""

    def __init__(
        self,
        *,
        actor: str,
        incident: Incident,
        doing: str,
        allowed: Sequence[Who],
        reason: str = "",
        kind: EventKind = EventKind.PERMISSION_REFUSED,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.actor = actor
        self.incident_id = incident.id
        self.doing = doing  # "close INC-3", "approve step restart of run #2"
        self.allowed = tuple(dict.fromkeys(allowed))
        self.reason = reason  # why the person's own claim does not count, if it is that
        self.kind = kind
        self.data = data or {}
        labels = " or ".join(who.what for who in self.allowed)
        super().__init__(" ".join(filter(None, [reason, f"Only {labels} may {doing}."])))


def record_refusal(session: Session, refusal: NotAllowed, now: datetime) -> TimelineEvent:
    """Keep a refusal on its incident's timeline, in the caller's transaction."""
    return record_event(
        session,
        incident=session.get_one(Incident, refusal.incident_id),
        kind=refusal.kind,
        actor=refusal.actor,
        text=f"{refusal.actor} may not {refusal.doing}",
        now=now,
        data={"doing": refusal.doing, **refusal.data},
    )


def appointed(incident: Incident, role: str, person: str) -> bool:
    """Whether `person` holds `role` now because someone else gave it to them."""
    current = next((a for a in incident.roles if a.role == role and a.ended_at is None), None)
    return current is not None and current.holder == person and current.assigned_by != person


class Permissions:
    """The rules as configured, with the configured groups of responders, admins, approvers."""

    def __init__(self, settings: Settings, group_members: GroupMembers) -> None:
        self.rules = {**DEFAULT_PERMISSION_RULES, **settings.permissions}
        self.responders = PeopleList(settings.responders, group_members)
        self.admins = PeopleList(settings.admins, group_members)
        self.approvers = PeopleList(settings.runbook_approvers, group_members)

    def require(
        self,
        incident: Incident,
        actor: str,
        action: str,
        *,
        owner: str | None = None,
        doing: str | None = None,
        kind: EventKind = EventKind.PERMISSION_REFUSED,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Refuse `action` unless its rule allows `actor`.

        `owner` is whoever holds, wrote or started what the action changes: when that is
        someone else, the stricter rule in OTHERS applies.
        """
        if owner is not None and owner != actor:
            action = OTHERS[action]
        rule = self.rules[action]
        if any(self._is(incident, actor, who) for who in rule) or self.admins.includes(actor):
            return
        raise NotAllowed(
            actor=actor,
            incident=incident,
            doing=doing or f"{DOING[action]} {incident.reference}",
            allowed=self._describe(incident, rule),
            kind=kind,
            data={"action": action, **(data or {})},
        )

    def require_runner(
        self, incident: Incident, actor: str, runbook: str, allowed: Sequence[str]
    ) -> None:
        """Starting a runbook needs the `runbook` rule, then one of the runbook's `allowed`."""
        doing = f"run {runbook}"
        data = {"runbook": runbook, "allowed": list(allowed)}
        kind = EventKind.RUNBOOK_REFUSED
        self.require(incident, actor, "runbook", doing=doing, kind=kind, data=data)
        roles = [entry.removeprefix("role:") for entry in allowed if entry.startswith("role:")]
        if (
            "anyone" in allowed
            or ("declarer" in allowed and actor == incident.declared_by)
            or any(appointed(incident, role, actor) for role in roles)
            or self.admins.includes(actor)
        ):
            return
        who = [Who("the declarer", (incident.declared_by,))] if "declarer" in allowed else []
        raise NotAllowed(
            actor=actor,
            incident=incident,
            doing=doing,
            allowed=who
            + self._appointees(incident, roles)
            + self._configured(self.admins, "an incident admin"),
            reason=_self_appointed(incident, roles, actor),
            kind=kind,
            data=data,
        )

    def require_approver(
        self,
        incident: Incident,
        actor: str,
        *,
        requester: str,
        roles: Sequence[str],
        not_requester: bool,
        doing: str,
        data: dict[str, Any],
    ) -> None:
        """An approver holds one of `roles` given by someone else, or is a configured approver.

        Never the requester when the step says so; never by a role they gave themselves.
        """
        appointee = any(appointed(incident, role, actor) for role in roles)
        if not_requester and actor == requester:
            reason = "You started this run, so someone else must approve it."
        elif appointee or self.approvers.includes(actor):
            return
        else:
            reason = _self_appointed(incident, roles, actor)
        raise NotAllowed(
            actor=actor,
            incident=incident,
            doing=doing,
            allowed=self._appointees(incident, roles)
            + self._configured(self.approvers, "a configured approver"),
            reason=reason,
            kind=EventKind.RUNBOOK_REFUSED,
            data=data,
        )

    # -- saying who may -----------------------------------------------------------

    def _is(self, incident: Incident, actor: str, who: str) -> bool:
        if who == "anyone":
            return True
        if who == "declarer":
            return actor == incident.declared_by
        if who == "responders":  # the declarer, anyone holding a role, the configured ones
            return (
                actor == incident.declared_by
                or actor in incident.current_roles().values()
                or self.responders.includes(actor)
            )
        return incident.current_roles().get(who) == actor

    def _describe(self, incident: Incident, rule: Sequence[str]) -> list[Who]:
        holders = incident.current_roles()
        found: list[Who] = []
        for who in rule:
            if who in ("declarer", "responders"):
                found.append(Who("the declarer", (incident.declared_by,)))
            if who == "responders":
                found.append(Who("anyone holding a role", tuple(dict.fromkeys(holders.values()))))
                found.extend(self._configured(self.responders, "a configured responder"))
            elif who not in ("anyone", "declarer"):
                found.append(Who(f"the {who}", (holders[who],) if who in holders else ()))
        return found + self._configured(self.admins, "an incident admin")

    @staticmethod
    def _appointees(incident: Incident, roles: Sequence[str]) -> list[Who]:
        holders = incident.current_roles()
        return [
            Who(
                f"{'an' if role[:1] in 'aeiou' else 'a'} {role} appointed by someone else",
                (holders[role],) if appointed(incident, role, holders.get(role, "")) else (),
            )
            for role in roles
        ]

    @staticmethod
    def _configured(people: PeopleList, what: str) -> list[Who]:
        return [Who(what)] if people else []


def _self_appointed(incident: Incident, roles: Sequence[str], actor: str) -> str:
    holders = incident.current_roles()
    if any(holders.get(role) == actor for role in roles):
        return (
            "You gave yourself that role in this incident; "
            "it counts only when someone else gives it to you."
        )
    return ""

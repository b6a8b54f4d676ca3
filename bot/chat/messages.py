"""Every message the bot shows people, built from domain objects.

Messages are chat-neutral (`bot.chat.port.Message`); adapters render them.
`mention` turns a user id into the chat's way of naming a person.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta, tzinfo

from bot.chat.port import Action, Choice, Message, Table
from bot.config import Settings
from bot.incidents.lifecycle import TRANSITIONS
from bot.incidents.measures import MILESTONES, measures_of, moment, percent
from bot.incidents.permissions import NotAllowed, Who
from bot.postmortems.drafts import Draft
from bot.storage.models import ActionItem, EventKind, Incident, Postmortem, Status, TimelineEvent
from bot.times import format_time

Mention = Callable[[str], str]
REVIEW_LINES_SHOWN = 5


def headline(incident: Incident) -> str:
    return f"{incident.reference} [{incident.severity}, {incident.status}] {incident.title}"


def channel_topic(incident: Incident, mention: Mention) -> str:
    commander = incident.current_roles().get("commander")
    lead = mention(commander) if commander else "no commander yet"
    return f"{incident.severity} | {incident.status} | IC: {lead} | {incident.title}"


def incident_summary(incident: Incident, settings: Settings, mention: Mention) -> Message:
    """Everything about an incident at a glance: the pinned summary and `show`."""
    tz = settings.timezone
    descriptions = {level.name: level.description for level in settings.severities}
    roles = incident.current_roles()
    fields: list[tuple[str, str]] = [
        ("Severity", f"{incident.severity}: {descriptions.get(incident.severity, '')}".strip()),
        ("Status", incident.status),
        ("Service", incident.service or "—"),
        ("Declared by", mention(incident.declared_by)),
        ("Channel", f"#{incident.channel_name}" if incident.channel_name else "—"),
    ]
    fields += [
        (role.capitalize(), mention(roles[role]) if role in roles else "—")
        for role in settings.roles
    ]
    fields += [
        (milestone.label, format_time(at, tz))
        for name, milestone in MILESTONES.items()
        if (at := moment(incident, name)) is not None
    ]
    if incident.impact_fraction is not None:
        fields.append(("Share affected", percent(incident.impact_fraction)))
    fields += durations(incident)
    if incident.events:
        last = incident.events[-1]
        fields.append(("Last update", f"{format_time(last.recorded_at, tz)} {last.text}"))
    if incident.summary:
        fields.append(("Summary", incident.summary))
    lines = tuple(action_line(item, mention) for item in incident.action_items)
    return Message(
        text=headline(incident),
        title=f"{incident.reference}: {incident.title}",
        fields=tuple(fields),
        lines=(("Action items:", *lines) if lines else ()),
        actions=summary_actions(incident, settings),
    )


def summary_actions(incident: Incident, settings: Settings) -> tuple[Action, ...]:
    """What can be done next, as buttons; each runs an ordinary command."""
    ref = incident.reference
    status = Status(incident.status)
    if status == Status.CLOSED:
        return ()
    if status == Status.RESOLVED:
        return (Action("Reopen", f"reopen {ref}"), Action("Close", f"close {ref}", style="danger"))
    actions = []
    if "commander" in settings.roles and "commander" not in incident.current_roles():
        actions.append(Action("Take commander", f"role {ref} commander @me", style="primary"))
    for next_status in TRANSITIONS[status]:
        if next_status != Status.RESOLVED:
            actions.append(Action(next_status.capitalize(), f"status {ref} {next_status}"))
    severities = tuple(
        Choice(f"{level.name}: {level.description}", f"sev {ref} {level.name}")
        for level in settings.severities
        if level.name != incident.severity
    )
    actions += [
        Action("Change severity", choices=severities),
        Action("Add note…", f"note {ref}", asks="text"),
        Action("Assign role…", f"role {ref}", asks="person"),
        Action("Resolve…", f"resolve {ref}", asks="text", style="primary"),
    ]
    return tuple(actions)


def durations(incident: Incident) -> list[tuple[str, str]]:
    """The figures known so far (bot.incidents.measures), each with its note if it has one."""
    figures = measures_of(incident)
    return [
        (measure.label, f"{measure.text} ({measure.note})" if measure.note else measure.text)
        for measure in (*figures.durations, figures.bad_minutes)
        if measure.known
    ]


def action_line(item: ActionItem, mention: Mention) -> str:
    owner = mention(item.owner) if item.owner else "no owner"
    due = f", due {item.due_date.isoformat()}" if item.due_date else ""
    mark = "x" if item.status == "done" else " "
    return f"[{mark}] #{item.id} {item.text} ({item.kind}, {owner}{due})"


def declared_announcement(incident: Incident, mention: Mention) -> Message:
    where = f" Join #{incident.channel_name}." if incident.channel_name else ""
    service = f" ({incident.service})" if incident.service else ""
    return Message(
        text=(
            f"{mention(incident.declared_by)} declared {incident.reference} "
            f"{incident.severity}{service}: {incident.title}.{where}"
        ),
        tone="warning",
    )


def change_announcement(incident: Incident, event: TimelineEvent, mention: Mention) -> Message:
    actions: tuple[Action, ...] = ()
    if event.kind == EventKind.RUNBOOK_OFFERED:
        name = event.data["runbook"]
        actions = (
            Action(f"Run {name}", f"runbook run {incident.reference} {name}", style="primary"),
            Action("Dry run", f"runbook run {incident.reference} {name} --dry-run"),
        )
    return Message(
        text=f"{incident.reference}: {event.text} (by {mention(event.actor)})", actions=actions
    )


def recorded(incident: Incident, event: TimelineEvent, tz: tzinfo) -> Message:
    return Message(
        text=f"Recorded on {incident.reference} at {format_time(event.occurred_at, tz)}: "
        f"{event.text} (#{event.id})",
        tone="success",
    )


def captured(incident: Incident, event: TimelineEvent) -> Message:
    """The short threaded reply that tells people what went on the timeline."""
    return Message(text=f"Added to the timeline of {incident.reference} (#{event.id}).")


def timeline(
    incident: Incident, events: Sequence[TimelineEvent], tz: tzinfo, mention: Mention
) -> Message:
    """The timeline as a table, in the order things happened."""
    rows = []
    for event in events:
        when = format_time(event.occurred_at, tz)
        if event.recorded_at - event.occurred_at >= timedelta(minutes=1):
            when += f" (logged {format_time(event.recorded_at, tz)})"
        text = event.text + (" (edited)" if event.edited_at else "")
        if event.kind == EventKind.CHAT_MESSAGE:
            text = f"{mention(event.data.get('author', event.actor))}: {text}"
        what = event.kind.replace("_", " ")
        rows.append((when, f"#{event.id}", what, _who(event, mention), text))
    return Message(
        text=f"Timeline of {incident.reference} ({len(rows)} events)",
        title=f"Timeline of {incident.reference}: {incident.title} (times in {tz})",
        table=Table(columns=("When", "Id", "What", "Who", "Details"), rows=tuple(rows)),
    )


def _who(event: TimelineEvent, mention: Mention) -> str:
    """Who did what the entry says, and who recorded it when that is someone else."""
    doer = "nobody in particular" if event.done_by is None else mention(event.done_by)
    if event.done_by == event.actor:
        return doer
    return f"{doer} (via {mention(event.actor)})"


def incident_list(incidents: Sequence[Incident], tz: tzinfo) -> Message:
    if not incidents:
        return Message(text="No open incidents.")
    rows = tuple(
        (
            incident.reference,
            incident.severity,
            incident.status,
            incident.title,
            f"#{incident.channel_name}" if incident.channel_name else "—",
            format_time(incident.declared_at, tz),
        )
        for incident in incidents
    )
    return Message(
        text=f"{len(rows)} open incident(s)",
        title="Open incidents",
        table=Table(
            columns=("Incident", "Severity", "Status", "Title", "Channel", "Declared"), rows=rows
        ),
    )


def postmortem_drafted(
    incident: Incident, postmortem: Postmortem, draft: Draft, mention: Mention
) -> Message:
    """What was drafted, for whom, by when, and what the blameless review found."""
    owner = mention(postmortem.owner) if postmortem.owner else "nobody yet"
    due = postmortem.due_date.isoformat() if postmortem.due_date else "once resolved"
    where = f" in #{incident.channel_name}" if incident.channel_name else ""
    text = (
        f"Postmortem draft for {incident.reference} shared{where}: {draft.filename} "
        f"(owner {owner}, due {due})."
    )
    if not draft.findings:
        return Message(text=text, lines=("The blameless review found nothing to flag.",))
    shown = draft.findings[:REVIEW_LINES_SHOWN]
    lines = [f"The blameless review flagged {len(draft.findings)} phrase(s):"]
    lines += [f'line {f.line}: "{f.phrase}" ({f.why}) Try: {f.suggestion}' for f in shown]
    if len(draft.findings) > len(shown):
        lines.append(f"…and {len(draft.findings) - len(shown)} more in the draft's review section.")
    return Message(text=text, lines=tuple(lines), tone="warning")


def not_allowed(refusal: NotAllowed, mention: Mention) -> Message:
    """Who may do what was refused, by name, and why the person's own claim did not count."""
    *others, last = [_allowed(allowed, mention) for allowed in refusal.allowed]
    who = f"{', '.join(others)} or {last}" if others else last
    text = f"Only {who} may {refusal.doing}."
    return error(f"{refusal.reason} {text}" if refusal.reason else text)


def _allowed(who: Who, mention: Mention) -> str:
    if who.people is None:  # a configured list: its members are not spelled out
        return who.what
    return f"{who.what} ({', '.join(mention(p) for p in who.people) or 'nobody yet'})"


def error(text: str) -> Message:
    return Message(text=text, tone="error")


def done(text: str) -> Message:
    return Message(text=text, tone="success")


def declared(incident: Incident) -> Message:
    """The answer to a declaration: its channel, or that it is on its way."""
    said = f"Declared {incident.reference} ({incident.severity}): {incident.title}"
    if incident.channel_name:
        return done(f"{said} in #{incident.channel_name}.")
    return done(f"{said}. Its channel is being opened; you will be invited.")


def already_handled() -> Message:
    """A request that came again (a replay, a redelivery) after it was acted on."""
    return Message(
        text="This request was already received and acted on; `show` tells what was recorded."
    )


def done_as_connection_broke() -> Message:
    """The change was saved, but the database connection broke before it said so."""
    return done(
        "Done: it was recorded, although the database connection broke as it was saved; "
        "`show` tells what was recorded."
    )


def kept_for_later() -> Message:
    """The database did not answer: the request stays stored and runs once it is back."""
    return Message(
        text="The database is not answering; your command is kept and will run as soon as "
        "it is back.",
        tone="warning",
    )


def database_not_answering() -> Message:
    """The database did not answer and nothing keeps the request (the terminal)."""
    return error(
        "The database is not answering; try again in a moment (`show` tells what was recorded)."
    )


def lag_note(message: Message, lagging: bool) -> Message:
    """Add that the change is recorded but the chat has been failing, when it has."""
    if not lagging:
        return message
    note = (
        "Recorded. The chat is not answering right now; the channel will be updated "
        "as soon as it is back."
    )
    return Message(text=message.text, lines=(*message.lines, note), tone="warning")

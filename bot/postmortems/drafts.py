"""A postmortem draft in one call, for the command line and the chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.postmortems import render
from bot.postmortems.blameless import Finding
from bot.postmortems.context import build_context
from bot.postmortems.record import ensure_postmortem
from bot.storage.models import Incident


@dataclass(frozen=True)
class Draft:
    """A rendered postmortem draft, ready to save or upload."""

    filename: str
    content: str
    findings: tuple[Finding, ...]


def draft(
    session: Session,
    incident: Incident,
    settings: Settings,
    *,
    now: datetime,
    template: str = "postmortem",
    fmt: str = "md",
) -> Draft:
    """Make sure the postmortem row exists, then render its draft.

    Runs in the caller's transaction (commit it to keep a newly created postmortem).
    Raises `UsageError` for an unknown template or format and for template errors.
    """
    ensure_postmortem(session, incident, settings, now)
    context = build_context(session, incident, settings)
    rendered = render.render_draft(
        context,
        template=template,
        fmt=fmt,
        templates_dir=settings.postmortem_templates_dir or None,
    )
    suffix = "postmortem" if template == "postmortem" else f"postmortem-{template}"
    return Draft(
        filename=f"{incident.reference}-{suffix}.{fmt}",
        content=rendered.content,
        findings=tuple(rendered.findings),
    )

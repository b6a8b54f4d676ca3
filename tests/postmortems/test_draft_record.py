"""The draft tells the record as it was made: the impact window and its share, figures in the
order they were recorded, entries logged after the fact, and who did what for whom.

Fields the commands for them set are written to the rows directly here, as those
commands store them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.incidents.lifecycle import get_incident
from bot.postmortems import drafts
from bot.storage.models import EventKind, Incident, TimelineEvent
from tests.support.clock import START, FakeClock
from tests.support.people import Person


def at(hour: int, minute: int) -> datetime:
    return datetime(2015, 10, 21, hour, minute, tzinfo=UTC)


def draft_of(session_factory: sessionmaker[Session], settings: Settings, fmt: str = "md") -> str:
    with session_factory() as session:
        incident = get_incident(session, "INC-1")
        result = drafts.draft(session, incident, settings, now=START + timedelta(days=1), fmt=fmt)
        session.commit()
        return result.content


def record(session_factory: sessionmaker[Session], **fields: object) -> None:
    """Set fields of INC-1 as the commands that record them would."""
    with session_factory() as session:
        incident = get_incident(session, "INC-1")
        for name, value in fields.items():
            setattr(incident, name, value)
        session.commit()


def add_entries(session_factory: sessionmaker[Session], *entries: dict[str, object]) -> None:
    with session_factory() as session:
        incident: Incident = get_incident(session, "INC-1")
        for entry in entries:
            session.add(TimelineEvent(incident=incident, kind=EventKind.NOTE, **entry))
        session.commit()


def lines_of(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


@pytest.fixture
def declared(alice: Person) -> None:
    alice.says("declare sev2 Checkout API returns 500s")


@pytest.mark.usefixtures("declared")
def test_the_draft_shows_the_impact_window_its_share_and_bad_minutes(session_factory, settings):
    record(
        session_factory,
        started_at=at(14, 54),
        detected_at=at(14, 55),
        declared_at=at(15, 1),
        acknowledged_at=at(14, 55),
        mitigated_at=at(15, 36),
        impact_ended_at=at(16, 0),
        resolved_at=at(16, 30),
        impact_fraction=0.125,
    )

    text = draft_of(session_factory, settings)

    assert "- **Duration of impact:** 1h 6m\n" in text
    assert "- **From:** 2015-10-21 14:54 UTC\n" in text
    assert "- **Until:** 2015-10-21 16:00 UTC\n" in text
    assert "- **Share affected:** 12.5%\n" in text
    assert "- **Bad minutes:** 8.3 (1h 6m at 12.5%)\n" in text
    assert lines_of(text, "| Time to") + lines_of(text, "| Impact duration") + lines_of(
        text, "| Incident duration"
    ) == [
        "| Time to detect | Impact started → Detected | 1m |",
        "| Time to declare | Impact started → Declared | 7m |",
        "| Time to acknowledge | Detected → Acknowledged | 0m |",
        "| Time to mitigate | Impact started → Mitigated | 42m |",
        "| Time to resolve | Impact started → Resolved | 1h 36m |",
        "| Impact duration | Impact started → Impact ended | 1h 6m |",
        "| Incident duration | Declared → Resolved | 1h 29m |",
    ]
    assert "| Impact ended | users stopped being affected | 2015-10-21 16:00 |" in text
    assert "The incident was declared 7m after the impact started." in text


@pytest.mark.usefixtures("declared")
def test_without_an_end_of_impact_the_window_runs_until_mitigated_and_says_so(
    session_factory, settings
):
    record(
        session_factory,
        started_at=at(14, 54),
        declared_at=at(15, 1),
        mitigated_at=at(15, 36),
    )

    text = draft_of(session_factory, settings)

    assert "- **Duration of impact:** 42m (until mitigated: the end of impact is not recorded)" in (
        text
    )
    assert "- **Until:** 2015-10-21 15:36 UTC, when mitigated\n" in text
    assert "- **Bad minutes:** _not known (share affected not recorded)_" in text


@pytest.mark.usefixtures("declared")
def test_figures_recorded_in_a_reversed_order_are_shown_as_such(session_factory, settings):
    record(
        session_factory,
        started_at=at(15, 0),
        detected_at=at(15, 4),
        declared_at=at(15, 5),
        acknowledged_at=at(15, 1),
        mitigated_at=at(14, 50),
    )

    text = draft_of(session_factory, settings)

    ack = "| Time to acknowledge | Detected → Acknowledged | acknowledged 3m before detection |"
    assert ack in text
    assert (
        "| Time to mitigate | Impact started → Mitigated | mitigated 10m before the start of "
        "impact _(recorded out of order: check the times)_ |"
    ) in text
    assert "| 0m |" not in text


def test_entries_logged_after_the_fact_are_counted_and_marked_with_when(
    alice: Person, session_factory, settings, clock: FakeClock
):
    alice.says("declare sev2 Checkout API returns 500s")  # 14:00
    clock.advance(minutes=30)
    alice.says("note --at 2026-11-25T14:10Z rolled back to v41")
    alice.says("note --at 2026-11-25T14:20Z pool restarted")
    alice.says("note raised max connections")  # on time: no mark

    text = draft_of(session_factory, settings)
    html = draft_of(session_factory, settings, fmt="html")

    assert "2 entries were logged after the fact (marked ⁺: point at the mark to see when)." in (
        text
    )
    assert '| 2026-11-25 14:10[⁺](#timeline "logged 2026-11-25 14:30 UTC") | Note |' in text
    assert "| 2026-11-25 14:30 | Note | alice | raised max connections |" in text
    assert "logged at" not in text
    assert text.count("⁺") == 3
    assert (
        '<td style="text-align:left">2026-11-25 14:20'
        '<a href="#timeline" title="logged 2026-11-25 14:30 UTC">⁺</a></td>'
    ) in html
    assert "(logged" not in html


@pytest.mark.usefixtures("declared")
def test_nothing_logged_late_means_no_line_about_it(session_factory, settings):
    text = draft_of(session_factory, settings)

    assert "after the fact" not in text and "⁺" not in text
    assert "In the Who column" not in text


@pytest.mark.usefixtures("declared")
def test_who_did_it_is_shown_and_who_recorded_it_where_different(session_factory, settings):
    add_entries(
        session_factory,
        {
            "occurred_at": START + timedelta(minutes=1),
            "recorded_at": START + timedelta(minutes=1),
            "actor": "bob",
            "done_by": None,
            "text": "traffic increases 88x",
        },
        {
            "occurred_at": START + timedelta(minutes=2),
            "recorded_at": START + timedelta(minutes=2),
            "actor": "bob",
            "done_by": "dave",
            "text": "dave pages the database team",
        },
        {
            "occurred_at": START + timedelta(minutes=3),
            "recorded_at": START + timedelta(minutes=3),
            "actor": "bob",
            "done_by": "bob",
            "text": "bob opens the dashboard",
        },
    )

    text = draft_of(session_factory, settings)
    html = draft_of(session_factory, settings, fmt="html")

    who = {}  # the Who cell of each row, by its text
    for line in lines_of(text, "| 2026-11-25 14:0"):
        _when, _event, done_by, what = (cell.strip() for cell in line.strip("|").split(" | "))
        who[what] = done_by
    assert who["traffic increases 88x"] == "— _via bob_"
    assert who["dave pages the database team"] == "dave _via bob_"
    assert who["bob opens the dashboard"] == "bob"
    assert (
        "In the Who column, _via_ names who recorded an entry for the one who did it, "
        "and — is nobody in particular."
    ) in text
    assert '<td style="text-align:left">dave <em>via bob</em></td>' in html
    assert "| dave | — | 0 | 0 |" in text  # a participant, though dave typed nothing


@pytest.mark.usefixtures("declared")
def test_the_html_timeline_keeps_names_and_event_words_whole(session_factory, settings):
    html = draft_of(session_factory, settings, fmt="html")

    style = html[html.index("<style>") : html.index("</style>")]
    cells = re.search(r"^th, td \{([^}]*)\}", style, re.MULTILINE)
    assert cells is not None and "overflow-wrap" not in cells.group(1)
    assert "word-break" not in style
    assert 'td[style="text-align:left"], th[style="text-align:left"] { white-space: nowrap; }' in (
        style
    )
    assert [line for line in style.splitlines() if "anywhere" in line] == [
        'td[style="text-align:left"] ~ td:last-child { overflow-wrap: anywhere; }'
    ]
    header = re.search(r"<thead>\s*<tr>(.*?)</tr>", html[html.index("<h2>Timeline") :], re.S)
    assert header is not None
    assert re.findall(r'<th style="text-align:left">(\w+)</th>', header.group(1)) == [
        "UTC",
        "Event",
        "Who",
    ]
    assert "<th>What</th>" in header.group(1)

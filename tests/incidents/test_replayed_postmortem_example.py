"""A published-style example incident, replayed through the terminal chat a day later.

The story is written for this test (a recipe search that fails under a sudden surge of
traffic) and timed like the classic example of a postmortem: impact 14:54-16:00 UTC,
detected 14:55 and acknowledged at once, declared 15:01, mitigated 15:36, resolved
16:30. The next day Sofia, the scribe, types the whole record into `incident-bot
shell` with the commands people use; the postmortem draft must read as if the record
had been kept live, the replay showing only where it says when entries were logged.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from itertools import takewhile

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.incidents.lifecycle import get_incident
from bot.postmortems import drafts
from bot.storage import database
from bot.storage.models import TimelineEvent
from tests.support.shell import run_shell

SCRIBE = "sofia"
COMMANDER = "mei"
NOBODY = None
MEASURES = {
    "Time to detect": "1m",
    "Time to declare": "7m",
    "Time to acknowledge": "0m",
    "Time to mitigate": "42m",
    "Impact duration": "1h 6m",
    "Incident duration": "1h 29m",
}

# (time, who did it (None: nobody in particular), what happened): 34 entries by five people.
NOTES: list[tuple[str, str | None, str]] = [
    ("14:51", NOBODY, "A video linking to our recipe search spreads fast"),
    ("14:53", NOBODY, "Search traffic climbs to forty times its usual level"),
    ("14:54", NOBODY, "Search backends start failing under the load"),
    ("14:55", "kwame", "Paged: search error rate above 50% in every region"),
    ("14:56", "kwame", "Acknowledges the page, opens the search dashboard"),
    ("14:57", NOBODY, "Nearly every search request fails"),
    ("14:58", "kwame", "Backends restart in a loop, out of memory"),
    ("14:59", "kwame", "Asks priya to join"),
    ("15:00", "priya", "Confirms the crash loop in two regions"),
    ("15:01", "kwame", "Declares the incident, asks mei to lead"),
    ("15:02", "mei", "Takes command"),
    ("15:03", "mei", "Asks tomas to keep support informed"),
    ("15:05", "sofia", "Starts keeping the record"),
    ("15:06", "tomas", "First status update to support"),
    ("15:08", "priya", "One new search term is missing from the query cache"),
    ("15:10", "kwame", "Adds 20% capacity; new backends crash within a minute"),
    ("15:12", "mei", "Decides to shed load before adding capacity"),
    ("15:14", "kwame", "Sheds anonymous search traffic"),
    ("15:16", NOBODY, "Error rate falls to 30%"),
    ("15:18", "priya", "Proposes warming the cache with the new term"),
    ("15:20", "mei", "Approves warming one region first"),
    ("15:23", "priya", "Warms the cache in the first region"),
    ("15:26", NOBODY, "The crash loop stops in the first region"),
    ("15:28", "priya", "Warms the cache in the other regions"),
    ("15:31", "kwame", "Takes the crashing backends out of the pool"),
    ("15:36", NOBODY, "Error rate below 1%: people can search again"),
    ("15:40", "tomas", "Tells support the service is recovering"),
    ("15:45", "kwame", "Stops shedding load, region by region"),
    ("15:50", "mei", "Asks everyone to watch the dashboards for 30 minutes"),
    ("16:00", NOBODY, "Traffic is balanced across all regions again"),
    ("16:05", "priya", "Opens a change to keep newly popular terms cached"),
    ("16:15", "sofia", "Collects the graphs for the review"),
    ("16:25", "kwame", "Capacity is back to its usual size"),
    ("16:30", "mei", "Ends the incident after 30 minutes of normal service"),
]
# (owner, kind, days after the incident it is due, what): 9 follow-ups agreed at the end.
ACTIONS: list[tuple[str, str, int, str]] = [
    ("priya", "prevent", 10, "Keep newly popular terms in the query cache"),
    ("kwame", "mitigate", 10, "Shed anonymous load automatically above a threshold"),
    ("priya", "prevent", 17, "Cap the memory a single query may take"),
    ("kwame", "detect", 8, "Alert on the backend crash rate"),
    ("mei", "process", 15, "Write a runbook for traffic surges on search"),
    ("tomas", "process", 15, "Template for status updates to support"),
    ("kwame", "mitigate", 22, "Faster scale-out for search backends"),
    ("priya", "detect", 22, "Load test with a single hot term"),
    ("sofia", "process", 8, "Add the surge to the on-call training"),
]
MEASURES_HEADING = "Each duration below says what it counts, from one milestone to the other."
# What the replay records besides the notes: the declaration, the impact, detected,
# acknowledged, four roles, two status changes, mitigated, the resolution, the actions.
OTHER_ENTRIES = 11 + len(ACTIONS)


def note_command(index: int, time: str, who: str | None, text: str) -> str:
    """A note as the scribe types it: the options wherever they happen to land."""
    words = [text]
    if who != SCRIBE:
        words.insert(index % 2, f"--by {'nobody' if who is None else '@' + who}")
    words.insert((index // 2) % (len(words) + 1), f"--at {time}")
    return "/incident note " + " ".join(words)


def replay(day: date) -> list[str]:
    return [
        "/incident declare sev2 Recipe search fails under a traffic surge service:search "
        f"--at {day.isoformat()}T15:01Z",
        "/incident impact --from 14:54 --until 16:00 --fraction 80%",
        "/incident detected --at 14:55",
        "/incident ack --at 14:55",
        *(note_command(index, *note) for index, note in enumerate(NOTES)),
        f"/incident role commander @{COMMANDER} --at 15:02",
        "/incident role --at 15:03 communications @tomas",
        "/incident role operations @kwame --at 15:03",
        "/incident role scribe @me --at 15:05",
        "/incident status identified --at 15:08",
        "/incident mitigated --at 15:36",
        "/incident status --at 15:45 monitoring",
        "/incident resolve --at 16:30 Warmed the query cache and shed load until the surge passed",
        *(
            f"/incident action {what} @{owner} due:{(day + timedelta(days=due)).isoformat()} "
            f"kind:{kind} --at 16:40"
            for owner, kind, due, what in ACTIONS
        ),
    ]


def table(section: str, content: str) -> list[list[str]]:
    """The cells of each row (header and rule left out) of the first table after `section`."""
    lines = content.split(f"\n{section}\n", 1)[1].splitlines()
    start = next(number for number, line in enumerate(lines) if line.startswith("|"))
    rows = list(takewhile(lambda line: line.startswith("|"), lines[start:]))[2:]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, date, set[date]]:
    """Yesterday's incident typed into the terminal chat today; its Markdown and HTML drafts,
    the incident's day and the day (or days, across a midnight) the replay ran."""
    workdir = tmp_path_factory.mktemp("replay")
    before = datetime.now(UTC).date()
    day = before - timedelta(days=1)
    result = run_shell(workdir, replay(day), "shell", "--user", SCRIBE)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    settings = Settings(database_url=f"sqlite:///{workdir / 'bot.db'}")
    engine = database.make_engine(settings.database_url)
    try:
        with database.make_session_factory(engine)() as session:
            recorded = session.scalar(select(func.count()).select_from(TimelineEvent))
            assert recorded == 1 + len(NOTES) + OTHER_ENTRIES, result.stdout
            incident = get_incident(session, "INC-1")
            now = datetime.now(UTC)
            markdown = drafts.draft(session, incident, settings, now=now).content
            html = drafts.draft(session, incident, settings, now=now, fmt="html").content
    finally:
        engine.dispose()
    return markdown, html, day, {before, now.date()}


def test_the_figures_are_those_of_the_example(replayed):
    markdown, _, day, _ = replayed

    measures = {row[0]: row[2] for row in table(MEASURES_HEADING, markdown)}
    assert {label: measures[label] for label in MEASURES} == MEASURES
    assert "- **Duration of impact:** 1h 6m\n" in markdown
    assert f"- **From:** {day.isoformat()} 14:54 UTC\n" in markdown
    assert f"- **Until:** {day.isoformat()} 16:00 UTC\n" in markdown
    assert "- **Share affected:** 80%\n" in markdown


def test_the_key_timestamps_are_the_examples(replayed):
    markdown, _, day, _ = replayed

    stamps = {row[0]: row[2] for row in table("## Key timestamps", markdown)}
    expected = {
        "Impact started": "14:54",
        "Detected": "14:55",
        "Declared": "15:01",
        "Acknowledged": "14:55",
        "Mitigated": "15:36",
        "Impact ended": "16:00",
        "Resolved": "16:30",
    }
    assert {label: stamps[label] for label in expected} == {
        label: f"{day.isoformat()} {time}" for label, time in expected.items()
    }


def test_the_34_entries_are_in_order_with_who_did_each(replayed):
    markdown, _, day, _ = replayed

    notes = [row for row in table("## Timeline", markdown) if row[1] == "Note"]
    assert [(row[0][:16], row[2], row[3]) for row in notes] == [
        (
            f"{day.isoformat()} {time}",
            "sofia" if who == SCRIBE else f"{who or '—'} _via sofia_",
            text,
        )
        for time, who, text in NOTES
    ]


def test_the_commander_owns_the_postmortem(replayed):
    markdown, _, _, _ = replayed

    assert f"- **Postmortem:** Draft, owned by {COMMANDER}, review due " in markdown
    roles = {row[0]: (row[1], row[2]) for row in table("### Roles", markdown)}
    assert roles["Commander"][0] == COMMANDER
    assert len(table("## Action items", markdown)) == len(ACTIONS)


@pytest.mark.parametrize("draft", ["markdown", "html"])
def test_the_replay_day_shows_only_where_entries_say_when_they_were_logged(replayed, draft):
    markdown, html, day, replay_days = replayed
    content = markdown if draft == "markdown" else html

    logged = re.compile(r"logged \d{4}-\d{2}-\d{2} \d{2}:\d{2}( UTC)?")
    assert len(logged.findall(content)) >= 1 + len(NOTES) + OTHER_ENTRIES
    rest = logged.sub("logged (when)", content)
    for replay_day in replay_days:
        assert replay_day.isoformat() not in rest
    assert day.isoformat() in rest

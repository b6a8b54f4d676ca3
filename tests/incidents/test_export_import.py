"""Export and import: an incident written as JSON, read into an empty database, written again.

The incident is made through the command path: back-dated start and detection, roles
changed twice, notes edited and deleted, an action item done, a runbook run in real
worker processes, a postmortem. What no command records yet (the end of the impact,
its fraction, notes done by someone else or by nobody) is written on its rows.
"""

from __future__ import annotations

import copy
import json
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from bot import resources
from bot.incidents import exchange
from bot.incidents.importing import ImportRefused, import_files
from bot.incidents.lifecycle import get_incident
from bot.storage.models import (
    ActionKind,
    ActionStatus,
    EventKind,
    Incident,
    OutboxItem,
    PostmortemStatus,
    RunbookRun,
    RunStatus,
    Status,
    TimelineEvent,
)
from tests.support.clock import START
from tests.support.databases import empty_tables
from tests.support.db_reads import snapshot
from tests.support.paths import repo_root
from tests.support.people import Person
from tests.support.runbooks import runbook_application, settle
from tests.support.shell import run_shell

SECRET = "hunter2-very-secret"
STEP_OUTPUT = "only the step's output says this"
RUNBOOK = f"""
from bot.runbooks.sdk import Param, runbook, step

@runbook(name="restart", summary="Restart the pods", params={{"token": Param(str, secret=True)}},
         allowed=["anyone"])
class Restart:
    @step
    def drain(self, ctx):
        ctx.log("{STEP_OUTPUT}")
        return {{"token": ctx.secret("token")}}

    @step
    def restart(self, ctx):
        return "done"
"""


@pytest.fixture
def application(settings, session_factory, chat, clock, tmp_path):
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "restart.py").write_text(textwrap.dedent(RUNBOOK), encoding="utf-8")
    application = runbook_application(
        settings, session_factory, chat, clock, folder=folder, artifacts=tmp_path / "artifacts"
    )
    yield application
    application.runbooks.shutdown()


def _last_event_id(session_factory) -> int:
    with session_factory() as session:
        return session.scalars(select(func.max(TimelineEvent.id))).one()


def _note(session_factory, text: str) -> TimelineEvent:
    with session_factory() as session:
        query = select(TimelineEvent).where(TimelineEvent.text == text)
        return session.scalars(query).one()


@pytest.fixture
def rich_incident(handler, alice: Person, bob: Person, clock, session_factory) -> None:
    """INC-1 with everything an incident records; INC-2 declared in between, so that
    INC-1's rows do not have the ids they get in an empty database."""
    carol = Person(handler, "carol")
    alice.says("declare sev2 Checkout API returns 500s service:checkout")
    bob.says("declare sev3 Search is slow")
    carol.channel_id = alice.channel_id
    clock.advance(minutes=1)
    alice.says("started --at 13:40")
    alice.says("detected --at 13:45")
    alice.says("role commander @me")
    clock.advance(minutes=2)
    alice.says("role commander @bob")
    bob.says("note INC-2 searching since 14:00")
    Person(handler, "bob", alice.channel_id).says("role commander @carol")
    alice.says("role scribe @me")
    clock.advance(minutes=1)
    alice.says("note rolled back to v41")
    carol.says("note traffic increases 88x")
    alice.says("note bob restarted the pods")
    alice.says("note 롤백 완료 🚀 (typo)")
    alice.says(f"note edit {_last_event_id(session_factory)} 롤백 완료 🚀")
    alice.says("note wrong incident")
    alice.says(f"note delete {_last_event_id(session_factory)}")
    alice.says("action Alert on 5xx rate @bob due:2026-12-01 kind:detect")
    alice.says("action Write the rollback runbook")
    alice.says("action done 1")
    alice.says(f"runbook run restart token={SECRET}")
    settle(handler)
    clock.advance(minutes=30)
    alice.says("status monitoring")
    clock.advance(minutes=10)
    alice.says("resolve Rollback fixed it")
    alice.says("postmortem")
    by_nobody = _note(session_factory, "traffic increases 88x").id
    by_bob = _note(session_factory, "bob restarted the pods").id
    with session_factory.begin() as session:
        incident = get_incident(session, "INC-1")
        incident.impact_ended_at = START + timedelta(minutes=35)
        incident.impact_fraction = 0.25
        session.get_one(TimelineEvent, by_nobody).done_by = None
        session.get_one(TimelineEvent, by_bob).done_by = "bob"


def _exported(session_factory, reference: str = "INC-1") -> str:
    with session_factory() as session:
        return exchange.dumps(exchange.document_of(session, get_incident(session, reference)))


def _import(session_factory, settings, clock, *paths: Path) -> list[str]:
    with session_factory() as session:
        imported = import_files(session, list(paths), settings=settings, now=clock())
        session.commit()
    return [str(outcome) for outcome in imported]


def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def test_export_then_import_into_an_empty_database_then_export_gives_the_same_bytes(
    rich_incident, engine, session_factory, settings, clock, tmp_path
):
    first = _exported(session_factory)
    original_note = _note(session_factory, "롤백 완료 🚀").id
    path = tmp_path / "inc-1.json"
    path.write_bytes(first.encode("utf-8"))
    empty_tables(engine)

    assert _import(session_factory, settings, clock, path) == [f"{path}: imported as INC-1"]

    assert _exported(session_factory) == first
    document = json.loads(first)
    assert (document["format"], document["version"]) == ("incident-bot/incident", 1)
    assert document["external_id"] == "INC-1"
    assert first.endswith("}\n") and "롤백 완료 🚀" in first
    assert document["milestones"]["started"] == "2026-11-25T13:40:00Z"
    assert document["milestones"]["impact_ended"] == "2026-11-25T14:35:00Z"
    assert document["impact_fraction"] == 0.25
    assert [(r["role"], r["holder"], r["ended_by"]) for r in document["roles"]] == [
        ("commander", "alice", "alice"),
        ("commander", "bob", "bob"),
        ("commander", "carol", None),
        ("scribe", "alice", None),
    ]
    done_by = {entry["text"]: entry["done_by"] for entry in document["timeline"]}
    assert done_by["traffic increases 88x"] is None
    assert done_by["bob restarted the pods"] == "bob"
    assert done_by["rolled back to v41"] == "alice"
    assert "INC-2 searching since 14:00" not in done_by
    edited = next(e for e in document["timeline"] if e["kind"] == EventKind.NOTE_EDITED)
    note = next(e for e in document["timeline"] if e["id"] == edited["data"]["note_id"])
    assert (note["text"], note["edited_at"] is not None) == ("롤백 완료 🚀", True)
    deleted = next(e for e in document["timeline"] if e["kind"] == EventKind.NOTE_DELETED)
    gone = next(e for e in document["timeline"] if e["id"] == deleted["data"]["note_id"])
    assert (gone["text"], gone["deleted_at"] is not None) == ("wrong incident", True)
    assert [(a["text"], a["kind"], a["status"]) for a in document["action_items"]] == [
        ("Alert on 5xx rate", "detect", "done"),
        ("Write the rollback runbook", "prevent", "open"),
    ]
    (run,) = document["runbook_runs"]
    assert (run["runbook"], run["status"], run["requested_by"]) == ("restart", "succeeded", "alice")
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("drain", "succeeded"),
        ("restart", "succeeded"),
    ]
    assert SECRET not in first and STEP_OUTPUT not in first
    assert document["postmortem"]["status"] == "draft"
    assert document["postmortem"]["owner"] == "carol"
    # Imported rows point at each other by their new ids.
    assert _note(session_factory, "롤백 완료 🚀").id != original_note
    with session_factory() as session:
        edit = session.scalars(
            select(TimelineEvent).where(TimelineEvent.kind == EventKind.NOTE_EDITED)
        ).one()
        assert session.get_one(TimelineEvent, edit.data["note_id"]).text == "롤백 완료 🚀"


def test_importing_twice_changes_nothing_and_says_so(
    rich_incident, engine, session_factory, settings, clock, tmp_path
):
    path = tmp_path / "inc-1.json"
    path.write_text(_exported(session_factory), encoding="utf-8")
    before = snapshot(session_factory)

    # Back into the database it came from: it is that database's own INC-1.
    assert _import(session_factory, settings, clock, path) == [
        f"{path}: already here as INC-1; nothing changed"
    ]
    assert snapshot(session_factory) == before

    empty_tables(engine)
    assert _import(session_factory, settings, clock, path) == [f"{path}: imported as INC-1"]
    imported = snapshot(session_factory)
    clock.advance(hours=1)
    assert (
        _import(session_factory, settings, clock, path, path)
        == [f"{path}: already here as INC-1; nothing changed"] * 2
    )
    assert snapshot(session_factory) == imported


def test_a_file_without_external_id_is_known_by_its_reference_and_gets_the_next_number(
    rich_incident, session_factory, settings, clock, tmp_path
):
    document = json.loads(_exported(session_factory))
    del document["external_id"]
    document["reference"] = "INC-7"
    path = _write(tmp_path / "inc-7.json", document)

    assert _import(session_factory, settings, clock, path) == [f"{path}: imported as INC-3"]
    assert _import(session_factory, settings, clock, path) == [
        f"{path}: already here as INC-3; nothing changed"
    ]
    with session_factory() as session:
        incident = get_incident(session, "INC-3")
        assert incident.external_id == "INC-7"
        # Its rows have new ids here, and point at each other by them.
        edit, deletion = session.scalars(
            select(TimelineEvent)
            .where(
                TimelineEvent.incident_id == incident.id,
                TimelineEvent.kind.in_([EventKind.NOTE_EDITED, EventKind.NOTE_DELETED]),
            )
            .order_by(TimelineEvent.id)
        )
        edited = session.get_one(TimelineEvent, edit.data["note_id"])
        deleted = session.get_one(TimelineEvent, deletion.data["note_id"])
        assert (edited.incident_id, edited.text) == (incident.id, "롤백 완료 🚀")
        assert (deleted.incident_id, deleted.text) == (incident.id, "wrong incident")
    assert json.loads(_exported(session_factory, "INC-3"))["external_id"] == "INC-7"


def test_an_import_opens_no_channel_enqueues_nothing_and_starts_no_runbook(
    rich_incident, engine, application, chat, session_factory, settings, clock, tmp_path
):
    path = tmp_path / "inc-1.json"
    path.write_text(_exported(session_factory), encoding="utf-8")
    empty_tables(engine)
    chat.calls.clear()

    _import(session_factory, settings, clock, path)
    before = snapshot(session_factory)
    application.start(replay_now=True)
    try:
        assert application.runbooks.recover(sole_process=True) == []
        settle(application.handler)
        assert application.deliverer.deliver_pending() == 0
    finally:
        application.stop()

    assert chat.calls == []
    assert snapshot(session_factory) == before
    with session_factory() as session:
        incident = get_incident(session, "INC-1")
        assert (incident.channel_id, incident.channel_name) == (
            None,
            "inc-1-checkout-api-returns-500s",
        )
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 0
        runs = session.scalars(select(RunbookRun)).all()
        assert [(run.status, run.owner, run.params) for run in runs] == [
            (RunStatus.SUCCEEDED, None, {})
        ]


def _document() -> dict[str, Any]:
    """A small incident from another system, as a team would convert it."""
    return {
        "format": "incident-bot/incident",
        "version": 1,
        "reference": "PD-1234",
        "title": "Checkout returns 500s",
        "severity": "SEV2",
        "status": "closed",
        "declared_by": "alice",
        "milestones": {
            "started": "2015-10-21T14:54:00Z",
            "declared": "2015-10-21T15:01:00Z",
            "resolved": "2015-10-21T16:30:00Z",
            "closed": "2015-10-22T09:00:00Z",
        },
        "roles": [
            {
                "role": "commander",
                "holder": "alice",
                "assigned_by": "alice",
                "started_at": "2015-10-21T15:02:00Z",
            }
        ],
        "timeline": [
            {"kind": "note", "occurred_at": "2015-10-21T14:55:00Z", "actor": "bob", "text": "a"},
            {
                "id": 2,
                "kind": "note",
                "occurred_at": "2015-10-21T15:10:00+02:00",
                "actor": "bob",
                "done_by": None,
                "text": "traffic increases 88x",
            },
        ],
    }


def _changed(change) -> dict[str, Any]:
    document = copy.deepcopy(_document())
    change(document)
    return document


BAD = [
    (
        "bad-time",
        lambda d: d["timeline"][1].update(occurred_at="2015-13-01"),
        "timeline[1].occurred_at: '2015-13-01' is not a date-time",
    ),
    (
        "bad-month",
        lambda d: d["milestones"].update(declared="2015-13-01T15:01:00Z"),
        "milestones.declared: '2015-13-01T15:01:00Z' is not a date-time",
    ),
    ("missing-title", lambda d: d.pop("title"), "title: is missing"),
    (
        "unknown-severity",
        lambda d: d.update(severity="SEV9"),
        "severity: 'SEV9' is not a severity here; use one of SEV1, SEV2, SEV3, SEV4",
    ),
    ("wrong-type", lambda d: d.update(title=5), "title: is an integer, not a string"),
    ("wrong-list", lambda d: d.update(timeline={}), "timeline: is an object, not an array"),
    (
        "resolved-before-declared",
        lambda d: d["milestones"].update(resolved="2015-10-21T15:00:00Z"),
        "milestones.resolved: 2015-10-21T15:00:00Z is before milestones.declared "
        "(2015-10-21T15:01:00Z)",
    ),
    (
        "impact-ends-before-it-starts",
        lambda d: d["milestones"].update(impact_ended="2015-10-21T14:50:00Z"),
        "milestones.impact_ended: 2015-10-21T14:50:00Z is before milestones.started "
        "(2015-10-21T14:54:00Z)",
    ),
    (
        "detected-after-declared",
        lambda d: d["milestones"].update(detected="2015-10-21T15:05:00Z"),
        "milestones.declared: 2015-10-21T15:01:00Z is before milestones.detected "
        "(2015-10-21T15:05:00Z)",
    ),
    (
        "closed-without-closing",
        lambda d: d["milestones"].pop("closed"),
        "milestones.closed: is missing; a closed incident has one",
    ),
    (
        "open-but-resolved",
        lambda d: d.update(status="investigating"),
        "milestones.resolved: is set, but the incident is investigating",
    ),
    (
        "future",
        lambda d: d["roles"][0].update(ended_at="2999-01-01T00:00:00Z"),
        "roles[0].ended_at: '2999-01-01T00:00:00Z' is in the future",
    ),
    (
        "unknown-role",
        lambda d: d["roles"][0].update(role="captain"),
        "roles[0].role: 'captain' is not a role here; use one of commander, communications, "
        "scribe, operations",
    ),
    (
        "dangling-reference",
        lambda d: d["timeline"][0].update(data={"note_id": 9}),
        "timeline[0].data.note_id: 9 is not the id of one of timeline",
    ),
    (
        "running-run",
        lambda d: d.update(
            runbook_runs=[
                {
                    "runbook": "restart",
                    "status": "running",
                    "requested_by": "alice",
                    "created_at": "2015-10-21T15:20:00Z",
                }
            ]
        ),
        "runbook_runs[0].status: 'running': only a run that is over can be imported "
        "(this one would be started again)",
    ),
    (
        "no-identity",
        lambda d: d.pop("reference"),
        "external_id: is missing, and so is reference: one of them names the incident, so "
        "that importing it again changes nothing",
    ),
    (
        "unknown-field",
        lambda d: d.update(titel="x"),
        "Additional properties are not allowed ('titel' was unexpected)",
    ),
    ("fraction", lambda d: d.update(impact_fraction=0), "impact_fraction: 0 is less than or"),
]


@pytest.mark.parametrize(("name", "change", "expected"), BAD, ids=[case[0] for case in BAD])
def test_each_error_names_the_file_and_the_field_and_nothing_is_written(
    name, change, expected, session_factory, settings, clock, tmp_path
):
    good = _write(tmp_path / "good.json", _document())
    bad = _write(tmp_path / f"{name}.json", _changed(change))

    with pytest.raises(ImportRefused) as refused:
        _import(session_factory, settings, clock, good, bad)

    assert [line for line in refused.value.problems if line.startswith(str(bad))] == [
        line for line in refused.value.problems
    ]
    assert any(line.startswith(f"{bad}: {expected}") for line in refused.value.problems), (
        refused.value.problems
    )
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 0


def test_a_small_document_from_another_system_is_imported_with_defaults(
    session_factory, settings, clock, tmp_path
):
    path = _write(tmp_path / "pd-1234.json", _document())

    assert _import(session_factory, settings, clock, path) == [f"{path}: imported as INC-1"]

    document = json.loads(_exported(session_factory))
    assert document["external_id"] == "PD-1234"
    assert (document["status"], document["description"], document["channel_name"]) == (
        Status.CLOSED,
        "",
        None,
    )
    # In the order things happened: 15:10 at UTC+2 is before 14:55 UTC.
    earlier, later = document["timeline"]
    assert (earlier["text"], earlier["done_by"]) == ("traffic increases 88x", None)
    assert earlier["occurred_at"] == "2015-10-21T13:10:00Z"
    assert (later["text"], later["done_by"]) == ("a", "bob")
    assert later["recorded_at"] == later["occurred_at"] == "2015-10-21T14:55:00Z"


def test_the_schema_is_published_and_names_every_value_the_models_know():
    published = repo_root() / "schemas" / "incident.schema.json"
    assert resources.schemas() / "incident.schema.json" == published
    schema = json.loads(published.read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    definitions = schema["$defs"]
    assert schema["properties"]["format"]["const"] == exchange.FORMAT
    assert schema["properties"]["version"]["const"] == exchange.VERSION
    assert schema["properties"]["status"]["enum"] == [s.value for s in Status]
    assert definitions["event"]["properties"]["kind"]["enum"] == [k.value for k in EventKind]
    item = definitions["action_item"]["properties"]
    assert item["kind"]["enum"] == [k.value for k in ActionKind]
    assert item["status"]["enum"] == [s.value for s in ActionStatus]
    assert definitions["run_status"]["enum"] == [s.value for s in RunStatus]
    postmortem = definitions["postmortem"]["properties"]["status"]["enum"]
    assert postmortem == [s.value for s in PostmortemStatus]
    assert list(schema["properties"]["milestones"]["properties"]) == list(exchange.MILESTONES)


def _cli(workdir: Path, *args: str, database: str = "bot.db"):
    done = run_shell(workdir, [], *args, DATABASE_URL=f"sqlite:///{workdir / database}")
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def test_the_command_line_exports_to_stdout_or_a_file_and_imports_once(tmp_path):
    lines = [
        "/incident declare sev2 Checkout API returns 500s 🚀",
        "/incident note rolled back to v41",
        "/incident resolve Rollback fixed it",
    ]
    assert run_shell(tmp_path, lines, "shell", "--user", "alice").returncode == 0

    printed = _cli(tmp_path, "export", "INC-1")
    written = _cli(tmp_path, "export", "INC-1", "-o", "inc-1.json")

    assert printed.returncode == written.returncode == 0
    assert written.stdout == "inc-1.json\n"
    assert (tmp_path / "inc-1.json").read_text("utf-8") == printed.stdout
    assert json.loads(printed.stdout)["title"] == "Checkout API returns 500s 🚀"

    first = _cli(tmp_path, "import", "inc-1.json", database="other.db")
    again = _cli(tmp_path, "import", "inc-1.json", database="other.db")
    assert (first.returncode, first.stdout) == (0, "inc-1.json: imported as INC-1\n")
    assert (again.returncode, again.stdout) == (
        0,
        "inc-1.json: already here as INC-1; nothing changed\n",
    )
    assert _cli(tmp_path, "export", "INC-1", database="other.db").stdout == printed.stdout


def test_the_command_line_reports_every_problem_and_exits_2(tmp_path):
    document = json.loads(json.dumps(_document()))
    document["timeline"][1]["occurred_at"] = "2015-13-01"
    document.pop("title")
    (tmp_path / "past").mkdir()
    _write(tmp_path / "past" / "inc-7.json", document)
    (tmp_path / "past" / "broken.json").write_text("{", encoding="utf-8")
    _write(tmp_path / "past" / "good.json", _document())

    done = _cli(tmp_path, "import", "past/inc-7.json", "past/broken.json", "past/good.json")
    missing = _cli(tmp_path, "export", "INC-9")

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "past/inc-7.json: timeline[1].occurred_at: '2015-13-01' is not a date-time",
        "past/inc-7.json: title: is missing",
        "past/broken.json: is not JSON: Expecting property name enclosed in double quotes at "
        "line 1, column 2",
        "Nothing was imported (3 problems).",
    ]
    assert _cli(tmp_path, "export", "INC-1").returncode == 2
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: There is no incident INC-9.")
    assert missing.stdout == ""

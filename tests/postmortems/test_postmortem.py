"""Postmortem drafts: the context read from an incident, Markdown and HTML, templates, CLI.

The incidents are built the way people build them, by typing commands. The
golden files `tests/postmortems/golden/postmortem.md` and `.../postmortem.html`
hold the drafts of `realistic_incident`; after an intended change, regenerate
them and read the diff before keeping it:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/postmortems/test_postmortem.py -k golden
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import main
from bot.commands.capture import ChatMessage, MessageCapture
from bot.config import Settings
from bot.errors import UsageError
from bot.incidents.lifecycle import get_incident
from bot.postmortems import blameless, drafts, markdown_html, record
from bot.postmortems import context as draft_context
from bot.postmortems import render as rendering
from bot.postmortems.markdown_text import md, md_block
from bot.postmortems.render import render, render_draft
from bot.storage.models import Postmortem, PostmortemStatus, RunbookRun, RunbookStepRun
from tests.support.clock import START, FakeClock
from tests.support.people import Person

GOLDEN = Path(__file__).resolve().parent / "golden"
SEOUL = ZoneInfo("Asia/Seoul")
TITLE = "Checkout API returns 500s"


@pytest.fixture
def settings(engine: Engine) -> Settings:
    """Times shown in Seoul as well as UTC, as for a team working from there; no runbooks.

    Bob is an incident admin, so he can take the commander role over from Alice.
    """
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        timezone=SEOUL,
        runbook_dirs=(),
        admins=("bob",),
    )


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 25, hour, minute, tzinfo=UTC)


def add_runbook_runs(session_factory: sessionmaker[Session]) -> None:
    """Two runs as the runbook runner records them: one succeeded, one failed at a step."""
    with session_factory() as session:
        incident = get_incident(session, "INC-1")
        restart = RunbookRun(
            incident=incident,
            runbook="restart-checkout-pool",
            requested_by="bob",
            params={"service": "checkout", "token": "***"},
            status="succeeded",
            created_at=at(14, 24),
            started_at=at(14, 24),
            finished_at=at(14, 27),
        )
        restart.steps = [
            RunbookStepRun(
                position=0,
                name="Drain connections",
                status="succeeded",
                attempts=1,
                output="drained 96 connections\nok",
                started_at=at(14, 24),
                finished_at=at(14, 25),
            ),
            RunbookStepRun(
                position=1,
                name="Restart pool",
                status="succeeded",
                attempts=2,
                output="pool restarted",
                approved_by="alice",
                started_at=at(14, 25),
                finished_at=at(14, 27),
            ),
        ]
        failover = RunbookRun(
            incident=incident,
            runbook="failover-db",
            requested_by="alice",
            dry_run=True,
            status="failed",
            error="step 1 failed",
            created_at=at(14, 30),
            started_at=at(14, 30),
            finished_at=at(14, 31),
        )
        failover.steps = [
            RunbookStepRun(
                position=0,
                name="Check replica lag",
                status="failed",
                attempts=3,
                error="replica lag 42s > 5s | aborting",
                started_at=at(14, 30),
                finished_at=at(14, 31),
            ),
        ]
        session.add_all([restart, failover])
        session.commit()


def does(person: Person, text: str) -> None:
    """Type a command that must work."""
    reply = person.says(text)
    assert reply is None or reply.message.tone != "error", reply.message.text


def realistic_incident(
    alice: Person,
    bob: Person,
    capture: MessageCapture,
    session_factory: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    """INC-1, SEV2, from declaration to resolution; every step typed as people type it."""
    alice.says(f"declare sev2 {TITLE} service:checkout")  # 14:00 UTC
    bob.channel_id = alice.channel_id
    does(alice, "started --at 2026-11-25T13:40Z")
    does(alice, "detected --at 2026-11-25T13:52Z")
    clock.advance(minutes=2)
    does(alice, "role commander @me")
    does(alice, "role scribe @bob")
    clock.advance(minutes=3)
    does(alice, "note 결제 API 오류가 계속됨")
    clock.advance(minutes=4)
    does(bob, "note pool size | max 100, logs say <b>bold</b> *timeout*")
    capture.add(
        ChatMessage(
            channel_id=alice.channel_id or "",
            author="carol",
            text="db primary is at 100% cpu",
            posted_at=clock.advance(minutes=1) - timedelta(seconds=30),
            message_ref="1764079230.000100",
            permalink="https://example.slack.com/archives/C0001/p1764079230000100",
        ),
        actor="bob",
    )
    clock.advance(minutes=5)
    does(alice, "status identified")
    clock.advance(minutes=10)
    does(bob, "role commander @me")  # 14:25: alice hands over to bob
    clock.advance(minutes=3)
    does(bob, "note --at 2026-11-25T14:20Z rolled back to v41, no change")
    does(bob, "note we should have caught this in staging")
    clock.advance(minutes=7)
    does(bob, "status monitoring")  # 14:35: mitigated
    does(bob, "action Add an alert on pool saturation @bob due:2026-12-01 kind:detect")
    does(alice, "action Cap connections per pod @alice due:2026-12-04 kind:prevent")
    does(bob, "action Write a runbook for pool exhaustion kind:process")
    clock.advance(minutes=20)
    does(bob, "action done 3")
    does(bob, "resolve Restarted the pool and raised max connections to 200")
    add_runbook_runs(session_factory)
    clock.advance(minutes=5)  # 15:00: bob writes up what he could not log at the time
    does(bob, "impact --fraction 25%")
    does(bob, "note --at 2026-11-25T13:45Z --by nobody checkout error rate passes 20%")
    does(bob, "note --by @alice --at 2026-11-25T14:22Z alice drains the checkout pool")


def draft(
    session_factory: sessionmaker[Session],
    settings: Settings,
    *,
    template: str = "postmortem",
    fmt: str = "md",
    number: int = 1,
) -> drafts.Draft:
    with session_factory() as session:
        incident = get_incident(session, f"INC-{number}")
        result = drafts.draft(
            session, incident, settings, now=START + timedelta(days=1), template=template, fmt=fmt
        )
        session.commit()
        return result


def context(session_factory: sessionmaker[Session], settings: Settings, number: int = 1) -> dict:
    with session_factory() as session:
        return draft_context.build_context(
            session, get_incident(session, f"INC-{number}"), settings
        )


@pytest.fixture
def realistic(alice, bob, application, session_factory, clock) -> None:
    realistic_incident(alice, bob, application.capture, session_factory, clock)


def check_golden(name: str, content: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(content, encoding="utf-8", newline="\n")
    expected = path.read_text(encoding="utf-8")
    assert content == expected, f"{name} differs; UPDATE_GOLDEN=1 regenerates it"


# -- golden files --------------------------------------------------------------


@pytest.mark.usefixtures("realistic")
@pytest.mark.parametrize(("fmt", "name"), [("md", "postmortem.md"), ("html", "postmortem.html")])
def test_golden_draft(session_factory, settings, fmt, name):
    result = draft(session_factory, settings, fmt=fmt)

    assert result.filename == f"INC-1-postmortem.{fmt}"
    check_golden(name, result.content)


# -- what the context says -------------------------------------------------------


@pytest.mark.usefixtures("realistic")
def test_measures_say_what_they_count_and_impact_runs_from_start_to_mitigation(
    session_factory, settings
):
    found = context(session_factory, settings)

    measures = {m["name"]: (m["measures"], m["value"]) for m in found["measures"]}
    assert measures == {
        "time_to_detect": ("Impact started → Detected", "12m"),
        "time_to_declare": ("Impact started → Declared", "20m"),
        "time_to_acknowledge": ("Detected → Acknowledged", "10m"),
        "time_to_mitigate": ("Impact started → Mitigated", "55m"),
        "time_to_resolve": ("Impact started → Resolved", "1h 15m"),
        "impact_duration": ("Impact started → Mitigated", "55m"),
        "incident_duration": ("Declared → Resolved", "55m"),
    }
    impact = found["impact"]
    assert (impact["duration"], impact["fraction"], impact["bad_minutes"]) == ("55m", "25%", "13.8")
    assert impact["start"]["both"] == "2026-11-25 13:40 UTC (2026-11-25 22:40 Asia/Seoul)"
    assert impact["end"]["utc"] == "2026-11-25 14:35"
    assert impact["until_mitigated"]
    assert impact["note"] == "until mitigated: the end of impact is not recorded"


@pytest.mark.usefixtures("realistic")
def test_roles_keep_their_history_and_the_handover(session_factory, settings):
    found = context(session_factory, settings)

    assert [(r["role"], r["holder"], r["from"]["utc"]) for r in found["roles"]] == [
        ("commander", "alice", "2026-11-25 14:02"),
        ("commander", "bob", "2026-11-25 14:25"),
        ("scribe", "bob", "2026-11-25 14:02"),
    ]
    assert found["roles"][0]["until"]["utc"] == "2026-11-25 14:25"
    assert [(h["role"], h["from_holder"], h["to_holder"]) for h in found["handovers"]] == [
        ("commander", "alice", "bob")
    ]
    assert found["incident"]["authors"] == ["alice", "bob"]
    people = {p["name"]: (p["roles"], p["notes"], p["messages"]) for p in found["participants"]}
    assert people == {
        "alice": (["commander"], 1, 0),
        "bob": (["commander", "scribe"], 5, 0),
        "carol": ([], 0, 1),
    }


@pytest.mark.usefixtures("realistic")
def test_timeline_is_in_the_order_things_happened_with_chat_author_and_link(
    session_factory, settings
):
    found = context(session_factory, settings)

    moments = [entry["at"]["iso"] for entry in found["timeline"]]
    assert moments == sorted(moments)
    assert found["timeline"][0]["text"] == "Marked as started"
    chat = next(e for e in found["timeline"] if e["kind"] == "chat_message")
    assert (chat["who"], chat["done_by"], chat["recorded_by"]) == ("carol", "carol", "bob")
    assert chat["permalink"].startswith("https://example.slack.com/")
    late = next(e for e in found["timeline"] if e["text"].startswith("rolled back"))
    assert late["logged_late"] and late["recorded"]["utc"] == "2026-11-25 14:28"


@pytest.mark.usefixtures("realistic")
def test_ensure_postmortem_owner_is_the_commander_at_resolution_due_in_business_days(
    session_factory, settings
):
    with session_factory() as session:
        incident = get_incident(session, "INC-1")
        created = record.ensure_postmortem(session, incident, settings, START)
        again = record.ensure_postmortem(session, incident, settings, START)
        session.commit()
        assert again is created

    assert (created.status, created.owner) == (PostmortemStatus.DRAFT, "bob")
    # Resolved Wednesday 2026-11-25 (evening in Seoul): five working days later.
    assert created.due_date == date(2026, 12, 2)
    with session_factory() as session:
        assert len(session.scalars(select(Postmortem)).all()) == 1


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (date(2026, 11, 27), 1, date(2026, 11, 30)),  # Friday -> Monday
        (date(2026, 11, 28), 5, date(2026, 12, 4)),  # Saturday -> the next Friday
        (date(2026, 11, 25), 5, date(2026, 12, 2)),
    ],
)
def test_business_days_skip_weekends(start, days, due):
    assert record.add_business_days(start, days) == due


def test_owner_is_the_declarer_without_commander_and_due_waits_for_resolution(
    alice, session_factory, settings
):
    alice.says("declare Search is slow")

    with session_factory() as session:
        created = record.ensure_postmortem(session, get_incident(session, "INC-1"), settings, START)
        session.commit()
    assert (created.owner, created.due_date) == ("alice", None)

    alice.says("resolve")
    with session_factory() as session:
        updated = record.ensure_postmortem(session, get_incident(session, "INC-1"), settings, START)
        session.commit()
    assert updated.due_date == date(2026, 12, 2)


# -- templates -------------------------------------------------------------------------


@pytest.mark.usefixtures("realistic")
def test_a_user_template_wins_over_the_built_in_one(session_factory, settings, tmp_path):
    (tmp_path / "postmortem.md.j2").write_text(
        "# Ours: {{ incident.reference }} {{ incident.title | md }}\n", encoding="utf-8"
    )
    ours = dataclasses.replace(settings, postmortem_templates_dir=str(tmp_path))

    result = draft(session_factory, ours)

    assert result.content.startswith(f"# Ours: INC-1 {TITLE}\n")
    assert "## Blameless review" in result.content


@pytest.mark.usefixtures("realistic")
def test_the_executive_summary(session_factory, settings):
    result = draft(session_factory, settings, template="executive")

    text = result.content
    assert result.filename == "INC-1-postmortem-executive.md"
    assert text.startswith(f"# INC-1 executive summary: {TITLE}\n")
    assert (
        "- **Impact:** 55m, from 2026-11-25 13:40 UTC (2026-11-25 22:40 Asia/Seoul) until "
        "mitigated at 2026-11-25 14:35 UTC (2026-11-25 23:35 Asia/Seoul), 25% affected "
        "(13.8 bad minutes)"
    ) in text
    assert "| Time to declare | Impact started → Declared | 20m |" in text
    assert "3 action items, 2 open:" in text
    assert "## Timeline" not in text


@pytest.mark.usefixtures("realistic")
def test_unknown_template_names_the_ones_there_are(session_factory, settings):
    with pytest.raises(UsageError) as raised:
        render(context(session_factory, settings), template="../../etc/passwd")
    assert str(raised.value) == (
        "Unknown template `../../etc/passwd`. Templates: executive, postmortem."
    )


@pytest.mark.usefixtures("realistic")
@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("# {{ incident.reference }}\n\n{{ incident.title }\n", "broken.md.j2:3: unexpected '}'"),
        ("# {{ incident.reference }}\n{{ nothing_here }}\n", "broken.md.j2:2: 'nothing_here' is"),
        (
            "{% for a in action_items %}\n{{ a.no_such_field }}\n{% endfor %}\n",
            "broken.md.j2:2: 'dict object' has no attribute 'no_such_field'",
        ),
        ("{% include 'missing.md.j2' %}\n", "broken.md.j2:1: there is no template `missing"),
    ],
    ids=["syntax", "undefined", "undefined-attribute", "missing-include"],
)
def test_template_errors_say_file_and_line(session_factory, settings, tmp_path, source, problem):
    (tmp_path / "broken.md.j2").write_text(source, encoding="utf-8")

    with pytest.raises(UsageError) as raised:
        render(context(session_factory, settings), template="broken", templates_dir=tmp_path)

    message = str(raised.value)
    assert message.startswith(f"{tmp_path}/{problem}"), message
    assert "\n" not in message


@pytest.mark.usefixtures("realistic")
def test_errors_in_built_in_templates_are_named_from_the_project(
    session_factory, settings, tmp_path, monkeypatch
):
    (tmp_path / "postmortem.md.j2").write_text("# x\n\n\n{% if %}\n", encoding="utf-8")
    monkeypatch.setattr(rendering, "BUILTIN_TEMPLATES", tmp_path)
    rendering._environment.cache_clear()
    try:
        with pytest.raises(UsageError) as raised:
            render(context(session_factory, settings))
    finally:
        rendering._environment.cache_clear()

    assert (
        str(raised.value)
        == "templates/postmortem.md.j2:4: Expected an expression, got 'end of statement block'"
    )


def test_unknown_format_is_refused(alice, session_factory, settings):
    alice.says("declare Search is slow")
    with pytest.raises(UsageError, match="Unknown format `pdf`"):
        render(context(session_factory, settings), fmt="pdf")


# -- escaping ---------------------------------------------------------------------------


def test_md_escapes_what_markdown_would_act_on():
    assert md("a | b") == r"a \| b"
    assert md("line one\nline two\r\n\n  three") == "line one line two three"
    assert md("<b>bold</b> *x* _y_ `z` [l](u) ~~s~~ &amp; $1") == (
        r"\<b\>bold\</b\> \*x\* \_y\_ \`z\` \[l\](u) \~\~s\~\~ \&amp; \$1"
    )
    assert md("pool_size stays readable") == "pool_size stays readable"
    assert [md(s) for s in ("# title", "- item", "+ item", "> quote", "3. third", "===")] == [
        r"\# title",
        r"\- item",
        r"\+ item",
        r"\> quote",
        r"3\. third",
        r"\===",
    ]
    assert md(None) == "" and md("결제 API 오류가 계속됨") == "결제 API 오류가 계속됨"
    assert md("R&D &amp; &#38;") == r"R&D \&amp; \&#38;"


def test_md_block_keeps_paragraphs_and_line_breaks():
    text = "Checkout failed | for 20% of users\n# not a heading\n\n\n<b>second</b> paragraph\n"

    assert md_block(text) == (
        "Checkout failed \\| for 20% of users\\\n"
        "\\# not a heading\n\n"
        "\\<b\\>second\\</b\\> paragraph"
    )
    html = MarkdownIt("commonmark", {"html": False}).render(md_block(text))
    assert html == (
        "<p>Checkout failed | for 20% of users<br />\n# not a heading</p>\n"
        "<p>&lt;b&gt;second&lt;/b&gt; paragraph</p>\n"
    )


def _cells(html: str, needle: str) -> int:
    row = next(r for r in re.findall(r"<tr>.*?</tr>", html, re.DOTALL) if needle in r)
    return len(re.findall(r"<td[ >]", row))


@pytest.mark.usefixtures("realistic")
def test_a_pipe_in_a_note_stays_in_its_cell(session_factory, settings):
    found = context(session_factory, settings)
    text = render(found)
    html = render(found, fmt="html")

    row = next(line for line in text.splitlines() if "pool size" in line)
    header = next(line for line in text.splitlines() if line.startswith("| UTC |"))
    unescaped = re.compile(r"(?<!\\)\|")
    assert len(unescaped.findall(row)) == len(unescaped.findall(header)) == 6
    assert _cells(html, "pool size") == 5
    assert "pool size | max 100, logs say &lt;b&gt;bold&lt;/b&gt; *timeout*" in html


def test_html_in_a_title_is_inert_in_html_and_literal_in_markdown(alice, session_factory, settings):
    alice.says("declare sev1 <script>alert(1)</script> checkout down")

    found = context(session_factory, settings)
    html = render(found, fmt="html")
    text = render(found)

    assert "<script" not in html
    assert "<title>INC-1: &lt;script&gt;alert(1)&lt;/script&gt; checkout down (postmortem)" in html
    assert "<h1>INC-1 postmortem: &lt;script&gt;alert(1)&lt;/script&gt; checkout down</h1>" in html
    assert text.startswith(r"# INC-1 postmortem: \<script\>alert(1)\</script\> checkout down")
    # Even a renderer that lets raw HTML through (as many Markdown viewers do) shows it as text.
    assert "<script" not in MarkdownIt("commonmark", {"html": True}).render(text)


# -- HTML tables: written by markdown_html, as markdown-it writes them ---------------------

MARKDOWN_IT = MarkdownIt("commonmark", {"html": False}).enable("table")

TABLES = {
    "plain": "| a | b |\n| --- | --- |\n| 1 | two words |\n",
    "alignments": "| l | c | r | n |\n|:---|:---:|---:|---|\n| 1 | 2 | 3 | 4 |\n",
    "loose delimiter row": "a | b\n:-: | -:\nc | d\n",
    "escaped pipes": "| a |\n| - |\n| x \\| y \\\\| z |\n| \\|start | end\\| |\n",
    "escapes": "| a |\n| - |\n| \\<b\\>bold\\</b\\> \\*x\\* \\_y\\_ \\# \\\\ \\& \\a \\ |\n",
    "inline markup": (
        "| a | b |\n|---|---|\n| *em* **strong** _u_ | `co|de` ``x`` |\n"
        '| [link](https://example.com/a_b?c=1&d=2) | ![image](i.png "t") |\n'
        "| <https://example.com> <b>raw</b> | &amp; &#38; & &copy; x_y |\n"
        "| ~~strike~~ [ref] [open | close] |\n"
    ),
    "script": "| a |\n| - |\n| <script>alert(1)</script> \\<script\\> |\n",
    "quotes and unicode": "| \"a\" | 'b' |\n| - | - |\n| 결제 “c” | \u3000x\u00a0 |\n",
    "ragged rows": "| a | b | c |\n| - | - | - |\n| 1 |\n| 1 | 2 | 3 | 4 |\n||\n| | x | |\n",
    "header only": "| a | b |\n| - | - |\n\nafter\n",
    "ended by blocks": (
        "| a |\n| - |\n| 1 |\n# heading\n\n| a |\n| - |\n| 1 |\n- item\n\n"
        "| a |\n| - |\n| 1 |\n> quote\n\n| a |\n| - |\n| 1 |\n```\ncode\n```\n\n"
        "| a |\n| - |\n| 1 |\n***\n\n| a |\n| - |\n| 1 |\n    | indented |\n\n"
        "| a |\n| - |\n| 1 |\n2. item\n\n| a |\n| - |\n| 1 |\n<div>\n"
    ),
    "after a paragraph": "text\n| a |\n| - |\n| 1 |\n",
    "in a tight list": (
        "- item\n  | a | b |\n  | - | - |\n  | *1* | 2 |\n- | c |\n  | - |\n  | 3 |\n"
    ),
    "in a quote": "> | a | b |\n> |---|--:|\n> | `1` | 2 |\n",
    "reference defined after": (
        "| a |\n| - |\n| [ref] and [other][ref] |\n\n[ref]: https://example.com\n"
    ),
    "not tables": "| a |\n| - | - |\n\n| a |\n|---||---|\n\n    | a |\n    | - |\n\n- | a |\n",
}


@pytest.mark.parametrize("markdown", TABLES.values(), ids=TABLES.keys())
def test_html_tables_are_written_as_markdown_it_writes_them(markdown):
    assert markdown_html.MARKDOWN.render(markdown) == MARKDOWN_IT.render(markdown)


def test_html_tables_of_many_kinds_of_rows_are_written_as_markdown_it_writes_them():
    pieces = [
        *("word", "two words", "x_y", "42%", "—", "결제", "\u3000", " ", "\t"),
        *(md(text) for text in ("a | b", "<b>x</b>", "*y*", "_z_", "`c`", "&amp;", "1. x", "# h")),
        *("\\|", "\\\\|", "\\", "\\a", "*", "_", "`", "``", "[", "]", "![", "<", "&", "~"),
        *("[m](https://e.com/p1)", "_(added by bob)_", "<https://e.com>", "&#38;", "**b**"),
    ]
    generator = random.Random(7)

    def row(cells: int) -> str:
        text = " | ".join(
            "".join(generator.choice(pieces) for _ in range(generator.randint(0, 4)))
            for _ in range(cells)
        )
        return generator.choice(["| {} |", "{}", "| {}", "{} |"]).format(text)

    for _ in range(200):
        columns = generator.randint(1, 4)
        delimiter = "|".join(generator.choice(["---", ":--", "--:", ":-:"]) for _ in range(columns))
        rows = [
            row(generator.choice([columns, columns, columns - 1, columns + 1])) for _ in range(8)
        ]
        markdown = "\n".join([row(columns), f"|{delimiter}|", *rows]) + "\n"
        assert markdown_html.MARKDOWN.render(markdown) == MARKDOWN_IT.render(markdown), markdown


def test_plain_table_cells_need_no_inline_rule_markdown_it_has_on():
    """Cells without `_INLINE_MARKUP` are written as text: no inline rule may act on them."""
    options = markdown_html.MARKDOWN.options
    assert not options["typographer"] and not options["linkify"] and not options["html"]
    assert markdown_html.MARKDOWN.inline.ruler.get_active_rules() == [
        "text", "newline", "escape", "backticks", "emphasis", "link", "image", "autolink",
        "html_inline", "entity",
    ]  # fmt: skip
    assert markdown_html.MARKDOWN.core.ruler.get_active_rules() == [
        "normalize", "block", "inline", "text_join",
    ]  # fmt: skip


@pytest.mark.usefixtures("realistic")
def test_a_user_template_renders_to_html_with_its_tables(session_factory, settings, tmp_path):
    (tmp_path / "summary.md.j2").write_text(
        "# {{ incident.reference }}\n\n| When | What |\n|:---:|---:|\n"
        "{% for e in timeline %}| {{ e.at.utc }} | {{ e.text | md }} |\n{% endfor %}",
        encoding="utf-8",
    )
    found = context(session_factory, settings)

    body = render(found, template="summary", templates_dir=tmp_path)
    html = render(found, template="summary", fmt="html", templates_dir=tmp_path)

    assert body.startswith("# INC-1\n\n| When | What |\n|:---:|---:|\n| 2026-11-25 13:40 |")
    table = MARKDOWN_IT.render(body.split("\n\n<!-- blameless-review:start -->")[0]).strip()
    assert table in html
    assert '<td style="text-align:right">pool size | max 100, logs say &lt;b&gt;bold' in html


def test_built_in_blameless_rules_have_a_keyword_in_every_match():
    """The linter runs a rule only on text holding one of its keywords: check that every
    pattern of the built-in rules has one in each match (a literal run holding a keyword,
    in a group, an alternative of all branches or a repeat of at least one)."""
    parse, constants = pytest.importorskip("re._parser"), pytest.importorskip("re._constants")
    repeats = (constants.MAX_REPEAT, constants.MIN_REPEAT, constants.POSSESSIVE_REPEAT)

    def has_keyword(items, keywords) -> bool:
        run = ""
        for op, value in items:
            if op is constants.LITERAL and value < 128:
                run += chr(value).lower()
                continue
            if any(keyword in run for keyword in keywords):
                return True
            run = ""
            if (
                (op is constants.SUBPATTERN and has_keyword(value[-1], keywords))
                or (op in repeats and value[0] >= 1 and has_keyword(value[2], keywords))
                or (op is constants.BRANCH and all(has_keyword(b, keywords) for b in value[1]))
            ):
                return True
        return any(keyword in run for keyword in keywords)

    ruleset = blameless._ruleset("en", None)
    for rule in ruleset.rules:
        assert rule.keywords, rule.id
        for pattern in rule.patterns:
            assert has_keyword(parse.parse(pattern.pattern, pattern.flags), rule.keywords), (
                f"{rule.id}: {pattern.pattern}"
            )


@pytest.mark.usefixtures("realistic")
def test_linting_only_where_keywords_are_finds_what_linting_everything_finds(
    session_factory, settings, monkeypatch
):
    draft_text = render(context(session_factory, settings))
    notes = "\n".join(
        f"| {n} | {text} |"
        for n, text in enumerate(
            [
                "Bob forgot to drain the pool; we should have caught it",
                "human error, error rate up, Dave's mistake, failed over",
                "engineers failed to notice; obviously Alice ignored the alerts",
                # Dotted and dotless i, long s: case-insensitive matches with no keyword
                # casefolded, in a cell with one (error).
                "\u0130gnored the alert, \u0131gnored the alerts, \u017fhould have \u017feen"
                ", error",
                "`we should have known` https://example.com/should-have-known",
            ]
        )
    )
    text = (
        f"{draft_text}\n## Action items\n\n| # | Action |\n|---|---|\n{notes}\n- be more careful\n"
    )
    found = blameless.lint(text)
    everything = blameless._ruleset("en", None)
    everything = dataclasses.replace(
        everything,
        shortcut=None,
        rules=tuple(dataclasses.replace(r, keyword_search=None) for r in everything.rules),
    )
    monkeypatch.setattr(blameless, "_ruleset", lambda language, rules_dir: everything)

    assert len(found) >= 10
    assert blameless.lint(text) == found


# -- an incident with almost nothing in it --------------------------------------------------


def test_an_empty_incident_renders_every_section_without_gaps(alice, session_factory, settings):
    alice.says("declare Search is slow")
    alice.says("resolve")

    text = draft(session_factory, settings).content
    html = draft(session_factory, settings, fmt="html").content

    for output in (text, html):
        assert "None" not in output
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if re.fullmatch(r"\|( :?--- \|)+", line):
            assert lines[index + 1].startswith("| "), f"table without rows: {lines[index - 1]}"
    for prompt in (
        "_What happened, to whom, and for how long?",
        "_What set it off?",
        "_What brought the service back",
        "_No runbook was run during this incident._",
        "_No action items yet.",
        "_Nobody took a role during this incident._",
        "Time to detect | Impact started → Detected | _not known (impact started and detected",
    ):
        assert prompt in text
    for line in (
        "- **Duration of impact:** not known yet (impact started not recorded)",
        "- **From:** _not recorded_ (`/incident started --at TIME` records it)",
        "- **Share affected:** _not recorded_ (`/incident impact --fraction N%` records it)",
        "- **Bad minutes:** _not known (impact started not recorded)_",
        "| Incident duration | Declared → Resolved | 0m |",
    ):
        assert line in text
    assert "The blameless review found nothing to flag." in text
    assert "<td>" in html and "<table>" in html


def test_an_open_incident_says_the_impact_is_not_mitigated_yet(alice, session_factory, settings):
    alice.says("declare Search is slow")

    text = draft(session_factory, settings).content

    assert (
        "- **Duration of impact:** not known yet "
        "(impact started, impact ended and mitigated not recorded)"
    ) in text
    assert "- **Until:** _not recorded yet_" in text
    assert "review due" not in text


# -- determinism and the review -------------------------------------------------------------


@pytest.mark.usefixtures("realistic")
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_rendering_twice_gives_the_same_bytes(session_factory, settings, fmt):
    first = draft(session_factory, settings, fmt=fmt).content
    second = draft(session_factory, settings, fmt=fmt).content

    assert first.encode("utf-8") == second.encode("utf-8")


@pytest.mark.usefixtures("realistic")
def test_the_blameless_review_flags_the_notes_at_their_line_in_the_draft(session_factory, settings):
    result = render_draft(context(session_factory, settings))

    assert [(f.rule, f.phrase) for f in result.findings] == [("should-have", "should have")]
    line = result.content.splitlines()[result.findings[0].line - 1]
    assert "we should have caught this in staging" in line
    assert result.content.rstrip().endswith("<!-- blameless-review:end -->")


@pytest.mark.usefixtures("realistic")
def test_a_phrase_hidden_by_escaping_in_the_draft_is_still_found_in_the_raw_note(
    bob, session_factory, settings
):
    bob.says("note INC-1 `deploy` Dave forgot to drain the `pool`")

    result = render_draft(context(session_factory, settings))

    flagged = [f for f in result.findings if f.rule == "person-as-subject"]
    assert [f.phrase for f in flagged] == ["Dave forgot"]
    assert "Dave forgot" in result.content.splitlines()[flagged[0].line - 1]


# -- the command line ------------------------------------------------------------------------


def invoke(settings: Settings, *args: str):
    environment = {
        "DATABASE_URL": settings.database_url,
        "INCIDENT_TIMEZONE": "Asia/Seoul",
        "POSTMORTEM_TEMPLATES_DIR": "",
    }
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)


@pytest.mark.usefixtures("realistic")
def test_cli_prints_the_draft_and_creates_the_postmortem(session_factory, settings):
    result = invoke(settings, "postmortem", "INC-1")

    assert result.exit_code == 0, result.output
    assert result.output == (GOLDEN / "postmortem.md").read_text(encoding="utf-8")
    with session_factory() as session:
        stored = session.scalars(select(Postmortem)).one()
        assert (stored.owner, stored.due_date) == ("bob", date(2026, 12, 2))


@pytest.mark.usefixtures("realistic")
def test_cli_writes_html_to_a_file_and_prints_its_path(settings, tmp_path):
    target = tmp_path / "INC-1.html"

    result = invoke(settings, "postmortem", "generate", "inc-1", "-o", str(target))

    assert result.exit_code == 0, result.output
    assert result.output == f"{target}\n"
    assert target.read_text(encoding="utf-8") == (GOLDEN / "postmortem.html").read_text(
        encoding="utf-8"
    )


@pytest.mark.usefixtures("realistic")
def test_cli_executive_markdown_to_a_file(settings, tmp_path):
    target = tmp_path / "summary.md"

    result = invoke(
        settings, "postmortem", "INC-1", "--template", "executive", "--format", "md", "-o", target
    )

    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8").startswith("# INC-1 executive summary:")


@pytest.mark.usefixtures("realistic")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["INC-9"], "error: There is no incident INC-9."),
        (["INC-1", "--template", "nope"], "error: Unknown template `nope`."),
        (["INC-1", "--format", "pdf"], "error: Unknown format `pdf`; use md or html."),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(settings, args, message):
    result = invoke(settings, "postmortem", *args)

    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_cli_lint_still_works_beside_incident_references(settings, tmp_path):
    draft_file = tmp_path / "draft.md"
    draft_file.write_text("The outage was caused by human error.\n", encoding="utf-8")

    result = invoke(settings, "postmortem", "lint", str(draft_file))

    assert result.exit_code == 1
    assert "human error" in result.output

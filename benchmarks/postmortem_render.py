"""How long a postmortem draft takes for a long incident: 10,000 timeline events.

Builds the incident in a temporary SQLite database, then times building the
template context and rendering Markdown and HTML (each with the blameless
review). The target is under one second for each.

    .venv/bin/python benchmarks/postmortem_render.py [EVENTS]
    .venv/bin/python benchmarks/postmortem_render.py --quick   # 200 events: a check that it runs
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from bot.config import Settings
from bot.incidents.lifecycle import change_status, declare, get_incident
from bot.postmortems.context import build_context
from bot.postmortems.markdown_html import MARKDOWN
from bot.postmortems.render import _environment, _lint, render
from bot.storage import database
from bot.storage.models import ActionItem, RoleAssignment, Status, TimelineEvent

T = TypeVar("T")
EVENTS = 10_000
QUICK_EVENTS = 200
TARGET_SECONDS = 1.0
START = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
TEXTS = (
    "checkout p99 latency is {n} ms, pool at {n}% | retrying",
    "결제 API 오류가 계속됨 ({n})",
    "restarted pod checkout-{n} <b>again</b>, *no change*",
    "error rate back to {n} per minute after the rollback",
)


def build(path: Path, count: int, settings: Settings) -> None:
    engine = database.make_engine(f"sqlite:///{path}")
    database.upgrade(engine)
    with database.make_session_factory(engine)() as session:
        incident = declare(
            session,
            settings=settings,
            title="Checkout API returns 500s",
            actor="alice",
            now=START,
            severity="SEV2",
            service="checkout",
            started_at=START - timedelta(minutes=20),
        )
        people = ("alice", "bob", "carol", "dave")
        for index, holder in enumerate(people):
            session.add(
                RoleAssignment(
                    incident=incident,
                    role="commander",
                    holder=holder,
                    assigned_by=holder,
                    started_at=START + timedelta(hours=index),
                    ended_at=START + timedelta(hours=index + 1) if index < 3 else None,
                    ended_by=people[index + 1] if index < 3 else None,
                )
            )
        for index in range(20):
            session.add(
                ActionItem(
                    incident=incident,
                    text=f"Follow-up {index}: add an alert | with a runbook",
                    owner=people[index % 4],
                    kind="detect",
                    created_by="alice",
                    created_at=START,
                )
            )
        session.flush()
        rows = []
        for n in range(count):
            moment = START + timedelta(seconds=7 * n)
            chat = n % 3 == 0
            rows.append(
                {
                    "incident_id": incident.id,
                    "kind": "chat_message" if chat else "note",
                    "occurred_at": moment,
                    "recorded_at": moment,
                    "actor": people[n % 4],
                    "text": TEXTS[n % len(TEXTS)].format(n=n),
                    "data": (
                        {
                            "author": people[(n + 1) % 4],
                            "permalink": f"https://example.slack.com/archives/C1/p{n}",
                        }
                        if chat
                        else {}
                    ),
                }
            )
        session.execute(insert(TimelineEvent), rows)
        end = START + timedelta(seconds=7 * count + 60)
        change_status(session, incident=incident, to=Status.RESOLVED, actor="dave", now=end)
        session.commit()
    engine.dispose()


def timed(label: str, action: Callable[[], T], target: float | None = None) -> T:
    began = time.perf_counter()
    result = action()
    took = time.perf_counter() - began
    floor = f"   target: under {target:g} s" if target is not None else ""
    print(f"{label:<18} {took:6.3f} s{floor}")
    return result


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("events", nargs="?", type=int, help=f"timeline events (default {EVENTS:,})")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_EVENTS} events: shows that the benchmark runs, in a few seconds",
    )
    return parser.parse_args()


def main() -> None:
    options = arguments()
    count = options.events or (QUICK_EVENTS if options.quick else EVENTS)
    if options.quick:
        print(f"quick run: {count} events, far below the target's size; figures are indicative")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "benchmark.db"
        settings = Settings(database_url=f"sqlite:///{path}", timezone=ZoneInfo("Asia/Seoul"))
        build(path, count, settings)
        engine = database.make_engine(settings.database_url)
        with database.make_session_factory(engine)() as session:
            incident = get_incident(session, "INC-1")
            print(f"INC-1 with {count:,} timeline events")
            context = timed(
                "build context",
                lambda: build_context(session, incident, settings),
                TARGET_SECONDS,
            )
        engine.dispose()
    markdown = timed("render markdown", lambda: render(context, fmt="md"), TARGET_SECONDS)
    html = timed("render html", lambda: render(context, fmt="html"), TARGET_SECONDS)
    print(f"markdown {len(markdown):,} characters, html {len(html):,} characters")
    print("where the time goes:")
    template = _environment(None).get_template("postmortem.md.j2")
    body = timed("  template", lambda: template.render(context))
    timed("  blameless lint", lambda: _lint(body))
    timed("  markdown-it", lambda: MARKDOWN.render(body))


if __name__ == "__main__":
    main()

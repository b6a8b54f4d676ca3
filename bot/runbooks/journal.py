"""What a run writes down besides its own rows: its end, its timeline events, its chat report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.errors import NotFound
from bot.incidents.timeline import record_event
from bot.storage import outbox
from bot.storage.models import EventKind, RunbookRun, RunStatus
from bot.storage.outbox import RunReport

BOT = "incident-bot"  # the actor of what the engine records by itself


def get_run(session: Session, run_id: int) -> RunbookRun:
    """The run with this number, or a message that says how to find one."""
    run = session.get(RunbookRun, run_id) if 0 < run_id <= 2**31 - 1 else None
    if run is None:
        raise NotFound(f"There is no runbook run #{run_id}. `runbook status` lists them.")
    return run


class RunJournal:
    """Records a run's progress on its incident and keeps its chat report up to date."""

    def __init__(self, *, clock: Clock, deliver: Callable[[int], object]) -> None:
        self.clock = clock
        self.deliver = deliver  # send an incident's pending chat work now

    def finish(
        self, session: Session, run: RunbookRun, status: RunStatus, error: str | None
    ) -> None:
        """End the run: its pending steps are skipped (or cancelled), and it says so."""
        now = self.clock()
        run.status, run.error, run.finished_at = status, error, now
        for step in run.steps:
            if step.status in (RunStatus.PENDING, RunStatus.WAITING_APPROVAL):
                step.status = RunStatus.SKIPPED if status != RunStatus.CANCELLED else status
        took = f" in {(now - run.started_at).total_seconds():.1f} s" if run.started_at else ""
        self.note(
            session,
            run,
            EventKind.RUNBOOK_FINISHED,
            f"Runbook {run.runbook} (run #{run.id}) {status}{took}"
            + (f": {error}" if error else ""),
            {"status": status.value},
        )
        self.report(session, run)

    def note(
        self, session: Session, run: RunbookRun, kind: EventKind, text: str, data: dict[str, Any]
    ) -> None:
        """An event of the engine's own on the run's incident timeline."""
        record_event(
            session,
            incident=run.incident,
            kind=kind,
            actor=BOT,
            text=text,
            now=self.clock(),
            data={"run_id": run.id, **data},
        )

    def show(self, session: Session, run: RunbookRun) -> None:
        """Commit, and bring the run's chat report up to date now."""
        self.report(session, run)
        session.commit()
        self.deliver(run.incident_id)

    def report(self, session: Session, run: RunbookRun) -> None:
        """Ask the chat to post or update the run's report, in the caller's transaction."""
        outbox.enqueue(
            session,
            incident=run.incident,
            work=RunReport(run_id=run.id),
            now=self.clock(),
        )

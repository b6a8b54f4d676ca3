"""The chat messages about runbooks: the catalog, and the one report that follows each run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from bot.chat.port import Action, Message, Table
from bot.runbooks.discovery import Catalog
from bot.storage.models import ACTIVE_RUN_STATUSES, RunbookRun, RunbookStepRun, RunStatus
from bot.times import format_time

OUTPUT_LINES_SHOWN = 12
MARKS = {
    RunStatus.PENDING: "·",
    RunStatus.RUNNING: "▶",
    RunStatus.WAITING_APPROVAL: "⏸",
    RunStatus.SUCCEEDED: "✓",
    RunStatus.FAILED: "✗",
    RunStatus.SKIPPED: "↷",
    RunStatus.CANCELLED: "■",
    RunStatus.TIMED_OUT: "⏱",
    RunStatus.INTERRUPTED: "!",
}


def catalog_message(catalog: Catalog, command_name: str) -> Message:
    """The runbooks that can be run, with how to run each."""
    if not catalog.runbooks:
        return Message(text="No runbooks are installed yet.")
    rows = tuple((spec.name, spec.summary, spec.usage()) for spec in catalog.runbooks.values())
    lines = (
        (f"{len(catalog.problems)} runbook file problem(s): `incident-bot runbooks check`.",)
        if catalog.problems
        else ()
    )
    return Message(
        text=f"{len(rows)} runbook(s)",
        title="Runbooks",
        table=Table(columns=("Runbook", "What it does", f"{command_name} ..."), rows=rows),
        lines=lines,
    )


def _step_line(step: RunbookStepRun, tz: tzinfo) -> str:
    line = f"{MARKS.get(RunStatus(step.status), '?')} {step.name}: {step.status}"
    if step.status == RunStatus.WAITING_APPROVAL:
        line += (
            f" (approval, expires {format_time(step.expires_at, tz)})"
            if step.expires_at
            else " (a person marks it done or failed)"
        )
    elif step.started_at and step.finished_at:
        line += f" in {(step.finished_at - step.started_at).total_seconds():.1f} s"
    if step.attempts > 1:
        line += f", {step.attempts} attempts"
    if step.error and step.status != RunStatus.SUCCEEDED:
        line += f" — {step.error}"
    return line


def run_report(run: RunbookRun, tz: tzinfo) -> Message:
    """Where a run stands: each step, the latest output, and what people can do now."""
    mode = " (dry run)" if run.dry_run else ""
    title = f"Runbook {run.runbook}{mode}, run #{run.id}: {run.status}"
    lines = [_step_line(step, tz) for step in run.steps]
    latest = next((s for s in reversed(run.steps) if s.output.strip()), None)
    if latest is not None:
        tail = latest.output.rstrip("\n").split("\n")[-OUTPUT_LINES_SHOWN:]
        lines += [f"Output of {latest.name}:", *(f"  {line}" for line in tail)]
    if run.error:
        lines.append(f"Ended: {run.error}")
    return Message(
        text=title,
        title=title,
        lines=tuple(lines),
        actions=_actions(run),
        tone="error" if run.status in (RunStatus.FAILED, RunStatus.TIMED_OUT) else "info",
    )


def _actions(run: RunbookRun) -> tuple[Action, ...]:
    if run.status not in ACTIVE_RUN_STATUSES:
        return ()
    waiting = next((s for s in run.steps if s.status == RunStatus.WAITING_APPROVAL), None)
    actions: list[Action] = []
    if waiting is not None and waiting.expires_at is not None:
        actions += [
            Action("Approve", f"approve {run.id}", style="primary"),
            Action("Deny", f"deny {run.id}", style="danger"),
        ]
    elif waiting is not None:
        actions += [
            Action("Done", f"runbook done {run.id}", style="primary"),
            Action("Failed", f"runbook failed {run.id}", style="danger"),
        ]
    actions.append(Action("Cancel run", f"runbook cancel {run.id}", style="danger"))
    return tuple(actions)


def runs_message(runs: Sequence[RunbookRun], tz: tzinfo) -> Message:
    """The runs of an incident, newest last."""
    if not runs:
        return Message(text="No runbook has run for this incident yet.")
    rows = tuple(
        (
            f"#{run.id}",
            run.runbook + (" (dry run)" if run.dry_run else ""),
            run.status,
            run.requested_by,
            format_time(run.started_at or run.created_at, tz),
        )
        for run in runs
    )
    return Message(
        text=f"{len(rows)} runbook run(s)",
        title="Runbook runs",
        table=Table(columns=("Run", "Runbook", "Status", "Started by", "Started"), rows=rows),
    )

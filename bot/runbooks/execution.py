"""Executing one runbook run: its steps in order, in the run's worker process.

Each step's state is committed before and after it runs, and no transaction
is held while a step runs or a person is awaited, so the database always says
where the run is (which is what lets the engine recover it after a restart).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.incidents.timeline import record_event
from bot.runbooks.conditions import condition_holds
from bot.runbooks.journal import RunJournal, get_run
from bot.runbooks.live import Activity, Live
from bot.runbooks.process import RunWorker, StepOutcome, StepRequest
from bot.runbooks.redaction import Redactor
from bot.runbooks.spec import RunbookSpec, StepSpec
from bot.storage.models import EventKind, Incident, RunbookRun, RunbookStepRun, RunStatus

OUTPUT_REFRESH_SECONDS = 2.0
DECISION_POLL_SECONDS = 0.5
OUTPUT_CAP = 64_000
STATUS_OF = {
    "succeeded": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "timed_out": RunStatus.TIMED_OUT,
    "cancelled": RunStatus.CANCELLED,
    "crashed": RunStatus.FAILED,
}


class Stopping(Exception):
    """The bot stops, or another replica took the run: leave it as the database has it."""


@dataclass(frozen=True)
class ExecutionServices:
    """What executing a run needs from the bot around it."""

    session_factory: sessionmaker[Session]
    journal: RunJournal
    activity: Activity
    clock: Clock
    stopping: threading.Event  # set when the bot shuts down
    artifacts_root: Path
    http_allow: tuple[str, ...]  # internal hosts ctx.http may reach (RUNBOOK_HTTP_ALLOW)
    memory_limit_mb: int | None  # of each step's process (RUNBOOK_MEMORY_LIMIT_MB)
    cpu_seconds: int | None  # of each step (RUNBOOK_CPU_SECONDS)


class RunExecution:
    """Runs the steps of one run, from where the database says it is."""

    def __init__(
        self, services: ExecutionServices, run_id: int, live: Live, spec: RunbookSpec
    ) -> None:
        self.services = services
        self.run_id = run_id
        self.live = live
        self.spec = spec
        self.redactor = Redactor(live.secrets.values())
        self.outputs: dict[str, Any] = {}  # step name -> what it returned
        self.deadline: datetime | None = None

    def execute(self) -> None:
        services, journal = self.services, self.services.journal
        with services.session_factory() as session:
            run = get_run(session, self.run_id)
            if run.started_at is None:
                run.started_at = services.clock()
            run.status = RunStatus.RUNNING
            session.commit()
        if self.spec.timeout_seconds:
            self.deadline = run.started_at + timedelta(seconds=self.spec.timeout_seconds)
        for spec_step in self.spec.steps:
            with services.session_factory() as session:
                run = get_run(session, self.run_id)
                step = next(s for s in run.steps if s.name == spec_step.name)
                if step.status == RunStatus.SUCCEEDED:
                    self.outputs[step.name] = step.result
                    continue
                if step.status == RunStatus.SKIPPED:
                    continue
                ending = self._step(session, run, step, spec_step)
                if ending is not None:
                    status, error = ending
                    if status in (RunStatus.FAILED, RunStatus.TIMED_OUT) and self.spec.on_failure:
                        self._rollback(session, run, step, error or "")
                    journal.finish(session, run, status, error)
                    session.commit()
                    return
                self.outputs[step.name] = step.result
        with services.session_factory() as session:
            journal.finish(session, get_run(session, self.run_id), RunStatus.SUCCEEDED, None)
            session.commit()

    def _leaving(self) -> bool:
        """The bot is stopping, or another replica took the run: leave it as it is."""
        return self.services.stopping.is_set() or self.live.lost.is_set()

    def _step(
        self, session: Session, run: RunbookRun, step: RunbookStepRun, spec_step: StepSpec
    ) -> tuple[RunStatus, str | None] | None:
        """Run one step to its end; returns how the run ends, or None to go on."""
        if self._leaving():
            raise Stopping
        if self.live.cancel.is_set():
            return RunStatus.CANCELLED, None
        if spec_step.when and not condition_holds(spec_step.when, run.params):
            self._close_step(session, run, step, RunStatus.SKIPPED, f"skipped: {spec_step.when}")
            return None
        if spec_step.approval is not None or spec_step.manual:
            decision = self._wait_for_person(session, run, step, spec_step)
            if decision in ("denied", "expired", "failed", "cancelled"):
                status = RunStatus.CANCELLED if decision == "cancelled" else RunStatus.FAILED
                self._close_step(session, run, step, status, decision)
                return status, f"step {step.name} {decision}"
            if spec_step.manual:
                self._close_step(session, run, step, RunStatus.SUCCEEDED, "done")
                return None
        outcome = self._attempts(session, run, step, spec_step)
        status = STATUS_OF[outcome.status]
        step.result = outcome.result if outcome.status == "succeeded" else None
        self._close_step(session, run, step, status, outcome.error)
        if status != RunStatus.SUCCEEDED:
            return status, f"step {step.name}: {outcome.error or outcome.status}"
        return None

    def _attempts(
        self, session: Session, run: RunbookRun, step: RunbookStepRun, spec_step: StepSpec
    ) -> StepOutcome:
        """Run the step as often as its retry rule allows; time-outs count as failures."""
        retry = spec_step.retry
        attempts = retry.attempts if retry else 1
        delay = retry.delay_seconds if retry else 0.0
        outcome: StepOutcome | None = None
        prefix = step.output  # what earlier attempts (or a run before a restart) printed
        for attempt in range(1, attempts + 1):
            step.status, step.attempts = RunStatus.RUNNING, attempt
            step.started_at = step.started_at or self.services.clock()
            session.commit()
            outcome = self._process(session, run, spec_step, step_id=step.id, prefix=prefix)
            if self._leaving():
                raise Stopping
            step.output = cap(prefix + outcome.output)
            if outcome.status in ("succeeded", "cancelled") or attempt == attempts:
                break
            if self.deadline is not None and self.services.clock() >= self.deadline:
                break
            prefix = cap(f"{step.output}[attempt {attempt} {outcome.status}: {outcome.error}]\n")
            step.output = prefix
            session.commit()
            if self.live.cancel.wait(delay):
                break
            delay *= retry.backoff if retry else 1.0
        assert outcome is not None
        return outcome

    def _process(
        self,
        session: Session,
        run: RunbookRun,
        spec_step: StepSpec,
        *,
        step_id: int,
        prefix: str,
        method: str | None = None,
        failure: dict[str, str] | None = None,
    ) -> StepOutcome:
        """One call in the run's worker process, with no transaction held meanwhile."""
        live = self.live
        remaining = None
        if self.deadline is not None:
            remaining = max((self.deadline - self.services.clock()).total_seconds(), 0.001)
        timeouts = [t for t in (spec_step.timeout_seconds, remaining) if t]
        request = StepRequest(
            path=str(self.spec.path),
            class_name=self.spec.class_name,
            method=method or spec_step.name,
            params={k: v for k, v in run.params.items() if k not in live.secrets},
            secret_names=sorted(live.secrets),
            incident=_incident_view(run.incident),
            outputs=self.outputs,
            dry_run=run.dry_run,
            artifacts_dir=str(self._artifacts_dir(run)),
            failure=failure,
            http_allow=self.services.http_allow,
            memory_limit_mb=self.services.memory_limit_mb,
            cpu_seconds=self.services.cpu_seconds,
        )
        reporter = Reporter(self.services, run.id, run.incident_id, step_id, prefix)
        session.commit()  # hold no transaction while the step runs: its output is written
        if live.worker is None:
            live.worker = RunWorker(secrets=live.secrets)
        return live.worker.step(
            request,
            timeout=min(timeouts) if timeouts else None,
            cancel=live.cancel,
            on_message=reporter.message,
            output_cap=OUTPUT_CAP,
        )

    def _artifacts_dir(self, run: RunbookRun) -> Path:
        return self.services.artifacts_root / run.incident.reference / f"run-{run.id}"

    def _wait_for_person(
        self, session: Session, run: RunbookRun, step: RunbookStepRun, spec_step: StepSpec
    ) -> str:
        """Wait (persisted) until someone decides, the approval expires or the run is cancelled."""
        services, live = self.services, self.live
        now = services.clock()
        run.status = RunStatus.WAITING_APPROVAL
        if step.status != RunStatus.WAITING_APPROVAL:
            step.status, step.waiting_since = RunStatus.WAITING_APPROVAL, now
            if spec_step.approval is not None:
                step.expires_at = now + timedelta(seconds=spec_step.approval.ttl_seconds)
            what = (spec_step.prompt or "confirmation") if spec_step.manual else "approval"
            services.journal.note(
                session,
                run,
                EventKind.RUNBOOK_WAITING,
                f"{run.runbook} (run #{run.id}) waits at step {step.name}: {what}",
                {"step": step.name, "manual": spec_step.manual},
            )
            services.journal.show(session, run)
        try:
            while True:
                if self._leaving():
                    raise Stopping
                session.refresh(step)
                session.refresh(run)
                if live.cancel.is_set() or run.cancelled_by is not None:
                    return "cancelled"
                if step.decision is not None:
                    run.status = RunStatus.RUNNING
                    session.commit()
                    return step.decision
                if step.expires_at is not None and services.clock() >= step.expires_at:
                    step.decision = "expired"
                    session.commit()
                    return "expired"
                session.commit()  # never hold a transaction while waiting
                services.activity.set_waiting(live, True)
                live.wake.wait(DECISION_POLL_SECONDS)
                live.wake.clear()
        finally:
            services.activity.set_waiting(live, False)

    def _rollback(
        self, session: Session, run: RunbookRun, failed: RunbookStepRun, error: str
    ) -> None:
        """Run the runbook's on_failure method; if it fails too, both errors are reported."""
        name = self.spec.on_failure
        assert name is not None
        rollback_step = StepSpec(
            name=name,
            line=self.spec.line,
            timeout_seconds=None,
            approval=None,
            retry=None,
            manual=False,
            prompt="",
            idempotent=False,
            when=None,
            description="",
        )
        heading = f"{failed.output}[rollback {name}]\n"
        outcome = self._process(
            session,
            run,
            rollback_step,
            step_id=failed.id,
            prefix=heading,
            method=name,
            failure={"step": failed.name, "error": error},
        )
        failed.output = cap(heading + outcome.output)
        if outcome.status == "succeeded":
            text = f"Rollback {name} of {run.runbook} succeeded"
        else:
            mask = self.redactor.mask
            text = (
                f"Rollback {name} of {run.runbook} also failed: "
                f"{mask(outcome.error or outcome.status)} (after: {mask(error)})"
            )
        self.services.journal.note(
            session, run, EventKind.RUNBOOK_ROLLBACK, text, {"status": outcome.status}
        )

    def _close_step(
        self,
        session: Session,
        run: RunbookRun,
        step: RunbookStepRun,
        status: RunStatus,
        error: str | None,
    ) -> None:
        now = self.services.clock()
        step.status, step.finished_at = status, now
        step.error = error if status != RunStatus.SUCCEEDED else None
        took = ""
        if step.started_at is not None:
            took = f" in {(now - step.started_at).total_seconds():.1f} s"
        detail = f": {error}" if error and status != RunStatus.SUCCEEDED else ""
        self.services.journal.note(
            session,
            run,
            EventKind.RUNBOOK_STEP,
            f"{run.runbook} step {step.name} {status}{took}{detail}",
            {"step": step.name, "status": status.value},
        )
        self.services.journal.show(session, run)


class Reporter:
    """Collects a running step's messages: notes go on the timeline at once, output is
    written to the step and shown in chat at most every OUTPUT_REFRESH_SECONDS."""

    def __init__(
        self, services: ExecutionServices, run_id: int, incident_id: int, step_id: int, prefix: str
    ) -> None:
        self.services = services
        self.run_id = run_id
        self.incident_id = incident_id
        self.step_id = step_id
        self.prefix = prefix
        self.lines: list[str] = []
        self.last_flush = services.clock().timestamp()

    def message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "log":
            self.lines.append(str(message.get("text", "")) + "\n")
        elif kind == "note":
            with self.services.session_factory() as session:
                run = session.get_one(RunbookRun, self.run_id)
                record_event(
                    session,
                    incident=run.incident,
                    kind=EventKind.NOTE,
                    actor=f"runbook:{run.runbook}",
                    text=str(message.get("text", "")),
                    now=self.services.clock(),
                )
                session.commit()
        now = self.services.clock().timestamp()
        if self.lines and now - self.last_flush >= OUTPUT_REFRESH_SECONDS:
            self.last_flush = now
            self._flush()

    def _flush(self) -> None:
        with self.services.session_factory() as session:
            step = session.get_one(RunbookStepRun, self.step_id)
            step.output = cap(self.prefix + "".join(self.lines))
            self.services.journal.report(session, step.run)
            session.commit()
        self.services.journal.deliver(self.incident_id)


def cap(text: str) -> str:
    """At most OUTPUT_CAP characters of output, with a note of what was left out."""
    if len(text) <= OUTPUT_CAP:
        return text
    return (
        text[: OUTPUT_CAP - 200] + f"\n[… {len(text) - OUTPUT_CAP + 200} more characters not kept]"
    )


def _incident_view(incident: Incident) -> dict[str, Any]:
    return {
        "reference": incident.reference,
        "title": incident.title,
        "severity": incident.severity,
        "service": incident.service,
        "status": incident.status,
        "channel": incident.channel_name,
    }

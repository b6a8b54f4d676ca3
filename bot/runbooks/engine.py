"""Running runbooks: each run in a thread of the bot, each step in a process of its own.

Every state change of a run and its steps is written to the database before
and after the step, so a restart of the bot finds every run where it was:
waiting runs wait again, an idempotent step in flight is run again, and any
other step in flight is marked interrupted for a person to look at.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import outbox
from bot.config import Settings
from bot.errors import Forbidden, NotFound, UsageError
from bot.models import Incident, RunbookRun, RunbookStepRun, RunStatus
from bot.outbox import Work
from bot.runbooks import params as runbook_params
from bot.runbooks.conditions import condition_holds
from bot.runbooks.discovery import Catalog, discover
from bot.runbooks.process import RunWorker, StepOutcome, StepRequest
from bot.runbooks.redaction import Redactor
from bot.runbooks.spec import RunbookSpec, StepSpec
from bot.timeline import record_event
from bot.when import Clock, utc_now

log = logging.getLogger(__name__)

ACTIVE = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING_APPROVAL)
OUTPUT_REFRESH_SECONDS = 2.0
DECISION_POLL_SECONDS = 0.5
OUTPUT_CAP = 64_000
BOT = "incident-bot"  # the actor of what the engine records by itself


class _Stopping(Exception):
    """The bot is shutting down: leave the run as the database has it, for `recover`."""


@dataclass
class _Live:
    """What the bot holds in memory for a run in progress (never in the database)."""

    secrets: dict[str, str] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    waiting: bool = False  # for a person, with nothing to do until they decide
    worker: RunWorker | None = None  # the process the run's steps run in


class RunbookEngine:
    """Starts, runs, approves, cancels and recovers runbook runs."""

    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: sessionmaker[Session],
        deliver: Callable[[int], object],
        clock: Clock = utc_now,
        max_parallel_runs: int = 8,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.deliver = deliver
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_parallel_runs, thread_name_prefix="runbook")
        self._live: dict[int, _Live] = {}
        self._busy = 0  # run threads at work
        self._waiting = 0  # of those, how many wait for a person
        self._busy_changed = threading.Condition()
        self._stopping = threading.Event()

    def catalog(self) -> Catalog:
        """The runbooks as the files say now (read without running them)."""
        return discover(self.settings.runbook_dirs)

    def spec(self, name: str) -> RunbookSpec:
        catalog = self.catalog()
        spec = catalog.runbooks.get(name)
        if spec is None:
            known = ", ".join(sorted(catalog.runbooks)) or "none yet"
            raise NotFound(f"There is no runbook `{name}`. Runbooks: {known}.")
        return spec

    # -- starting ----------------------------------------------------------------

    def start(
        self,
        session: Session,
        *,
        incident: Incident,
        name: str,
        words: Sequence[str],
        actor: str,
        dry_run: bool = False,
        trigger_key: str | None = None,
        by_trigger: bool = False,
    ) -> tuple[RunbookRun, dict[str, str]]:
        """Check and record a new run in the caller's transaction; `launch` it after commit.

        Returns the run and its secret parameters, which are kept in memory only.
        """
        spec = self.spec(name)
        values = runbook_params.parse_arguments(spec, words)
        if not by_trigger:  # the runbook's own trigger needs nobody's permission
            self._require_runner(session, spec, incident, actor)
        secret_names = {param.name for param in spec.params if param.secret}
        secrets = {key: str(value) for key, value in values.items() if key in secret_names}
        now = self.clock()
        run = RunbookRun(
            incident=incident,
            runbook=spec.name,
            requested_by=actor,
            params=runbook_params.redacted(spec, values),
            dry_run=dry_run,
            status=RunStatus.PENDING,
            trigger_key=trigger_key,
            created_at=now,
        )
        session.add(run)
        for position, step in enumerate(spec.steps):
            session.add(RunbookStepRun(run=run, position=position, name=step.name, attempts=0))
        shown = " ".join(f"{key}={value}" for key, value in run.params.items())
        mode = " (dry run)" if dry_run else ""
        record_event(
            session,
            incident=incident,
            kind="runbook_started",
            actor=actor,
            text=f"Runbook {spec.name} started{mode}" + (f" with {shown}" if shown else ""),
            now=now,
            data={"runbook": spec.name, "params": run.params, "dry_run": dry_run},
        )
        session.flush()
        outbox.enqueue(
            session, incident=incident, work=Work.RUN_REPORT, now=now, payload={"run_id": run.id}
        )
        return run, secrets

    def launch(self, run_id: int, secrets: dict[str, str] | None = None) -> None:
        """Run it in the background (after the transaction that created it committed)."""
        self._live[run_id] = _Live(secrets=dict(secrets or {}))
        with self._busy_changed:  # busy from now on, not from when a thread picks it up
            self._busy += 1
        self._pool.submit(self._execute_safely, run_id)

    def _require_runner(
        self, session: Session, spec: RunbookSpec, incident: Incident, actor: str
    ) -> None:
        if _allowed(spec.allowed, incident, actor):
            return
        record_event(
            session,
            incident=incident,
            kind="runbook_refused",
            actor=actor,
            text=f"{actor} may not run {spec.name}",
            now=self.clock(),
            data={"runbook": spec.name, "allowed": list(spec.allowed)},
        )
        session.commit()  # the refusal itself is on the record
        raise Forbidden(f"Only {_describe(spec.allowed)} may run {spec.name}.")

    # -- people deciding ---------------------------------------------------------

    def decide(self, session: Session, *, run_id: int, actor: str, decision: str) -> RunbookRun:
        """Approve or deny the step waiting for approval, or mark a manual step done/failed."""
        run = self._run(session, run_id)
        if run.status not in ACTIVE:
            raise UsageError(f"Run #{run.id} is {run.status}; there is nothing to decide.")
        step = next((s for s in run.steps if s.status == RunStatus.WAITING_APPROVAL), None)
        if step is None:
            raise UsageError(f"Run #{run.id} is not waiting for anyone right now.")
        spec_step = self._spec_step(run, step)
        manual = spec_step is not None and spec_step.manual
        expected = ("done", "failed") if manual else ("approved", "denied")
        if decision not in expected:
            verbs = "`runbook done` or `runbook failed`" if manual else "`approve` or `deny`"
            raise UsageError(f"Step {step.name} of run #{run.id} waits for {verbs}.")
        now = self.clock()
        if run.cancelled_by is not None:
            raise UsageError(f"Run #{run.id} was cancelled by {run.cancelled_by}.")
        expired = step.expires_at is not None and now >= step.expires_at
        if step.decision == "expired" or expired:
            raise UsageError(f"The approval of step {step.name} has expired.")
        if step.decision is not None:
            raise UsageError(f"Step {step.name} was already {step.decision} by {step.decided_by}.")
        if not manual and spec_step is not None and spec_step.approval is not None:
            self._require_approver(session, run, step, spec_step, actor)
        # One decision only, even when two people click at the same moment.
        taken = session.execute(
            update(RunbookStepRun)
            .where(RunbookStepRun.id == step.id, RunbookStepRun.decision.is_(None))
            .values(
                decision=decision,
                decided_by=actor,
                approved_by=actor if decision == "approved" else None,
            )
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            raise UsageError(f"Step {step.name} of run #{run.id} was already decided.")
        record_event(
            session,
            incident=run.incident,
            kind="runbook_decision",
            actor=actor,
            text=f"{actor} {decision} step {step.name} of {run.runbook} (run #{run.id})",
            now=now,
            data={"run_id": run.id, "step": step.name, "decision": decision},
        )
        return run

    def wake(self, run_id: int) -> None:
        """Tell the run's thread that something changed (a decision, a cancel)."""
        live = self._live.get(run_id)
        if live is not None:
            self._set_waiting(live, False)  # busy again until it has looked
            live.wake.set()

    def _require_approver(
        self,
        session: Session,
        run: RunbookRun,
        step: RunbookStepRun,
        spec_step: StepSpec,
        actor: str,
    ) -> None:
        approval = spec_step.approval
        assert approval is not None
        problem = None
        if approval.not_requester and actor == run.requested_by:
            problem = f"{run.requested_by} started this run, so someone else must approve it."
        elif not _allowed(tuple(f"role:{r}" for r in approval.roles), run.incident, actor):
            problem = f"Only {_describe(tuple(f'role:{r}' for r in approval.roles))} may approve."
        if problem is None:
            return
        record_event(
            session,
            incident=run.incident,
            kind="runbook_refused",
            actor=actor,
            text=f"{actor} may not approve step {step.name} of run #{run.id}",
            now=self.clock(),
            data={"run_id": run.id, "step": step.name},
        )
        session.commit()
        raise Forbidden(problem)

    def cancel(self, session: Session, *, run_id: int, actor: str) -> RunbookRun:
        """Stop a run: a step in flight is killed, a wait ends, nothing after runs."""
        run = self._run(session, run_id)
        if run.status not in ACTIVE:
            raise UsageError(f"Run #{run.id} is already {run.status}.")
        run.cancelled_by = actor
        record_event(
            session,
            incident=run.incident,
            kind="runbook_cancel_requested",
            actor=actor,
            text=f"{actor} cancelled {run.runbook} (run #{run.id})",
            now=self.clock(),
            data={"run_id": run.id},
        )
        live = self._live.get(run.id)
        if live is not None:
            live.cancel.set()
            live.wake.set()
        else:  # no thread holds it (for example, after a restart): finish it here
            self._finish(session, run, RunStatus.CANCELLED, None)
        return run

    def _run(self, session: Session, run_id: int) -> RunbookRun:
        run = session.get(RunbookRun, run_id) if 0 < run_id <= 2**31 - 1 else None
        if run is None:
            raise NotFound(f"There is no runbook run #{run_id}. `runbook status` lists them.")
        return run

    def _spec_step(self, run: RunbookRun, step: RunbookStepRun) -> StepSpec | None:
        spec = self.catalog().runbooks.get(run.runbook)
        return next((s for s in spec.steps if s.name == step.name), None) if spec else None

    # -- executing ---------------------------------------------------------------

    def _execute_safely(self, run_id: int) -> None:
        try:
            self._execute(run_id)
        except _Stopping:
            log.info("Runbook run #%s left as it is for the next start", run_id)
        except Exception:
            log.exception("Runbook run #%s failed inside the engine", run_id)
            with self.session_factory() as session:
                run = session.get(RunbookRun, run_id)
                if run is not None and run.status in ACTIVE:
                    self._finish(session, run, RunStatus.FAILED, "the engine failed; see the log")
                    session.commit()
        finally:
            live = self._live.pop(run_id, None)
            if live is not None and live.worker is not None:
                live.worker.close()
            with self._busy_changed:
                self._busy -= 1
                self._busy_changed.notify_all()
            self.deliver(self._incident_id(run_id))

    def _incident_id(self, run_id: int) -> int:
        with self.session_factory() as session:
            run = session.get(RunbookRun, run_id)
            return run.incident_id if run else 0

    def _execute(self, run_id: int) -> None:
        live = self._live.setdefault(run_id, _Live())
        with self.session_factory() as session:
            run = self._run(session, run_id)
            spec = self.catalog().runbooks.get(run.runbook)
            if spec is None:
                self._finish(session, run, RunStatus.FAILED, "the runbook file is gone or broken")
                session.commit()
                return
            if run.started_at is None:
                run.started_at = self.clock()
            run.status = RunStatus.RUNNING
            session.commit()
        deadline = _deadline(run.started_at, spec.timeout_seconds)
        redactor = Redactor(live.secrets.values())
        outputs: dict[str, Any] = {}
        for spec_step in spec.steps:
            with self.session_factory() as session:
                run = self._run(session, run_id)
                step = next(s for s in run.steps if s.name == spec_step.name)
                if step.status == RunStatus.SUCCEEDED:
                    outputs[step.name] = step.result
                    continue
                if step.status == RunStatus.SKIPPED:
                    continue
                ending = self._step(session, run, step, spec, spec_step, live, outputs, deadline)
                if ending is not None:
                    status, error = ending
                    if status in (RunStatus.FAILED, RunStatus.TIMED_OUT) and spec.on_failure:
                        self._rollback(session, run, spec, step, error or "", live, redactor)
                    self._finish(session, run, status, error)
                    session.commit()
                    return
                outputs[step.name] = step.result
        with self.session_factory() as session:
            self._finish(session, self._run(session, run_id), RunStatus.SUCCEEDED, None)
            session.commit()

    def _step(
        self,
        session: Session,
        run: RunbookRun,
        step: RunbookStepRun,
        spec: RunbookSpec,
        spec_step: StepSpec,
        live: _Live,
        outputs: dict[str, Any],
        deadline: datetime | None,
    ) -> tuple[RunStatus, str | None] | None:
        """Run one step to its end; returns how the run ends, or None to go on."""
        if self._stopping.is_set():
            raise _Stopping
        if live.cancel.is_set():
            return RunStatus.CANCELLED, None
        if spec_step.when and not condition_holds(spec_step.when, run.params):
            self._close_step(session, run, step, RunStatus.SKIPPED, f"skipped: {spec_step.when}")
            return None
        if spec_step.approval is not None or spec_step.manual:
            decision = self._wait_for_person(session, run, step, spec_step, live)
            if decision in ("denied", "expired", "failed", "cancelled"):
                status = RunStatus.CANCELLED if decision == "cancelled" else RunStatus.FAILED
                self._close_step(session, run, step, status, f"{decision}")
                return status, f"step {step.name} {decision}"
            if spec_step.manual:
                self._close_step(session, run, step, RunStatus.SUCCEEDED, "done")
                return None
        outcome = self._attempts(session, run, step, spec, spec_step, live, outputs, deadline)
        status = _STATUS_OF[outcome.status]
        step.result = outcome.result if outcome.status == "succeeded" else None
        self._close_step(session, run, step, status, outcome.error)
        if status != RunStatus.SUCCEEDED:
            return status, f"step {step.name}: {outcome.error or outcome.status}"
        return None

    def _attempts(
        self,
        session: Session,
        run: RunbookRun,
        step: RunbookStepRun,
        spec: RunbookSpec,
        spec_step: StepSpec,
        live: _Live,
        outputs: dict[str, Any],
        deadline: datetime | None,
    ) -> StepOutcome:
        retry = spec_step.retry
        attempts = retry.attempts if retry else 1
        delay = retry.delay_seconds if retry else 0.0
        outcome: StepOutcome | None = None
        prefix = step.output  # what earlier attempts (or a run before a restart) printed
        for attempt in range(1, attempts + 1):
            step.status, step.attempts = RunStatus.RUNNING, attempt
            step.started_at = step.started_at or self.clock()
            session.commit()
            outcome = self._process(
                session,
                run,
                spec,
                spec_step,
                live,
                outputs,
                deadline,
                step_id=step.id,
                prefix=prefix,
            )
            if self._stopping.is_set():
                raise _Stopping
            step.output = _cap(prefix + outcome.output)
            if outcome.status in ("succeeded", "cancelled") or attempt == attempts:
                break
            if deadline is not None and self.clock() >= deadline:
                break
            prefix = _cap(f"{step.output}[attempt {attempt} {outcome.status}: {outcome.error}]\n")
            step.output = prefix
            session.commit()
            if live.cancel.wait(delay):
                break
            delay *= retry.backoff if retry else 1.0
        assert outcome is not None
        return outcome

    def _process(
        self,
        session: Session,
        run: RunbookRun,
        spec: RunbookSpec,
        spec_step: StepSpec,
        live: _Live,
        outputs: dict[str, Any],
        deadline: datetime | None,
        *,
        step_id: int,
        prefix: str,
        method: str | None = None,
        failure: dict[str, str] | None = None,
    ) -> StepOutcome:
        timeouts = [t for t in (spec_step.timeout_seconds, _remaining(deadline, self.clock())) if t]
        request = StepRequest(
            path=str(spec.path),
            class_name=spec.class_name,
            method=method or spec_step.name,
            params={k: v for k, v in run.params.items() if k not in live.secrets},
            secret_names=sorted(live.secrets),
            incident=_incident_view(run.incident),
            outputs=outputs,
            dry_run=run.dry_run,
            artifacts_dir=str(self._artifacts_dir(run)),
            failure=failure,
        )
        reporter = _Reporter(self, run.id, run.incident_id, step_id, prefix)
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
        return Path(self.settings.runbook_artifacts_dir) / run.incident.reference / f"run-{run.id}"

    def _wait_for_person(
        self,
        session: Session,
        run: RunbookRun,
        step: RunbookStepRun,
        spec_step: StepSpec,
        live: _Live,
    ) -> str:
        """Wait (persisted) until someone decides, the approval expires or the run is cancelled."""
        now = self.clock()
        run.status = RunStatus.WAITING_APPROVAL
        if step.status != RunStatus.WAITING_APPROVAL:
            step.status, step.waiting_since = RunStatus.WAITING_APPROVAL, now
            if spec_step.approval is not None:
                step.expires_at = now + timedelta(seconds=spec_step.approval.ttl_seconds)
            what = (spec_step.prompt or "confirmation") if spec_step.manual else "approval"
            self._note(
                session,
                run,
                "runbook_waiting",
                f"{run.runbook} (run #{run.id}) waits at step {step.name}: {what}",
                {"step": step.name, "manual": spec_step.manual},
            )
            self._show(session, run)
        try:
            while True:
                if self._stopping.is_set():
                    raise _Stopping
                session.refresh(step)
                session.refresh(run)
                if live.cancel.is_set() or run.cancelled_by is not None:
                    return "cancelled"
                if step.decision is not None:
                    run.status = RunStatus.RUNNING
                    session.commit()
                    return step.decision
                if step.expires_at is not None and self.clock() >= step.expires_at:
                    step.decision = "expired"
                    session.commit()
                    return "expired"
                session.commit()  # never hold a transaction while waiting
                self._set_waiting(live, True)
                live.wake.wait(DECISION_POLL_SECONDS)
                live.wake.clear()
        finally:
            self._set_waiting(live, False)

    def _rollback(
        self,
        session: Session,
        run: RunbookRun,
        spec: RunbookSpec,
        failed: RunbookStepRun,
        error: str,
        live: _Live,
        redactor: Redactor,
    ) -> None:
        assert spec.on_failure is not None
        rollback_step = StepSpec(
            name=spec.on_failure,
            line=spec.line,
            timeout_seconds=None,
            approval=None,
            retry=None,
            manual=False,
            prompt="",
            idempotent=False,
            when=None,
            description="",
        )
        outcome = self._process(
            session,
            run,
            spec,
            rollback_step,
            live,
            {},
            None,
            step_id=failed.id,
            prefix=f"{failed.output}[rollback {spec.on_failure}]\n",
            method=spec.on_failure,
            failure={"step": failed.name, "error": error},
        )
        failed.output = _cap(f"{failed.output}[rollback {spec.on_failure}]\n{outcome.output}")
        if outcome.status == "succeeded":
            text = f"Rollback {spec.on_failure} of {run.runbook} succeeded"
        else:
            text = (
                f"Rollback {spec.on_failure} of {run.runbook} also failed: "
                f"{redactor.mask(outcome.error or outcome.status)} (after: {redactor.mask(error)})"
            )
        self._note(
            session,
            run,
            "runbook_rollback",
            text,
            {"status": outcome.status},
        )

    def _close_step(
        self,
        session: Session,
        run: RunbookRun,
        step: RunbookStepRun,
        status: RunStatus,
        error: str | None,
    ) -> None:
        now = self.clock()
        step.status, step.finished_at = status, now
        step.error = error if status != RunStatus.SUCCEEDED else None
        took = ""
        if step.started_at is not None:
            took = f" in {(now - step.started_at).total_seconds():.1f} s"
        detail = f": {error}" if error and status != RunStatus.SUCCEEDED else ""
        self._note(
            session,
            run,
            "runbook_step",
            f"{run.runbook} step {step.name} {status}{took}{detail}",
            {"step": step.name, "status": status.value},
        )
        self._show(session, run)

    def _finish(
        self, session: Session, run: RunbookRun, status: RunStatus, error: str | None
    ) -> None:
        now = self.clock()
        run.status, run.error, run.finished_at = status, error, now
        for step in run.steps:
            if step.status in (RunStatus.PENDING, RunStatus.WAITING_APPROVAL):
                step.status = RunStatus.SKIPPED if status != RunStatus.CANCELLED else status
        took = f" in {(now - run.started_at).total_seconds():.1f} s" if run.started_at else ""
        self._note(
            session,
            run,
            "runbook_finished",
            f"Runbook {run.runbook} (run #{run.id}) {status}{took}"
            + (f": {error}" if error else ""),
            {"status": status.value},
        )
        self._report(session, run)

    def _note(
        self, session: Session, run: RunbookRun, kind: str, text: str, data: dict[str, Any]
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

    def _show(self, session: Session, run: RunbookRun) -> None:
        """Commit, and bring the run's chat report up to date now."""
        self._report(session, run)
        session.commit()
        self.deliver(run.incident_id)

    def _report(self, session: Session, run: RunbookRun) -> None:
        outbox.enqueue(
            session,
            incident=run.incident,
            work=Work.RUN_REPORT,
            now=self.clock(),
            payload={"run_id": run.id},
        )

    # -- restarts ----------------------------------------------------------------

    def recover(self) -> list[int]:
        """After a restart: pick every unfinished run up again, or mark it interrupted."""
        relaunch: list[int] = []
        with self.session_factory() as session:
            runs = session.scalars(select(RunbookRun).where(RunbookRun.status.in_(ACTIVE)))
            for run in runs:
                if self._resumable(session, run):
                    relaunch.append(run.id)
            session.commit()
        for run_id in relaunch:
            self.launch(run_id)
        return relaunch

    def _resumable(self, session: Session, run: RunbookRun) -> bool:
        spec = self.catalog().runbooks.get(run.runbook)
        in_flight = next((s for s in run.steps if s.status == RunStatus.RUNNING), None)
        needs_secrets = spec is not None and any(p.secret for p in spec.params)
        problem = None
        if spec is None:
            problem = "its runbook file is gone or broken"
        elif needs_secrets:
            problem = "its secret parameters were only in the memory of the stopped bot"
        elif in_flight is not None:
            spec_step = next((s for s in spec.steps if s.name == in_flight.name), None)
            if spec_step is not None and spec_step.idempotent:
                in_flight.status = RunStatus.PENDING  # safe to run again
            else:
                problem = f"step {in_flight.name} was running and is not safe to run again"
                in_flight.status = RunStatus.INTERRUPTED
        if problem is None:
            return True
        self._finish(session, run, RunStatus.INTERRUPTED, f"the bot restarted: {problem}")
        return False

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is executing a step (runs waiting for a person count as idle)."""
        with self._busy_changed:
            return self._busy_changed.wait_for(lambda: self._busy == self._waiting, timeout)

    def _set_waiting(self, live: _Live, waiting: bool) -> None:
        with self._busy_changed:
            if live.waiting != waiting:
                live.waiting = waiting
                self._waiting += 1 if waiting else -1
                self._busy_changed.notify_all()

    def shutdown(self) -> None:
        """Stop every run thread; the database keeps each run where it was, for `recover`."""
        self._stopping.set()
        for live in list(self._live.values()):
            live.cancel.set()
            live.wake.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Reporter:
    """Collects a running step's messages: notes go on the timeline at once, output is
    written to the step and shown in chat at most every OUTPUT_REFRESH_SECONDS."""

    def __init__(
        self, engine: RunbookEngine, run_id: int, incident_id: int, step_id: int, prefix: str
    ) -> None:
        self.engine = engine
        self.run_id = run_id
        self.incident_id = incident_id
        self.step_id = step_id
        self.prefix = prefix
        self.lines: list[str] = []
        self.last_flush = engine.clock().timestamp()

    def message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "log":
            self.lines.append(str(message.get("text", "")) + "\n")
        elif kind == "note":
            with self.engine.session_factory() as session:
                run = session.get_one(RunbookRun, self.run_id)
                record_event(
                    session,
                    incident=run.incident,
                    kind="note",
                    actor=f"runbook:{run.runbook}",
                    text=str(message.get("text", "")),
                    now=self.engine.clock(),
                )
                session.commit()
        now = self.engine.clock().timestamp()
        if self.lines and now - self.last_flush >= OUTPUT_REFRESH_SECONDS:
            self.last_flush = now
            self._flush()

    def _flush(self) -> None:
        with self.engine.session_factory() as session:
            step = session.get_one(RunbookStepRun, self.step_id)
            step.output = _cap(self.prefix + "".join(self.lines))
            self.engine._report(session, step.run)
            session.commit()
        self.engine.deliver(self.incident_id)


_STATUS_OF = {
    "succeeded": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "timed_out": RunStatus.TIMED_OUT,
    "cancelled": RunStatus.CANCELLED,
    "crashed": RunStatus.FAILED,
}


def _allowed(allowed: Sequence[str], incident: Incident, actor: str) -> bool:
    """Whether `actor` is one of `role:<name>`, `declarer` or `anyone` on this incident."""
    holders = incident.current_roles()
    for entry in allowed:
        if entry == "anyone":
            return True
        if entry == "declarer" and incident.declared_by == actor:
            return True
        if entry.startswith("role:") and holders.get(entry.removeprefix("role:")) == actor:
            return True
    return False


def _describe(allowed: Sequence[str]) -> str:
    names = [entry.removeprefix("role:") for entry in allowed]
    return " or ".join(f"the {name}" if name != "anyone" else "anyone" for name in names)


def _deadline(started: datetime | None, seconds: float | None) -> datetime | None:
    return started + timedelta(seconds=seconds) if started and seconds else None


def _remaining(deadline: datetime | None, now: datetime) -> float | None:
    return max((deadline - now).total_seconds(), 0.001) if deadline else None


def _cap(text: str) -> str:
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


def incident_runs(session: Session, incident: Incident) -> list[RunbookRun]:
    """The incident's runbook runs, oldest first."""
    query = select(RunbookRun).where(RunbookRun.incident_id == incident.id)
    return list(session.scalars(query.order_by(RunbookRun.id)))

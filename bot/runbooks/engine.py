"""The runbook engine: starting runs, people deciding, cancelling, and recovering after restarts.

Each run executes in a thread of the bot (`execution.RunExecution`), its steps in
a worker process of the run's own. Every state change of a run and its steps is
in the database before and after each step, so a restart of the bot finds every
run where it was: waiting runs wait again, an idempotent step in flight is run
again, and any other step in flight is marked interrupted for a person to look at.
With several replicas, the one executing a run holds its lease (`leases`); the
others recover it by the same rules only once that lease has lapsed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, utc_now
from bot.config import Settings
from bot.errors import NotFound, UsageError
from bot.incidents.permissions import Permissions
from bot.incidents.timeline import record_event
from bot.runbooks import params as runbook_params
from bot.runbooks.discovery import Catalog, discover
from bot.runbooks.execution import ExecutionServices, RunExecution, Stopping
from bot.runbooks.journal import BOT, RunJournal, get_run
from bot.runbooks.leases import LeaseKeeper, RunLeases
from bot.runbooks.live import Activity, Live
from bot.runbooks.spec import RunbookSpec, StepSpec
from bot.storage.models import (
    ACTIVE_RUN_STATUSES,
    EventKind,
    Incident,
    RunbookRun,
    RunbookStepRun,
    RunStatus,
)
from bot.storage.replicas import LeaseTerms

log = logging.getLogger(__name__)
REFUSED = EventKind.RUNBOOK_REFUSED


class RunbookEngine:
    """Starts, runs, approves, cancels and recovers runbook runs."""

    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: sessionmaker[Session],
        deliver: Callable[[int], object],
        permissions: Permissions,
        replica: str,
        clock: Clock = utc_now,
        max_parallel_runs: int = 8,
    ) -> None:
        self.settings = settings
        self.permissions = permissions
        self.session_factory = session_factory
        self.deliver = deliver
        self.clock = clock
        self.journal = RunJournal(clock=clock, deliver=deliver)
        self.activity = Activity()
        self.stopping = threading.Event()
        self._execution = ExecutionServices(
            session_factory=session_factory,
            journal=self.journal,
            activity=self.activity,
            clock=clock,
            stopping=self.stopping,
            artifacts_root=Path(settings.runbook_artifacts_dir),
            http_allow=settings.runbook_http_allow,
            memory_limit_mb=settings.runbook_memory_limit_mb,
            cpu_seconds=settings.runbook_cpu_seconds,
        )
        self._pool = ThreadPoolExecutor(max_parallel_runs, thread_name_prefix="runbook")
        self._live: dict[int, Live] = {}
        self.leases = RunLeases(
            session_factory, terms=LeaseTerms.of(replica, settings.runbook_lease_seconds)
        )
        self._keeper = LeaseKeeper(
            self.leases,
            sweep_seconds=settings.runbook_recovery_seconds,
            held=lambda: list(self._live),
            lost=self._lost,
            cancel=self._signal_cancel,
            sweep=self.recover,
        )

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
        values = runbook_params.parse_arguments(spec, words, self.settings)
        if not by_trigger:  # the runbook's own trigger needs nobody's permission
            self.permissions.require_runner(incident, actor, spec.name, spec.allowed)
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
        self.leases.hold(run)
        session.add(run)
        for position, step in enumerate(spec.steps):
            session.add(RunbookStepRun(run=run, position=position, name=step.name, attempts=0))
        shown = " ".join(f"{key}={value}" for key, value in run.params.items())
        mode = " (dry run)" if dry_run else ""
        record_event(
            session,
            incident=incident,
            kind=EventKind.RUNBOOK_STARTED,
            actor=actor,
            text=f"Runbook {spec.name} started{mode}" + (f" with {shown}" if shown else ""),
            now=now,
            data={"runbook": spec.name, "params": run.params, "dry_run": dry_run},
        )
        session.flush()
        self.journal.report(session, run)
        return run, secrets

    def launch(self, run_id: int, secrets: dict[str, str] | None = None) -> None:
        """Run it in the background (after the transaction that created it committed)."""
        self._live[run_id] = Live(secrets=dict(secrets or {}))
        self.activity.started()
        self._pool.submit(self._execute_safely, run_id)

    # -- people deciding ---------------------------------------------------------

    def decide(self, session: Session, *, run_id: int, actor: str, decision: str) -> RunbookRun:
        """Approve or deny the step waiting for approval, or mark a manual step done/failed."""
        run = get_run(session, run_id)
        if run.status not in ACTIVE_RUN_STATUSES:
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
        if manual:
            self._require_steer(run, actor, f"mark step {step.name} of run #{run.id} {decision}")
        else:
            self._require_approver(run, step, spec_step, actor, decision)
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
            kind=EventKind.RUNBOOK_DECISION,
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
            self.activity.set_waiting(live, False)  # busy again until it has looked
            live.wake.set()

    def _require_approver(
        self,
        run: RunbookRun,
        step: RunbookStepRun,
        spec_step: StepSpec | None,
        actor: str,
        decision: str,
    ) -> None:
        approval = spec_step.approval if spec_step is not None else None
        verb = "approve" if decision == "approved" else "deny"
        doing = f"{verb} step {step.name} of run #{run.id}"
        data = {"run_id": run.id, "step": step.name}
        if approval is None:  # the runbook no longer declares its gate: only who is in charge
            self.permissions.require(
                run.incident, actor, "others_runs", doing=doing, kind=REFUSED, data=data
            )
            return
        self.permissions.require_approver(
            run.incident,
            actor,
            requester=run.requested_by,
            roles=approval.roles,
            not_requester=approval.not_requester,
            doing=doing,
            data=data,
        )

    def _require_steer(self, run: RunbookRun, actor: str, doing: str) -> None:
        """A run of your own or of the bot's takes the `steer` rule; someone else's, more."""
        owner = None if run.requested_by == BOT else run.requested_by
        self.permissions.require(
            run.incident,
            actor,
            "steer",
            owner=owner,
            doing=doing,
            kind=REFUSED,
            data={"run_id": run.id},
        )

    def cancel(self, session: Session, *, run_id: int, actor: str) -> RunbookRun:
        """Stop a run: a step in flight is killed, a wait ends, nothing after runs."""
        run = get_run(session, run_id)
        if run.status not in ACTIVE_RUN_STATUSES:
            raise UsageError(f"Run #{run.id} is already {run.status}.")
        self._require_steer(run, actor, f"cancel run #{run.id}")
        run.cancelled_by = actor
        record_event(
            session,
            incident=run.incident,
            kind=EventKind.RUNBOOK_CANCEL_REQUESTED,
            actor=actor,
            text=f"{actor} cancelled {run.runbook} (run #{run.id})",
            now=self.clock(),
            data={"run_id": run.id},
        )
        if run.id in self._live:
            self._signal_cancel({run.id})
        elif not self.leases.held_elsewhere(run):  # nobody executes it: finish it here
            self.journal.finish(session, run, RunStatus.CANCELLED, None)
        # else its replica sees cancelled_by at its next heartbeat and stops the run there
        return run

    def _signal_cancel(self, run_ids: set[int]) -> None:
        for run_id in run_ids:
            live = self._live.get(run_id)
            if live is not None:
                live.cancel.set()
                live.wake.set()

    def _spec_step(self, run: RunbookRun, step: RunbookStepRun) -> StepSpec | None:
        spec = self.catalog().runbooks.get(run.runbook)
        return next((s for s in spec.steps if s.name == step.name), None) if spec else None

    # -- executing ---------------------------------------------------------------

    def _execute_safely(self, run_id: int) -> None:
        live = self._live.setdefault(run_id, Live())
        try:
            spec = self._spec_of(run_id)
            if spec is not None:
                RunExecution(self._execution, run_id, live, spec).execute()
        except Stopping:
            log.info("Runbook run #%s left as it is for the next start", run_id)
        except Exception:
            log.exception("Runbook run #%s failed inside the engine", run_id)
            with self.session_factory() as session:
                run = session.get(RunbookRun, run_id)
                if run is not None and run.status in ACTIVE_RUN_STATUSES:
                    self.journal.finish(
                        session, run, RunStatus.FAILED, "the engine failed; see the log"
                    )
                    session.commit()
        finally:
            self._live.pop(run_id, None)
            if live.worker is not None:
                live.worker.close()
            self.activity.ended()
            self.deliver(self._incident_id(run_id))

    def _spec_of(self, run_id: int) -> RunbookSpec | None:
        """The run's runbook as its file says now; a run whose file is gone ends failed."""
        with self.session_factory() as session:
            run = get_run(session, run_id)
            spec = self.catalog().runbooks.get(run.runbook)
            if spec is None:
                self.journal.finish(
                    session, run, RunStatus.FAILED, "the runbook file is gone or broken"
                )
                session.commit()
            return spec

    def _incident_id(self, run_id: int) -> int:
        with self.session_factory() as session:
            run = session.get(RunbookRun, run_id)
            return run.incident_id if run else 0

    # -- restarts ----------------------------------------------------------------

    def start_recovering(self) -> None:
        """At start: recover what stopped replicas left, then keep at it and renew our leases.

        A SQLite file serves one process, so there every earlier owner is gone already.
        """
        self.recover(sole_process=self.settings.database_url.startswith("sqlite"))
        self._keeper.start()

    def recover(self, *, sole_process: bool = False) -> list[int]:
        """Take the unfinished runs whose replica is gone: resume them, or mark them interrupted."""
        relaunch: list[int] = []
        claimed = [
            i for i in self.leases.claim_orphans(sole_process=sole_process) if i not in self._live
        ]
        with self.session_factory() as session:
            for run_id in claimed:
                if self._resumable(session, get_run(session, run_id)):
                    relaunch.append(run_id)
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
        self.journal.finish(session, run, RunStatus.INTERRUPTED, f"the bot restarted: {problem}")
        return False

    def _lost(self, run_ids: set[int]) -> None:
        """Another replica took these runs (our heartbeat lapsed): stop ours, touch nothing."""
        for run_id in run_ids:
            live = self._live.get(run_id)
            if live is not None:
                log.error(
                    "Runbook run #%s was taken over by another replica; stopping here", run_id
                )
                live.lost.set()
                live.cancel.set()
                live.wake.set()

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is executing a step (runs waiting for a person count as idle)."""
        return self.activity.wait_until_idle(timeout)

    def shutdown(self) -> None:
        """Stop every run thread and give its lease up; the database keeps each run where it was.

        Another replica (or the next start) recovers them at once, by `recover`'s rules.
        """
        self.stopping.set()
        self._keeper.stop()
        for live in list(self._live.values()):
            live.cancel.set()
            live.wake.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.leases.release()


def incident_runs(session: Session, incident: Incident) -> list[RunbookRun]:
    """The incident's runbook runs, oldest first."""
    query = select(RunbookRun).where(RunbookRun.incident_id == incident.id)
    return list(session.scalars(query.order_by(RunbookRun.id)))

"""The chat side of the runbook engine: `runbook run|status|cancel|done|failed`, approve, deny."""

from __future__ import annotations

from bot.chat import messages, run_messages
from bot.chat.port import Context, Reply
from bot.commands.grammar import Grammar
from bot.commands.inbox import RequestClaim
from bot.commands.services import CommandServices
from bot.commands.targets import find_target
from bot.commands.types import CancelRun, DecideStep, ShowRuns, StartRunbook
from bot.errors import UsageError
from bot.incidents import lifecycle
from bot.runbooks.engine import RunbookEngine, incident_runs


class RunbookCommands:
    """Runs the runbook commands of any chat through the engine."""

    def __init__(
        self, services: CommandServices, *, grammar: Grammar, runbooks: RunbookEngine
    ) -> None:
        self.session_factory = services.session_factory
        self.clock = services.clock
        self.timezone = services.settings.timezone
        self.deliver = services.deliver
        self.grammar = grammar
        self.runbooks = runbooks

    def start(self, command: StartRunbook, text: str, ctx: Context, claim: RequestClaim) -> Reply:
        """Check and record a run, then let it go in the background."""
        with self.session_factory() as session:
            claim.take(session, now=self.clock())
            incident = find_target(session, command, text, ctx, self.grammar)
            lifecycle.refuse_if_closed(incident)
            run, secrets = self.runbooks.start(
                session,
                incident=incident,
                name=command.name,
                words=command.arguments,
                actor=ctx.actor,
                dry_run=command.dry_run,
            )
            session.commit()
            run_id, incident_id = run.id, incident.id
            started = f"Started {run.runbook} for {incident.reference} (run #{run.id})."
        self.runbooks.launch(run_id, secrets)
        lagging = self.deliver(incident_id)
        return Reply(messages.lag_note(messages.done(started), lagging))

    def show_runs(self, command: ShowRuns, text: str, ctx: Context) -> Reply:
        """The incident's runs, or one run's report."""
        with self.session_factory() as session:
            incident = find_target(session, command, text, ctx, self.grammar)
            runs = incident_runs(session, incident)
            if command.run_id is not None:
                run = next((r for r in runs if r.id == command.run_id), None)
                if run is None:
                    raise UsageError(f"{incident.reference} has no runbook run #{command.run_id}.")
                return Reply(run_messages.run_report(run, self.timezone))
            return Reply(run_messages.runs_message(runs, self.timezone))

    def steer(self, command: DecideStep | CancelRun, ctx: Context, claim: RequestClaim) -> Reply:
        """A person approves, denies, marks done or failed, or cancels a run."""
        with self.session_factory() as session:
            claim.take(session, now=self.clock())
            if isinstance(command, CancelRun):
                run = self.runbooks.cancel(session, run_id=command.run_id, actor=ctx.actor)
                said = f"Cancelling {run.runbook} (run #{run.id})."
            else:
                run = self.runbooks.decide(
                    session, run_id=command.run_id, actor=ctx.actor, decision=command.decision
                )
                said = f"Step {command.decision} for {run.runbook} (run #{run.id})."
            incident_id = run.incident_id
            session.commit()
        self.runbooks.wake(command.run_id)
        lagging = self.deliver(incident_id)
        return Reply(messages.lag_note(messages.done(said), lagging))

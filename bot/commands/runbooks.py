"""The chat side of the runbook engine: `runbook run|status|cancel|done|failed`, approve, deny."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.chat import messages, run_messages
from bot.chat.port import Context, Reply
from bot.commands.types import CancelRun, DecideStep, ShowRuns, StartRunbook
from bot.errors import UsageError
from bot.incidents import lifecycle
from bot.runbooks.engine import incident_runs

if TYPE_CHECKING:
    from bot.commands.handler import CommandHandler


class RunbookCommands:
    """Runs the runbook commands of any chat through the engine."""

    def __init__(self, handler: CommandHandler) -> None:
        self.handler = handler

    def start(self, command: StartRunbook, text: str, ctx: Context) -> Reply:
        """Check and record a run, then let it go in the background."""
        with self.handler.session_factory() as session:
            incident = self.handler.target(session, command, text, ctx)
            lifecycle.refuse_if_closed(incident)
            run, secrets = self.handler.runbooks.start(
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
        self.handler.runbooks.launch(run_id, secrets)
        lagging = self.handler.deliver(incident_id)
        return Reply(self.handler.lag_note(messages.done(started), lagging))

    def show_runs(self, command: ShowRuns, text: str, ctx: Context) -> Reply:
        """The incident's runs, or one run's report."""
        with self.handler.session_factory() as session:
            incident = self.handler.target(session, command, text, ctx)
            runs = incident_runs(session, incident)
            if command.run_id is not None:
                run = next((r for r in runs if r.id == command.run_id), None)
                if run is None:
                    raise UsageError(f"{incident.reference} has no runbook run #{command.run_id}.")
                return Reply(run_messages.run_report(run, self.handler.settings.timezone))
            return Reply(run_messages.runs_message(runs, self.handler.settings.timezone))

    def steer(self, command: DecideStep | CancelRun, ctx: Context) -> Reply:
        """A person approves, denies, marks done or failed, or cancels a run."""
        with self.handler.session_factory() as session:
            if isinstance(command, CancelRun):
                run = self.handler.runbooks.cancel(session, run_id=command.run_id, actor=ctx.actor)
                said = f"Cancelling {run.runbook} (run #{run.id})."
            else:
                run = self.handler.runbooks.decide(
                    session, run_id=command.run_id, actor=ctx.actor, decision=command.decision
                )
                said = f"Step {command.decision} for {run.runbook} (run #{run.id})."
            incident_id = run.incident_id
            session.commit()
        self.handler.runbooks.wake(command.run_id)
        lagging = self.handler.deliver(incident_id)
        return Reply(self.handler.lag_note(messages.done(said), lagging))

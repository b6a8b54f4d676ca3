"""Shared by the runbook tests: an application whose engine reads a given folder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import Application
from bot.commands.handler import CommandHandler
from bot.config import Settings
from bot.storage.models import RunbookRun
from tests.support.chat_double import RecordingChat
from tests.support.clock import FakeClock
from tests.support.people import Person


def runbook_application(
    settings: Settings,
    session_factory: sessionmaker[Session],
    chat: RecordingChat,
    clock: FakeClock,
    *,
    folder: Path,
    artifacts: Path,
) -> Application:
    configured = replace(settings, runbook_dirs=(folder,), runbook_artifacts_dir=str(artifacts))
    return Application(configured, session_factory=session_factory, chat=chat, clock=clock)


def settle(handler: CommandHandler) -> None:
    """Wait until no runbook executes a step (waiting for a person counts as settled)."""
    assert handler.runbooks.wait_until_idle(timeout=30), "a runbook is still running"


def runs(session_factory: sessionmaker[Session]) -> list[RunbookRun]:
    """Every run with its steps loaded, oldest first."""
    with session_factory() as session:
        found = list(session.scalars(select(RunbookRun).order_by(RunbookRun.id)))
        for run in found:
            _ = run.steps
        return found


def commanding(person: Person) -> Person:
    """`person` declares a SEV2 and takes the commander role."""
    person.says("declare sev2 Checkout API returns 500s service:checkout")
    person.says("role commander @me")
    return person

"""Running the shipped runbooks as the engine would, step by step in real workers.

Shared by the tests of the shipped runbooks: the runbooks themselves, an incident
for them to see, and a `systemctl` that records how it was called.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.runbooks.discovery import discover
from bot.runbooks.params import parse_arguments
from bot.runbooks.process import StepOutcome, StepRequest, run_step
from bot.runbooks.spec import RunbookSpec
from tests.support.paths import repo_root

RUNBOOKS = repo_root() / "runbooks"
INCIDENT = {
    "reference": "INC-42",
    "title": "API down",
    "severity": "SEV1",
    "service": "api",
    "status": "investigating",
    "channel": "C-INC-42",
}
STEP_TIMEOUT_CAP = 20.0
"""The longest a step may take here, whatever its own time-out."""
DEFAULTS = Settings()
UNITS = Settings(runbook_systemd_units=("api.service",))
"""Settings that let the restart runbooks restart api.service, and nothing else."""


@functools.cache
def shipped() -> dict[str, RunbookSpec]:
    return discover([RUNBOOKS]).runbooks


def run_runbook(
    name: str,
    params: dict[str, object] | None = None,
    *,
    dry_run: bool = False,
    artifacts_dir: Path | str = "",
    messages: list[dict[str, Any]] | None = None,
    http_allow: tuple[str, ...] = (),
    settings: Settings = DEFAULTS,
) -> dict[str, StepOutcome]:
    """Run every step of the shipped runbook `name` in order, as the engine would.

    `params` are checked and typed like chat arguments, with `settings` (defaults
    filled in; secret ones go to the worker as secrets). Each step's result reaches
    the later ones in `outputs`; the run stops at the first step that does not
    succeed. Approval gates are not waited for here. `http_allow` is the
    RUNBOOK_HTTP_ALLOW setting; the worker has the limits of `settings`. Returns the
    outcome of each step run, by step name.
    """
    spec = shipped()[name]
    words = [f"{key}={value}" for key, value in (params or {}).items()]
    values = parse_arguments(spec, words, settings)
    secret_names = {param.name for param in spec.params if param.secret}
    secrets = {key: str(value) for key, value in values.items() if key in secret_names}
    outputs: dict[str, object] = {}
    outcomes: dict[str, StepOutcome] = {}
    for step in spec.steps:
        outcome = run_step(
            StepRequest(
                path=spec.path,
                class_name=spec.class_name,
                method=step.name,
                params={key: value for key, value in values.items() if key not in secrets},
                secret_names=sorted(secret_names),
                incident=INCIDENT,
                outputs=dict(outputs),
                dry_run=dry_run,
                artifacts_dir=artifacts_dir,
                http_allow=http_allow,
                memory_limit_mb=settings.runbook_memory_limit_mb,
                cpu_seconds=settings.runbook_cpu_seconds,
            ),
            timeout=min(step.timeout_seconds or STEP_TIMEOUT_CAP, STEP_TIMEOUT_CAP),
            secrets=secrets,
            cancel=threading.Event(),
            on_message=messages.append if messages is not None else lambda message: None,
        )
        outcomes[step.name] = outcome
        if outcome.status != "succeeded":
            break
        outputs[step.name] = outcome.result
    return outcomes


def statuses(outcomes: dict[str, StepOutcome]) -> dict[str, str]:
    return {name: outcome.status for name, outcome in outcomes.items()}


def shown(outcome: StepOutcome) -> str:
    """Everything of an outcome that anyone could read."""
    return "\n".join(
        [outcome.output, outcome.error or "", repr(outcome.result), outcome.traceback or ""]
    )


class FakeSystemctl:
    """A `systemctl` first on PATH: records each call, prints the state it is given."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        self.calls_file = folder / "calls"
        self.state_file = folder / "state"
        self.state = "active"
        script = folder / "systemctl"
        script.write_text(
            "#!/bin/sh\n"
            f'echo "$*" >> "{self.calls_file}"\n'
            '[ "$1" = is-active ] || exit 0\n'
            f'cat "{self.state_file}"\n'
            f'[ "$(cat "{self.state_file}")" = active ]\n',
            encoding="utf-8",
        )
        script.chmod(0o755)

    @property
    def state(self) -> str:
        return self.state_file.read_text(encoding="utf-8").strip()

    @state.setter
    def state(self, value: str) -> None:
        self.state_file.write_text(value + "\n", encoding="utf-8")

    @property
    def calls(self) -> list[str]:
        if not self.calls_file.exists():
            return []
        return self.calls_file.read_text(encoding="utf-8").splitlines()

    @classmethod
    def on_path(cls, folder: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSystemctl:
        """A fake in `folder` (made here), put first on PATH for the test."""
        fake = cls(folder)
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
        return fake

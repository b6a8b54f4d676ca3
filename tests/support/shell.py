"""Running the bot's terminal chat in a subprocess, lines on standard input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_shell(
    workdir: Path, lines: list[str], *args: str, **env: str
) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "INCIDENT_"))
    }
    environment.update({"DATABASE_URL": f"sqlite:///{workdir / 'bot.db'}", "COLUMNS": "200", **env})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=workdir,
        env=environment,
        timeout=60,
        check=False,
    )

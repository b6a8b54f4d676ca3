"""Every benchmark still runs: each `benchmarks/*.py`, found by name, with `--quick`.

A benchmark's figures depend on the machine, so nothing here judges them: a quick
run must exit 0, print no traceback, print figures (numbers with a unit) and the
target they are measured against. A new benchmark is covered as soon as it exists.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import SETTINGS

BENCHMARKS = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py"))
TIMEOUT = 120
FIGURE = re.compile(r"\d+(?:\.\d+)?\s?(?:ms|us|µs|s|steps/s|runs/s)\b")


def test_there_are_benchmarks():
    assert BENCHMARKS


@pytest.mark.parametrize("script", BENCHMARKS, ids=[path.stem for path in BENCHMARKS])
def test_a_quick_run_prints_figures_and_the_target(script: Path, tmp_path: Path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {setting.env for setting in SETTINGS.values()}
    }
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        env={**env, "HOME": str(tmp_path)},
        timeout=TIMEOUT,
        check=False,
    )
    shown = f"-- out:\n{done.stdout}\n-- err:\n{done.stderr}"
    assert done.returncode == 0, shown
    assert "Traceback" not in done.stdout + done.stderr, shown
    assert len(FIGURE.findall(done.stdout)) >= 3, shown
    assert re.search(r"\btarget\b", done.stdout, re.IGNORECASE), shown

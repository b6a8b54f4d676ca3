"""Where the repository is on disk, for tests that read its files or run its code."""

from __future__ import annotations

from pathlib import Path


def repo_root() -> Path:
    """The checkout's top folder (the one holding `bot/`, `tests/` and `runbooks/`)."""
    return Path(__file__).resolve().parents[2]

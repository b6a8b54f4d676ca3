"""Where `ctx.artifact` writes: a plain, unused file name in the run's artifacts folder.

The name comes from the runbook, so it is never trusted as a path: no folders,
no hidden files, and an existing file is never overwritten.
"""

from __future__ import annotations

import re
from pathlib import Path

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def write_artifact(folder: Path, name: str, data: bytes) -> Path:
    """Write `data` to a new file in `folder` (made when missing) named after `name`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = _unique(folder, safe_file_name(name))
    path.write_bytes(data)
    return path


def safe_file_name(name: str) -> str:
    """A plain file name from any string: no folders, no leading dots, at most 100 characters."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("_", base).lstrip(".")
    if len(cleaned) > 100:
        stem, dot, suffix = cleaned.rpartition(".")
        cleaned = (
            f"{stem[: 99 - len(suffix)]}.{suffix}" if dot and len(suffix) <= 10 else cleaned[:100]
        )
    return cleaned.strip("_") or "artifact"


def _unique(folder: Path, name: str) -> Path:
    """`report.txt`, or `report-2.txt`, `report-3.txt`, ... when that is taken."""
    path = folder / name
    stem, suffix = path.stem, path.suffix
    number = 2
    while path.exists():
        path = folder / f"{stem}-{number}{suffix}"
        number += 1
    return path

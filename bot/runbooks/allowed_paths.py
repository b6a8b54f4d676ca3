"""A path typed as a runbook argument: a regular file inside the folders a setting allows.

Anyone who may start a runbook can type any path, so the path is resolved the way
the step will open it (every symlink followed) before it is compared with the
folders: a symlink inside an allowed folder leads nowhere outside it. `..` is
refused outright, and /proc, /sys and /dev whatever the setting says (a process's
environment, devices that never end). The step gets the resolved path and opens
it with `bot.runbooks.files`, which checks that it still is the file checked here.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

NEVER = (Path("/proc"), Path("/sys"), Path("/dev"))
"""Never read by a runbook's path parameter, whatever folder a setting allows."""


class PathRefused(ValueError):
    """The path is not one a runbook may be given; the message says why, in a few words."""


def allowed_path(text: str, folders: Sequence[Path], setting: str) -> str:
    """The resolved path of `text` if it is inside one of `folders` (named by `setting`).

    A path that is missing or cannot be looked at is accepted (the step reports
    why it cannot read it); one that exists must be a regular file. Raises PathRefused.
    """
    path = Path(text.strip())
    if "\0" in text or not path.is_absolute():
        raise PathRefused(f"`{text}` is not an absolute path (such as /var/log/syslog)")
    if ".." in path.parts:
        raise PathRefused(f"`{text}` goes up a folder with `..`; give the path without it")
    resolved = Path(os.path.realpath(path))
    roots = [Path(os.path.realpath(folder)) for folder in folders]
    forbidden = any(place.is_relative_to(never) for never in NEVER for place in (path, resolved))
    if forbidden or not any(resolved.is_relative_to(root) for root in roots):
        listed = ", ".join(str(folder) for folder in folders) or "none"
        raise PathRefused(
            f"`{text}` is not inside the folders runbooks may read ({setting}: {listed})"
        )
    try:
        mode = os.stat(resolved).st_mode
    except OSError:
        return str(resolved)
    if not stat.S_ISREG(mode):
        raise PathRefused(f"`{text}` is not a regular file")
    return str(resolved)

"""Reading a file a Path parameter names, from inside a step: that file, and a bounded part.

The bot resolved the path and checked that it is a regular file inside the allowed
folders when the runbook was started (`bot.runbooks.allowed_paths`). By the time
the step reads it, something else may be in its place (a symlink, a FIFO that
blocks forever), so the file is opened without following a symlink and without
blocking, must be a regular file and still the path that was checked, and at most
`max_bytes` of it are read. Every refusal is an OSError whose `strerror` says why.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

CHUNK = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


@dataclass(frozen=True)
class Tail:
    """The end of a file: `data`, after `skipped` bytes that were not read."""

    data: bytes
    skipped: int


def read_tail(path: str, max_bytes: int) -> Tail:
    """The last `max_bytes` bytes (or fewer) of the regular file at the resolved `path`."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "it is a symbolic link, which is not followed") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EPERM, "it is not a regular file")
        if _opened(fd) not in (None, path):
            raise OSError(errno.EPERM, "it is not the file that was checked any more")
        skipped = max(0, info.st_size - max_bytes)
        chunks: list[bytes] = []
        offset, left = skipped, info.st_size - skipped
        while left > 0 and (chunk := os.pread(fd, min(left, CHUNK), offset)):
            chunks.append(chunk)
            offset, left = offset + len(chunk), left - len(chunk)
        return Tail(b"".join(chunks), skipped)
    finally:
        os.close(fd)


def _opened(fd: int) -> str | None:
    """The path the kernel says `fd` is open on (None where /proc cannot tell)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None

"""What a step may use of the host: memory and CPU time, enforced inside its worker process.

A parameter such as `/dev/zero` or a step stuck in a loop must not take the host
down with the bot on it. The memory limit caps the worker's address space (so a
step that asks for more gets MemoryError) and is inherited by every command the
step runs. The CPU limit is counted per step: in Python code the step gets
CpuTimeExceeded when it has used its seconds; code that never returns to Python,
and each command the step runs, are killed by the kernel (SIGXCPU) a few seconds
later. Either way the step fails and the bot carries on.
"""

from __future__ import annotations

import contextlib
import math
import signal
from collections.abc import Iterator
from types import FrameType

CPU_GRACE_SECONDS = 2
"""After its CPU time is used, how long a step has before the kernel kills its process."""
MEMORY_SETTING = "RUNBOOK_MEMORY_LIMIT_MB"
CPU_SETTING = "RUNBOOK_CPU_SECONDS"


class CpuTimeExceeded(BaseException):
    """The step used the CPU time it may; a BaseException, so `except Exception` lets it pass."""


def limit_memory(megabytes: int | None) -> None:
    """Cap this process's address space (inherited by its commands); never dump core."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if megabytes is None:
        return
    wanted = megabytes * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (wanted, wanted))


def out_of_memory(megabytes: int) -> str:
    """What a step that hit the memory limit is told."""
    return (
        f"MemoryError: the step needed more than the {megabytes} MB of memory a step may "
        f"use ({MEMORY_SETTING})"
    )


@contextlib.contextmanager
def cpu_budget(seconds: int | None) -> Iterator[None]:
    """Run the block with at most `seconds` of CPU time (None: no limit); main thread only."""
    if seconds is None:
        yield
        return
    import resource

    def exceeded(signum: int, frame: FrameType | None) -> None:
        raise CpuTimeExceeded(f"the step used its {seconds} s of CPU time ({CPU_SETTING})")

    used = resource.getrusage(resource.RUSAGE_SELF)
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)  # counted from the process's start
    backstop = math.ceil(used.ru_utime + used.ru_stime) + seconds + CPU_GRACE_SECONDS
    if soft != resource.RLIM_INFINITY:
        backstop = min(backstop, soft)
    signal.signal(signal.SIGPROF, exceeded)
    resource.setrlimit(resource.RLIMIT_CPU, (backstop, hard))
    signal.setitimer(signal.ITIMER_PROF, seconds)  # CPU time of this process, all threads
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, signal.SIG_IGN)  # one that already fired is dropped
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))

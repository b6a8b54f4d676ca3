"""Collect the last lines of the logs that matter into one file attached to the incident.

Only regular files inside the folders of RUNBOOK_LOG_DIRS (default /var/log) can be
named, and at most `max_kb` of each is read, from its end.
"""

from collections import deque
from pathlib import Path

from bot.runbooks.files import read_tail
from bot.runbooks.sdk import Param, runbook, step


@runbook(
    name="diagnostics-bundle",
    summary="Gather log tails into one file attached to the incident",
    params={
        "paths": Param(
            Path,
            inside="RUNBOOK_LOG_DIRS",
            many=True,
            help="Log files, comma-separated, e.g. /var/log/syslog,/var/log/app.log",
        ),
        "lines": Param(int, default=200, min=1, max=10000),
        "max_kb": Param(int, default=256, min=1, max=4096, help="Most read of each file, in KB"),
    },
    allowed=["declarer", "role:commander", "role:operations", "role:communications", "role:scribe"],
    timeout="5m",
)
class DiagnosticsBundle:
    @step(timeout="2m", idempotent=True)
    def collect(self, ctx):
        """Read the last lines of each file; a file that cannot be read is reported, not fatal."""
        sections = []
        for path in ctx.params.paths:
            try:
                tail = read_tail(path, ctx.params.max_kb * 1024)
            except OSError as error:
                text = f"(could not read: {error.strerror})"
                ctx.log(f"{path}: could not read ({error.strerror})")
            else:
                data = tail.data.split(b"\n", 1)[-1] if tail.skipped else tail.data
                kept = deque(data.splitlines(keepends=True), maxlen=ctx.params.lines)
                text = b"".join(kept).decode("utf-8", errors="replace").rstrip("\n")
                cut = f" (the last {ctx.params.max_kb} KB)" if tail.skipped else ""
                ctx.log(f"{path}: {len(kept)} lines{cut}")
            sections.append(f"==> {path} <==\n{text}\n")
        if ctx.dry_run:
            ctx.log("would attach the bundle to the incident")
            return {"files": len(sections)}
        attached = ctx.artifact("diagnostics.txt", "\n".join(sections))
        ctx.note(f"Diagnostics bundle attached: {attached}")
        return {"files": len(sections), "path": attached}

"""Collect the last lines of the logs that matter into one file attached to the incident."""

from collections import deque
from pathlib import Path

from bot.runbooks.sdk import Param, runbook, step


@runbook(
    name="diagnostics-bundle",
    summary="Gather log tails into one file attached to the incident",
    params={
        "paths": Param(
            str, help="Log files, comma-separated, e.g. /var/log/syslog,/var/log/app.log"
        ),
        "lines": Param(int, default=200, min=1, max=10000),
    },
    allowed=["anyone"],
    timeout="5m",
)
class DiagnosticsBundle:
    @step(timeout="2m", idempotent=True)
    def collect(self, ctx):
        """Read the last lines of each file; a missing file is reported, not fatal."""
        sections = []
        for raw in ctx.params.paths.split(","):
            path = Path(raw.strip())
            if not raw.strip():
                continue
            try:
                with path.open("rb") as log_file:  # streamed: a huge log is never all in memory
                    tail = deque(log_file, maxlen=ctx.params.lines)
                text = b"".join(tail).decode("utf-8", errors="replace").rstrip("\n")
                ctx.log(f"{path}: {len(tail)} lines")
            except OSError as error:
                text = f"(could not read: {error.strerror})"
                ctx.log(f"{path}: could not read ({error.strerror})")
            sections.append(f"==> {path} <==\n{text}\n")
        if ctx.dry_run:
            ctx.log("would attach the bundle to the incident")
            return {"files": len(sections)}
        attached = ctx.artifact("diagnostics.txt", "\n".join(sections))
        ctx.note(f"Diagnostics bundle attached: {attached}")
        return {"files": len(sections), "path": attached}

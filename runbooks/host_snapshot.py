"""What does this host look like right now? Disk, memory, load and the busiest processes."""

import os
import shutil

from bot.runbooks.sdk import Param, runbook, step


@runbook(
    name="host-snapshot",
    summary="Record disk, memory, load and the top processes of the bot's host",
    params={
        "path": Param(str, default="/", pattern=r"/.*", help="Filesystem to measure (absolute)"),
        "top": Param(int, default=10, min=1, max=100),
    },
    allowed=["anyone"],
    timeout="2m",
)
class HostSnapshot:
    @step(timeout="20s", idempotent=True)
    def disk(self, ctx):
        """Free space on the filesystem."""
        usage = shutil.disk_usage(ctx.params.path)
        used = 100 * usage.used / usage.total
        ctx.log(f"{ctx.params.path}: {used:.1f}% used, {usage.free // 2**30} GiB free")
        return {"used_percent": round(used, 1), "free_bytes": usage.free}

    @step(timeout="20s", idempotent=True)
    def memory_and_load(self, ctx):
        """Available memory and the load averages."""
        info = {}
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                key, value = line.split(":", 1)
                info[key] = int(value.split()[0])
        available = 100 * info["MemAvailable"] / info["MemTotal"]
        load = os.getloadavg()
        ctx.log(
            f"memory: {available:.1f}% available; load: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        return {"memory_available_percent": round(available, 1), "load": list(load)}

    @step(timeout="20s", idempotent=True)
    def top_processes(self, ctx):
        """The processes using the most CPU."""
        result = ctx.run(["ps", "-eo", "pid,comm,%cpu,%mem", "--sort=-%cpu"], timeout=10)
        lines = result.stdout.splitlines()[: ctx.params.top + 1]
        return {"top": lines}

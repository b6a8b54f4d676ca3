"""First response for a SEV1 on the API: capture the host's state, then restart after approval.

Starts by itself when a SEV1 is declared for service `api`. The restart is a
dry run unless the runbook is started with confirm=true, and waits for someone
other than the requester to approve it. The unit is checked like
restart-systemd-service's: a service, socket or timer listed in RUNBOOK_SYSTEMD_UNITS
(so on default settings the runbook does not start: list api.service there).
"""

import os

from bot.runbooks.sdk import Approval, Param, on_declare, runbook, step


@runbook(
    name="api-first-response",
    summary="SEV1 on the API: snapshot the host, then restart the API after approval",
    params={
        "unit": Param(
            str,
            default="api.service",
            pattern=r"[A-Za-z0-9_][A-Za-z0-9_.:-]*(@[A-Za-z0-9_.:-]+)?\.(service|socket|timer)",
            listed_in="RUNBOOK_SYSTEMD_UNITS",
            help="The API's systemd unit: a service, socket or timer, not a target",
        ),
        "confirm": Param(bool, default=False, help="Really restart; otherwise a dry run"),
    },
    triggers=[on_declare(severity=["SEV1"], service="api", mode="start")],
    allowed=["role:commander", "role:operations"],
    timeout="30m",
)
class ApiFirstResponse:
    @step(timeout="30s", idempotent=True)
    def snapshot(self, ctx):
        """Load and memory before anyone touches anything."""
        load = os.getloadavg()
        ctx.log(f"load averages: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        ctx.note(f"{ctx.incident['reference']}: load {load[0]:.2f} at first response")
        return {"load": list(load)}

    @step(approval=Approval(roles=["commander"], not_requester=True, ttl="30m"), timeout="3m")
    def restart(self, ctx):
        """Restart the API (approved by a commander other than the requester)."""
        command = ["systemctl", "restart", "--", ctx.params.unit]
        if not ctx.params.confirm:
            ctx.log(f"would run: {' '.join(command)} (start with confirm=true to do it)")
            return {"restarted": False}
        ctx.run(command, timeout=120)
        return {"restarted": not ctx.dry_run}

"""Restart a systemd service after approval; without confirm=true it only says what it would do.

The unit must be a plain unit name (never a target such as reboot.target) listed in
RUNBOOK_SYSTEMD_UNITS, and `--` goes before it on every systemctl call, so nothing
typed in chat is read as an option. Someone other than the requester approves.
"""

from bot.runbooks.sdk import Approval, Param, on_failure, runbook, step


@runbook(
    name="restart-systemd-service",
    summary="Restart a systemd unit after approval (a dry run unless confirm=true)",
    params={
        "unit": Param(
            str,
            pattern=r"[A-Za-z0-9_][A-Za-z0-9_.:-]*(@[A-Za-z0-9_.:-]+)?\.(service|socket|timer)",
            listed_in="RUNBOOK_SYSTEMD_UNITS",
            help="The systemd unit, e.g. api.service: a service, socket or timer, not a target",
        ),
        "confirm": Param(bool, default=False, help="Really restart; otherwise a dry run"),
    },
    allowed=["role:commander", "role:operations"],
    timeout="15m",
)
class RestartSystemdService:
    def _systemctl(self, ctx, *args, check=True):
        command = ["systemctl", *args, "--", ctx.params.unit]
        if not ctx.params.confirm:
            ctx.log(f"would run: {' '.join(command)} (confirm=true to do it)")
            return None
        return ctx.run(command, timeout=120, check=check)

    @step(timeout="30s", idempotent=True)
    def status_before(self, ctx):
        """How the unit is doing before the restart."""
        command = ["systemctl", "is-active", "--", ctx.params.unit]
        result = ctx.run(command, timeout=20, check=False)
        return {"active": result.stdout.strip()}

    @step(approval=Approval(roles=["commander"], not_requester=True, ttl="15m"))
    def restart(self, ctx):
        """The restart itself, once someone other than the requester approved it."""
        self._systemctl(ctx, "restart")
        return {"restarted": bool(ctx.params.confirm) and not ctx.dry_run}

    @step(timeout="2m", idempotent=True)
    def status_after(self, ctx):
        """The unit must be active again."""
        command = ["systemctl", "is-active", "--", ctx.params.unit]
        result = ctx.run(command, timeout=20, check=False)
        state = result.stdout.strip()
        if ctx.params.confirm and not ctx.dry_run and state != "active":
            raise RuntimeError(f"{ctx.params.unit} is {state or 'unknown'} after the restart")
        return {"active": state}

    @on_failure
    def report(self, ctx, failed_step, error):
        """No automatic undo for a restart: say what state the unit is in."""
        ctx.note(f"restart of {ctx.params.unit} failed at {failed_step}: {error}")

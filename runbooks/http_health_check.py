"""Is the service answering? An HTTP check with an expected status and a latency limit.

The URL is refused, before any connection, when it or a redirect leads to a loopback,
private, link-local or cloud metadata address whose host or network the bot's
RUNBOOK_HTTP_ALLOW setting does not list; the error says what to add there.
"""

from bot.runbooks.sdk import Param, Retry, runbook, step


@runbook(
    name="http-health-check",
    summary="Check that a URL answers with the expected status, fast enough",
    params={
        "url": Param(
            str,
            help="The URL to check, e.g. https://api.example.com/healthz (an internal host "
            "only when the RUNBOOK_HTTP_ALLOW setting lists it)",
        ),
        "expect_status": Param(int, default=200, min=100, max=599),
        "max_latency_ms": Param(int, default=1000, min=1),
    },
    allowed=["anyone"],
    timeout="5m",
)
class HttpHealthCheck:
    @step(timeout="30s", retry=Retry(attempts=3, delay="2s", backoff=2.0), idempotent=True)
    def check(self, ctx):
        """Request the URL; fail on a wrong status or a slow answer (retried)."""
        answer = ctx.http("GET", ctx.params.url, timeout=10)
        if ctx.dry_run:
            return {"dry_run": True}
        ctx.log(f"{ctx.params.url} answered {answer.status} in {answer.elapsed_ms:.0f} ms")
        if answer.status != ctx.params.expect_status:
            raise RuntimeError(f"expected status {ctx.params.expect_status}, got {answer.status}")
        if answer.elapsed_ms > ctx.params.max_latency_ms:
            raise RuntimeError(
                f"answer took {answer.elapsed_ms:.0f} ms, over {ctx.params.max_latency_ms} ms"
            )
        return {"status": answer.status, "elapsed_ms": round(answer.elapsed_ms)}

"""When does the TLS certificate run out? Expired or soon-expiring certificates cause outages."""

import socket
import ssl
import time

from bot.runbooks.sdk import Param, runbook, step


@runbook(
    name="tls-certificate-expiry",
    summary="Check the days left on a server's TLS certificate",
    params={
        "host": Param(
            str, pattern=r"[A-Za-z0-9][A-Za-z0-9_.:-]*", help="Host name as clients use it"
        ),
        "port": Param(int, default=443, min=1, max=65535),
        "warn_days": Param(int, default=14, min=0),
        "ca_file": Param(
            str,
            required=False,
            pattern=r"(/[^/]+)+\.(pem|crt|cer)",
            help="CA bundle for private certificates (a .pem, .crt or .cer file)",
        ),
    },
    allowed=["anyone"],
    timeout="2m",
)
class TlsCertificateExpiry:
    @step(timeout="30s", idempotent=True)
    def check(self, ctx):
        """Connect, verify the chain and name, and compare the expiry with the warning limit."""
        host, port = ctx.params.host, ctx.params.port
        if ctx.dry_run:
            ctx.log(f"would connect to {host}:{port} and read its certificate")
            return {"dry_run": True}
        context = ssl.create_default_context(cafile=ctx.params.ca_file or None)
        try:
            with (
                socket.create_connection((host, port), timeout=10) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                certificate = tls.getpeercert()
        except ssl.SSLCertVerificationError:
            raise  # its message says what is wrong with the certificate
        except ssl.SSLError as error:
            raise RuntimeError(
                f"{host}:{port} did not complete a TLS handshake (is it a TLS port?): {error}"
            ) from None
        except OSError as error:
            raise RuntimeError(f"cannot connect to {host}:{port}: {error}") from None
        expires = ssl.cert_time_to_seconds(certificate["notAfter"])
        days_left = int((expires - time.time()) // 86400)
        ctx.log(f"{host}:{port} certificate expires {certificate['notAfter']} ({days_left} days)")
        if days_left < ctx.params.warn_days:
            raise RuntimeError(
                f"the certificate expires in {days_left} days, within {ctx.params.warn_days}"
            )
        return {"days_left": days_left, "not_after": certificate["notAfter"]}

"""The HTTP front: what a request must be before Bolt acts on it, and one line per refusal.

Slack's own requests are small, signed and well formed; anything else is refused
before it costs much. A body over the cap is answered 413 by waitress from its
Content-Length, before the body is read; a body that is not UTF-8 or does not parse
gets 400; a request without a valid signature gets 401. Each refusal is logged as one
line with the reason and the remote address, never the body: it may hold a secret
(a genuine request that arrived late) or forge log lines.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.middleware import Middleware
from slack_sdk.signature import SignatureVerifier
from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask

log = logging.getLogger(__name__)

# The BoltContext key under which the front hands the peer's address to the middleware.
REMOTE_ADDRESS = "remote_address"
UNKNOWN_ADDRESS = "an unknown address"
TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
# slack_sdk's SignatureVerifier accepts a request this many seconds old, and no older.
TIMESTAMP_TOLERANCE = 5 * 60


def refused(remote: str, reason: str) -> None:
    """The one line logged for a refused request; `reason` never holds what was sent."""
    log.warning("Refused a request from %s: %s", remote, reason)


class SignedRequests(Middleware):
    """Slack's signature check in place of Bolt's own, which fails on a timestamp that is
    not a number and logs the whole body of every request it refuses.

    As Bolt's own, it checks only what came over HTTP: a request the bot replays from its
    inbox is dispatched in Socket Mode's form (only the bot makes those), unsigned.
    """

    def __init__(self, signing_secret: str) -> None:
        self._verifier = SignatureVerifier(signing_secret)

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        if req.mode == "socket_mode":
            return next()
        problem = self._problem(req)
        if problem is None:
            return next()
        refused(str(req.context.get(REMOTE_ADDRESS) or UNKNOWN_ADDRESS), problem)
        return BoltResponse(status=401, body={"error": "invalid request"})

    def _problem(self, req: BoltRequest) -> str | None:
        timestamp = _header(req, "x-slack-request-timestamp")
        signature = _header(req, "x-slack-signature")
        if timestamp is None or signature is None:
            return "it is not signed (no X-Slack-Signature or X-Slack-Request-Timestamp)"
        if not TIMESTAMP.fullmatch(timestamp):
            return "its X-Slack-Request-Timestamp is not a number"
        if abs(self._verifier.clock.now() - int(timestamp)) > TIMESTAMP_TOLERANCE:
            return "it was signed more than 5 minutes ago (late, or replayed)"
        if not SIGNATURE.fullmatch(signature):
            return "its X-Slack-Signature is not of the form v0=<64 hex digits>"
        if not self._verifier.is_valid(req.raw_body, timestamp, signature):
            return "its signature does not match the signing secret"
        return None


def _header(req: BoltRequest, name: str) -> str | None:
    values = req.headers.get(name) or []
    return values[0] if values else None


class SlackFront(SlackRequestHandler):
    """Bolt's WSGI adapter, answering 400 for a body Bolt cannot read instead of failing."""

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        remote = str(request.environ.get("REMOTE_ADDR") or UNKNOWN_ADDRESS)
        try:
            bolt_request = BoltRequest(
                body=request.get_body(),
                query=request.query_string,
                headers=request.get_headers(),
                context={REMOTE_ADDRESS: remote},
            )
        except UnicodeDecodeError:
            return _malformed(remote, "its body is not UTF-8")
        except Exception as error:  # the body is all that varies here: it is malformed
            return _malformed(remote, f"its body does not parse ({type(error).__name__})")
        return self.app.dispatch(bolt_request)


def _malformed(remote: str, reason: str) -> BoltResponse:
    refused(remote, reason)
    return BoltResponse(status=400, body={"error": "malformed request"})


class _RefusalLoggingErrorTask(ErrorTask):  # type: ignore[misc]  # waitress has no type hints
    """waitress's own refusals (a body over the cap, malformed HTTP), logged like the front's."""

    def execute(self) -> None:
        error = self.request.error
        if error.code == 413:
            refused(_peer(self.channel.addr), "its body is larger than SLACK_MAX_BODY_BYTES")
        elif error.code < 500:
            refused(_peer(self.channel.addr), f"waitress answered {error.code} {error.reason}")
        super().execute()


class _Channel(HTTPChannel):  # type: ignore[misc]
    error_task_class = _RefusalLoggingErrorTask


def _peer(addr: Any) -> str:
    return str(addr[0]) if isinstance(addr, tuple) and addr else UNKNOWN_ADDRESS


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _routed(front: SlackFront, path: str, others: WsgiApp) -> WsgiApp:
    """Slack's requests at `path` to Bolt, every other path to `others`."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") == path:
            return front(environ, start_response)
        return others(environ, start_response)

    return app


def create_http_server(
    app: App,
    *,
    path: str,
    host: str,
    port: int,
    max_body_bytes: int,
    threads: int,
    others: WsgiApp | None = None,
) -> Any:
    """A waitress server for the Bolt app at `path` (and `others` on every other path);
    bodies over `max_body_bytes` are refused."""
    sockets: dict[int, Any] = {}
    front = SlackFront(app, path=path)
    server = create_server(
        front if others is None else _routed(front, path, others),
        map=sockets,
        host=host,
        port=port,
        threads=threads,
        # waitress refuses a body of this size or more, from its Content-Length.
        max_request_body_size=max_body_bytes + 1,
    )
    for listener in sockets.values():  # one per address listened on
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = _Channel
    return server

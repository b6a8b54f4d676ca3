"""Durable before acknowledged: each Slack request is stored before its listener acks it.

Listeners ack first thing, so the `Intake` middleware, which runs before any of them,
commits the request to the inbox first: a replica that dies after the ack leaves the
request for another to replay (bot/chat/slack/replay.py). A request already stored (a
byte-identical replay, a retry with X-Slack-Retry-Num, one event sent to two replicas)
gets an empty 200 and nothing else. When the database cannot store it, the request is
not acknowledged at all: Slack tells the person, or delivers the event again.

`finishes` wraps each listener so that its stored request ends handled when the
listener is done, for the requests nothing claimed (reads, refusals, form errors).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import Ack, BoltContext, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from bot.chat.slack.services import SlackServices
from bot.commands import inbox
from bot.commands.handler import KeptForLater
from bot.commands.inbox import database_unavailable, in_one_line
from bot.storage.replicas import LeaseTerms

log = logging.getLogger(__name__)

# The BoltContext keys: the request's inbox key, and the mark of a replayed request.
REQUEST_KEY = "request_key"
REPLAYED = "replayed"
# How long storing a request may keep trying: well within the 3 s Slack waits for an ack.
STORE_SECONDS = 2.0

Listener = Callable[..., Any]


def key_of(body: dict[str, Any]) -> str | None:
    """The inbox key of a request (Slack's trigger or event id), or None for requests that
    are not stored: URL verification, SSL checks, a closed form."""
    kind = body.get("type")
    trigger = body.get("trigger_id")
    if body.get("command") and trigger:
        return f"command:{trigger}"
    if kind in ("block_actions", "view_submission") and trigger:
        return f"interaction:{trigger}"
    if kind == "event_callback" and body.get("event_id"):
        return f"event:{body['event_id']}"
    return None


def request_key(context: BoltContext) -> str | None:
    """The inbox key Intake gave this request, for the listener's `Context`."""
    key = context.get(REQUEST_KEY)
    return key if isinstance(key, str) else None


class Intake(Middleware):
    """Stores each keyed request, held by this replica for its lease, before it runs."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        terms: LeaseTerms,
    ) -> None:
        self.session_factory = session_factory
        self.terms = terms
        self._retrying = Retrying(
            retry=retry_if_exception(database_unavailable),
            stop=stop_after_delay(STORE_SECONDS),
            wait=wait_exponential(multiplier=0.1, max=0.5),
            reraise=True,
        )

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        key = key_of(req.body)
        if key is None:
            return next()
        req.context[REQUEST_KEY] = key
        if req.context.get(REPLAYED):
            return next()  # stored when it first came
        try:
            # One arrival time for every try: it tells this call's own row from a replay's.
            first = self._retrying(self._store, key, req.body, self.terms.wall_clock())
        except Exception as error:
            if database_unavailable(error):
                log.warning(
                    "Did not acknowledge %s: the database did not store it (%s)",
                    key,
                    in_one_line(error),
                )
            else:
                log.exception("Did not acknowledge %s: storing it failed", key)
            return BoltResponse(status=503, body="")
        if not first:
            log.info("%s came again; acknowledged, and left to its first arrival", key)
            return BoltResponse(status=200, body="")
        return next()

    def _store(self, key: str, body: dict[str, Any], now: datetime) -> bool:
        with self.session_factory() as session:
            stored = inbox.store(
                session, key, body=body, owner=self.terms.replica, now=now, lease=self.terms.lease
            )
            session.commit()
        return stored


def ack_at_once(ack: Ack) -> None:
    """Every listener's ack: the request is already stored (Intake ran first), so it is
    acknowledged at once, in the request's own thread, while the work itself runs as
    the listener's lazy function in the listener pool; a busy pool never delays an ack."""
    ack()


def finishes(services: SlackServices) -> Callable[[Listener], Listener]:
    """Wrap a listener so that, when it returns or fails, its stored request ends handled
    unless something already marked it.

    Left stored instead (to be replayed): a command the database did not take (the
    listener returns the `KeptForLater` answer), and a listener the database broke off.
    The listener takes `context`, where the request's key is.
    """

    def wrap(listener: Listener) -> Listener:
        if "context" not in inspect.signature(listener).parameters:
            raise TypeError(f"{listener.__name__} must take `context` to finish its request")

        # Bolt reads the parameters through __wrapped__ and passes just those, by name.
        @functools.wraps(listener)
        def finishing(**kwargs: Any) -> None:
            key = request_key(kwargs["context"])
            try:
                answered = listener(**kwargs)
            except Exception as error:
                if key is not None and not database_unavailable(error):
                    services.finish(key)
                raise
            if key is not None and not isinstance(answered, KeptForLater):
                services.finish(key)

        return finishing

    return wrap

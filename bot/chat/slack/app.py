"""The Bolt app: one place that builds it and registers every listener."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult

from bot.chat.slack import buttons, capture_events, forms, slash
from bot.chat.slack.http_front import SignedRequests
from bot.chat.slack.intake import REPLAYED, Intake, request_key
from bot.chat.slack.services import SlackServices
from bot.storage.replicas import LeaseTerms

log = logging.getLogger(__name__)
LISTENER_THREADS = 16
# Told how long each request took to its ack, and the ack's HTTP status.
AckObserver = Callable[[float, int], None]


class _BotApp(App):
    """Bolt's App, timing each request to its ack, and finishing a stored request that no
    listener takes (so it is not replayed for nothing).

    With process_before_response on and every listener's work lazy, `dispatch` returns
    once the request is stored and acked (in HTTP and in Socket Mode alike); a replay is
    no ack to Slack and is not timed.
    """

    def __init__(
        self, *, observe_ack: AckObserver, finish: Callable[[str], None], **options: Any
    ) -> None:
        super().__init__(**options)
        self._observe_ack = observe_ack
        self._finish = finish

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        started = time.perf_counter()
        response = super().dispatch(req)
        if not req.context.get(REPLAYED):
            self._observe_ack(time.perf_counter() - started, response.status)
        return response

    def _handle_unmatched_requests(self, req: BoltRequest, resp: BoltResponse) -> BoltResponse:
        key = request_key(req.context)
        if key is not None:
            self._finish(key)
        return super()._handle_unmatched_requests(req, resp)


def create_app(services: SlackServices, *, socket_mode: bool, observe_ack: AckObserver) -> App:
    """Build the Bolt app; nothing here talks to Slack until a request arrives."""
    settings, chat = services.settings, services.chat

    def authorize(**_: Any) -> AuthorizeResult:
        # No network here: Slack being slow must not stop a request from being handled.
        return AuthorizeResult(
            enterprise_id=None,
            team_id=None,
            bot_token=settings.slack_bot_token,
            bot_user_id=chat.known_bot_user_id,
        )

    app = _BotApp(
        observe_ack=observe_ack,
        finish=services.finish,
        client=chat.client,
        signing_secret=settings.slack_signing_secret or None,
        authorize=authorize,
        # Over HTTP, SignedRequests checks signatures in place of Bolt's own check.
        request_verification_enabled=False,
        before_authorize=None if socket_mode else SignedRequests(settings.slack_signing_secret),
        token_verification_enabled=False,
        # Middleware (the intake) and each ack run in the request thread, before the
        # response; the work runs as lazy listeners in the pool.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS),
    )
    # Runs after the signature check and before every listener: nothing is acked unstored.
    app.use(
        Intake(
            services.session_factory,
            terms=LeaseTerms.of(services.replica, settings.inbox_lease_seconds),
        )
    )
    slash.register(app, services)
    forms.register(app, services)
    buttons.register(app, services)
    capture_events.register(app, services)
    return app

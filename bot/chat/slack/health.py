"""`/healthz`, `/readyz` and `/metrics`: what a load balancer and Prometheus ask a replica.

`/healthz` answers while the process serves at all. `/readyz` answers 200 only when the
database answers, its schema is at the newest migration and chat work is not stuck (the
oldest pending item is younger than READY_OUTBOX_MAX_AGE); otherwise 503 with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from prometheus_client import make_wsgi_app
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.slack.http_front import WsgiApp
from bot.chat.slack.metrics import BotMetrics
from bot.clock import Clock
from bot.storage import outbox
from bot.storage.database import alembic_config


class Readiness:
    """Whether this replica should be sent traffic, and if not, why."""

    def __init__(
        self, session_factory: sessionmaker[Session], *, max_outbox_age: timedelta, clock: Clock
    ) -> None:
        self._session_factory = session_factory
        self._max_outbox_age = max_outbox_age
        self._clock = clock
        self._head: str | None = None

    def problem(self) -> str | None:
        """None when ready; else one line saying what is wrong."""
        try:
            with self._session_factory() as session:
                current = MigrationContext.configure(session.connection()).get_current_revision()
                head = self._head_revision(session)
                if current != head:  # the outbox may not even be there yet
                    shown = current or "no revision (empty)"
                    return f"the database schema is at {shown}, not the newest migration {head}"
                oldest = outbox.oldest_pending_at(session)
        except SQLAlchemyError as error:
            return f"the database is unreachable ({type(error).__name__})"
        return self._stalled(oldest)

    def _head_revision(self, session: Session) -> str | None:
        if self._head is None:  # the migrations on disk do not change while running
            engine = session.get_bind()
            self._head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()  # type: ignore[arg-type]
        return self._head

    def _stalled(self, oldest: datetime | None) -> str | None:
        if oldest is None:
            return None
        age, limit = self._clock() - oldest, self._max_outbox_age
        if age <= limit:
            return None
        return (
            f"chat delivery is stalled: the oldest pending item has waited "
            f"{int(age.total_seconds())} s (more than {int(limit.total_seconds())} s)"
        )


def endpoints(readiness: Readiness, metrics: BotMetrics) -> WsgiApp:
    """The WSGI app answering the three paths (anything else: 404)."""
    prometheus = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return prometheus(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            return _plain(start_response, "200 OK", "ok")
        if path == "/readyz":
            problem = readiness.problem()
            if problem is None:
                return _plain(start_response, "200 OK", "ready")
            return _plain(start_response, "503 Service Unavailable", f"not ready: {problem}")
        return _plain(start_response, "404 Not Found", "not found")

    return app


def _plain(start_response: Callable[..., Any], status: str, body: str) -> list[bytes]:
    data = (body + "\n").encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))]
    )
    return [data]

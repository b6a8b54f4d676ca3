"""What `/metrics` shows: counters the Slack adapter moves, and gauges read from the database.

Each bot has its own registry, so two bots in one process (tests) never share counts.
What lives in the database (pending chat work, open incidents, finished runbook runs) is
read when Prometheus scrapes, so it is true for every replica and never kept in step by hand.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.storage import outbox
from bot.storage.models import Incident, RunbookRun, Status

# Slack wants an ack within 3 s; the buckets are finer below that.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
NOT_OPEN = (Status.RESOLVED, Status.CLOSED)


def replica_name(configured: str) -> str:
    """The configured replica id, or hostname-pid."""
    return configured or f"{socket.gethostname()}-{os.getpid()}"


class BotMetrics:
    """The bot's metrics, in a registry of its own."""

    def __init__(
        self,
        *,
        replica: str,
        session_factory: sessionmaker[Session],
        clock: Clock,
    ) -> None:
        self.registry = CollectorRegistry()
        self.acks = Counter(
            "incident_bot_acks",
            "Requests from Slack answered, by outcome (ok: 2xx, else error).",
            ["outcome"],
            registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "incident_bot_ack_seconds",
            "Time from a request reaching Bolt to its ack, in seconds.",
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.slack_calls = Counter(
            "incident_bot_slack_api_calls",
            "Slack Web API answers by method and outcome; each 429 counts, retried or not.",
            ["method", "outcome"],
            registry=self.registry,
        )
        replica_gauge = Gauge(
            "incident_bot_replica",
            "This process, by replica id.",
            ["replica"],
            registry=self.registry,
        )
        replica_gauge.labels(replica=replica).set(1)
        self.registry.register(DatabaseCollector(session_factory, clock))

    def slack_call(self, method: str, outcome: str) -> None:
        """Count one Slack answer; `method` as Slack names it (conversations.create)."""
        self.slack_calls.labels(method=method, outcome=outcome).inc()

    def ack(self, seconds: float, status: int) -> None:
        """Count one ack and how long it took; a status of 300 or more is an error."""
        self.ack_seconds.observe(seconds)
        self.acks.labels(outcome="ok" if status < 300 else "error").inc()


class DatabaseCollector(Collector):
    """Pending chat work, open incidents and finished runs, read at scrape time."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        with self._session_factory() as session:
            pending = outbox.pending_count(session)
            oldest = outbox.oldest_pending_at(session)
            by_severity = session.execute(
                select(Incident.severity, func.count(Incident.id))
                .where(Incident.status.not_in(NOT_OPEN))
                .group_by(Incident.severity)
            ).all()
            by_outcome = session.execute(
                select(RunbookRun.status, func.count(RunbookRun.id))
                .where(RunbookRun.finished_at.is_not(None))
                .group_by(RunbookRun.status)
            ).all()
        yield GaugeMetricFamily(
            "incident_bot_outbox_pending", "Chat work not yet delivered nor given up.", pending
        )
        yield GaugeMetricFamily(
            "incident_bot_outbox_oldest_pending_seconds",
            "Age of the oldest pending chat work (0 when none waits).",
            _age(self._clock(), oldest),
        )
        incidents = GaugeMetricFamily(
            "incident_bot_open_incidents", "Open incidents by severity.", labels=["severity"]
        )
        for severity, count in by_severity:
            incidents.add_metric([severity], count)
        yield incidents
        runs = CounterMetricFamily(
            "incident_bot_runbook_runs",
            "Finished runbook runs by outcome, from the database (every replica's).",
            labels=["outcome"],
        )
        for status, count in by_outcome:
            runs.add_metric([status], count)
        yield runs


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0

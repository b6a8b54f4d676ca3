"""The ORM models: incidents, their roles, timeline and action items."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    PostgreSQL keeps the zone itself; SQLite stores naive text, so values are
    normalised to UTC on the way in and marked as UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Status(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"


class ActionKind(StrEnum):
    PREVENT = "prevent"
    MITIGATE = "mitigate"
    DETECT = "detect"
    PROCESS = "process"


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


# Ids and incident numbers are 32-bit integers on every database; a larger one
# typed by someone cannot exist and must not reach a query, where it would fail.
MAX_ID = 2**31 - 1


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class IncidentSequence(Base):
    """The single row that hands out gap-free incident numbers.

    Incrementing it takes a row lock that is held until the declaring
    transaction ends, so concurrent declarations queue instead of colliding,
    and a rolled-back declaration gives its number back.
    """

    __tablename__ = "incident_sequence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    # The incident's id in the system it was imported from, so importing it again is a no-op.
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")  # the impact, as declared
    summary: Mapped[str] = mapped_column(Text, default="")  # what resolved it
    severity: Mapped[str] = mapped_column(String(32))
    service: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32), index=True)
    declared_by: Mapped[str] = mapped_column(String(200))
    channel_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    channel_name: Mapped[str | None] = mapped_column(String(200))
    summary_message_ref: Mapped[str | None] = mapped_column(String(200))
    announcement_ref: Mapped[str | None] = mapped_column(String(200))  # the declared post

    started_at: Mapped[datetime | None]  # impact began
    impact_ended_at: Mapped[datetime | None]  # users stopped being affected
    impact_fraction: Mapped[float | None] = mapped_column(Float)  # share affected, 0 < f <= 1
    detected_at: Mapped[datetime | None]
    declared_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    mitigated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="incident", order_by="RoleAssignment.id"
    )
    events: Mapped[list[TimelineEvent]] = relationship(
        back_populates="incident", order_by="TimelineEvent.id"
    )
    action_items: Mapped[list[ActionItem]] = relationship(
        back_populates="incident", order_by="ActionItem.id"
    )

    @property
    def reference(self) -> str:
        return f"INC-{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status not in (Status.RESOLVED, Status.CLOSED)

    def current_roles(self) -> dict[str, str]:
        """Role name -> the person holding it now."""
        return {a.role: a.holder for a in self.roles if a.ended_at is None}


class RoleAssignment(Base):
    """Who held a role and when; ended assignments are kept for the history."""

    __tablename__ = "role_assignments"
    __table_args__ = (Index("ix_role_assignments_incident_role", "incident_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(64))
    holder: Mapped[str] = mapped_column(String(200))
    assigned_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(200))

    incident: Mapped[Incident] = relationship(back_populates="roles")


class EventKind(StrEnum):
    """What a timeline event records; stored as its value in `timeline_events.kind`."""

    DECLARED = "declared"
    STATUS_CHANGED = "status_changed"
    REOPENED = "reopened"
    SEVERITY_CHANGED = "severity_changed"
    MILESTONE_SET = "milestone_set"
    ROLE_ASSIGNED = "role_assigned"
    ROLE_UNASSIGNED = "role_unassigned"
    NOTE = "note"
    CHAT_MESSAGE = "chat_message"  # a chat message someone put on the timeline
    NOTE_EDITED = "note_edited"
    NOTE_DELETED = "note_deleted"
    ACTION_ADDED = "action_added"
    ACTION_DONE = "action_done"
    POSTMORTEM_STARTED = "postmortem_started"
    PERMISSION_REFUSED = "permission_refused"  # someone asked for a change they may not make
    RUNBOOK_STARTED = "runbook_started"
    RUNBOOK_OFFERED = "runbook_offered"
    RUNBOOK_REFUSED = "runbook_refused"
    RUNBOOK_WAITING = "runbook_waiting"
    RUNBOOK_DECISION = "runbook_decision"
    RUNBOOK_STEP = "runbook_step"
    RUNBOOK_ROLLBACK = "runbook_rollback"
    RUNBOOK_CANCEL_REQUESTED = "runbook_cancel_requested"
    RUNBOOK_FINISHED = "runbook_finished"


class TimelineEvent(Base):
    """One thing that happened during an incident.

    `occurred_at` is when it happened (scribes may log it later);
    `recorded_at` is when the bot learned of it. Notes that are edited or
    deleted keep their row: the change is itself a new event.
    """

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_events_incident_occurred", "incident_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))  # who recorded it
    # Who did what the entry says: the recorder unless a scribe logged it for someone
    # else; None for nobody in particular ("traffic increases 88x").
    done_by: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    # Where a captured chat message came from (e.g. "C123/1712345.000100"), to follow its edits.
    source_ref: Mapped[str | None] = mapped_column(String(300), index=True)

    incident: Mapped[Incident] = relationship(back_populates="events")


class ActionItem(Base):
    """Follow-up work agreed during or after an incident."""

    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(200))
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=ActionStatus.OPEN)
    kind: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]

    incident: Mapped[Incident] = relationship(back_populates="action_items")


class OutboxItem(Base):
    """Chat work decided by a change, stored in the same transaction as the change.

    A deliverer sends the items in order and marks them delivered, so a chat
    outage or a restart delays messages but never loses them.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    # Set when a call for this item began and cleared when it is delivered: a set value
    # on a pending item means the chat may have done it, so the next attempt looks first.
    attempted_at: Mapped[datetime | None]

    incident: Mapped[Incident | None] = relationship()


class DeliveryLease(Base):
    """Which replica delivers an incident's chat work now, until when; and since when
    it may be tried again after the chat asked to wait.

    One replica at a time delivers one incident's items, so their order holds; a
    lapsed lease (its replica died) is taken by another replica.
    """

    __tablename__ = "delivery_leases"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    not_before: Mapped[datetime | None]


class InboxRequest(Base):
    """A chat request (command, click, form, event) stored before it is acknowledged.

    Its key (Slack's trigger or event id) makes a replayed or redelivered request
    one request. `handled_at` is set in the transaction that acts on it, so a
    request is acted on once; one stored but never handled (its replica died) is
    replayed by another replica once its lease has lapsed.
    """

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_unhandled", "handled_at", "lease_until"),)

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    received_at: Mapped[datetime]
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    handled_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"


# A run in one of these is not over: it runs, waits to start, or waits for a person.
ACTIVE_RUN_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING_APPROVAL)


class RunbookRun(Base):
    """One run of a runbook for an incident; parameters are stored with secrets masked."""

    __tablename__ = "runbook_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    runbook: Mapped[str] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dry_run: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(32), default=RunStatus.PENDING)
    # Set for automatic starts, so one trigger can never start a second run.
    trigger_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    error: Mapped[str | None] = mapped_column(Text)
    cancelled_by: Mapped[str | None] = mapped_column(String(200))
    message_ref: Mapped[str | None] = mapped_column(String(200))  # the live output message
    # The replica executing the run and until when its lease holds (renewed by a heartbeat);
    # a run with no owner or an expired lease is recovered by whichever replica sees it first.
    owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    incident: Mapped[Incident] = relationship()
    steps: Mapped[list[RunbookStepRun]] = relationship(
        back_populates="run", order_by="RunbookStepRun.position"
    )


class RunbookStepRun(Base):
    """One step of a run: its state, attempts, output (capped) and who approved it."""

    __tablename__ = "runbook_step_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("runbook_runs.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32), default=RunStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    output: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    # A step waiting for a person (an approval, or a manual step) and what they decided.
    waiting_since: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(String(32))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    run: Mapped[RunbookRun] = relationship(back_populates="steps")


class PostmortemStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    REVIEWED = "reviewed"
    PUBLISHED = "published"


class Postmortem(Base):
    """The review of one incident: its own status, owner and due date."""

    __tablename__ = "postmortems"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(32), default=PostmortemStatus.DRAFT)
    owner: Mapped[str | None] = mapped_column(String(200))
    due_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    incident: Mapped[Incident] = relationship()

"""outbox for chat work, received chat events, incident descriptions, message sources

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("summary_message_ref", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("incidents") as batch:
        batch.alter_column("description", server_default=None)
    with op.batch_alter_table("timeline_events") as batch:
        batch.add_column(sa.Column("source_ref", sa.String(length=300), nullable=True))
    op.create_index(op.f("ix_timeline_events_source_ref"), "timeline_events", ["source_ref"])
    op.create_table(
        "received_events",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_received_events")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_outbox_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_pending", "outbox", ["delivered_at", "id"])


def downgrade() -> None:
    op.drop_table("received_events")
    op.drop_index(op.f("ix_timeline_events_source_ref"), table_name="timeline_events")
    with op.batch_alter_table("timeline_events") as batch:
        batch.drop_column("source_ref")
    op.drop_table("outbox")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("description")
        batch.drop_column("summary_message_ref")

"""chat work delivered by one replica per incident, and requests stored before their ack

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

`delivery_leases` says which replica delivers an incident's chat work; an outbox
item's `attempted_at` says a call for it may have reached the chat; an incident's
`announcement_ref` is its declared announcement. `inbox` replaces `received_events`:
each request is stored (with its body, to be replayed) before it is acknowledged,
and the events already acted on are kept as handled requests.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("announcement_ref", sa.String(length=200), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("attempted_at", UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "delivery_leases",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("not_before", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_delivery_leases_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_delivery_leases")),
    )
    op.create_table(
        "inbox",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("handled_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_inbox")),
    )
    op.create_index("ix_inbox_unhandled", "inbox", ["handled_at", "lease_until"])
    op.execute(
        "INSERT INTO inbox (key, received_at, attempts, handled_at) "
        "SELECT key, received_at, 0, received_at FROM received_events"
    )
    op.drop_table("received_events")


def downgrade() -> None:
    op.create_table(
        "received_events",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_received_events")),
    )
    op.execute(
        "INSERT INTO received_events (key, received_at) "
        "SELECT key, received_at FROM inbox WHERE handled_at IS NOT NULL"
    )
    op.drop_index("ix_inbox_unhandled", table_name="inbox")
    op.drop_table("inbox")
    op.drop_table("delivery_leases")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("attempted_at")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("announcement_ref")

"""the record: impact end and fraction, an external id, who did what an entry says

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Existing timeline entries were done by whoever recorded them (`done_by` = `actor`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("impact_ended_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("impact_fraction", sa.Float(), nullable=True))
        batch.create_unique_constraint(op.f("uq_incidents_external_id"), ["external_id"])
    with op.batch_alter_table("timeline_events") as batch:
        batch.add_column(sa.Column("done_by", sa.String(length=200), nullable=True))
    op.execute("UPDATE timeline_events SET done_by = actor")


def downgrade() -> None:
    with op.batch_alter_table("timeline_events") as batch:
        batch.drop_column("done_by")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_constraint(op.f("uq_incidents_external_id"), type_="unique")
        batch.drop_column("impact_fraction")
        batch.drop_column("impact_ended_at")
        batch.drop_column("external_id")

"""The clock: each consultation's next timer (indexed), its reminder marks, and the lease
that keeps one clock per database.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consultation") as batch:
        batch.add_column(sa.Column("reminder_offsets", sa.JSON()))
        batch.add_column(sa.Column("last_reminder_days", sa.Integer()))
        batch.add_column(sa.Column("alerts_done", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("next_due_at", UTCDateTime()))
        batch.create_index("ix_consultation_next_due_at", ["next_due_at"])
    op.create_table(
        "clock_lease",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("clock_lease")
    with op.batch_alter_table("consultation") as batch:
        batch.drop_index("ix_consultation_next_due_at")
        for column in ("next_due_at", "alerts_done", "last_reminder_days", "reminder_offsets"):
            batch.drop_column(column)

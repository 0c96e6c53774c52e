"""The installation's own random id: what makes its Message-IDs its own. Two databases
that queue the same notice to the same address (consultation 1, the invitation) gave the
same Message-ID, and a receiver that drops duplicates dropped one of them. And the clock's
heartbeat: when a tick last completed, and how often one should, so that staff see when
the clock has stopped, whoever runs it (the embedded clock or Prefect workers). And a claim
on due consultations, so that chunks of due work run on several workers at once.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""

import secrets

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(32), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "key": secrets.token_hex(16)}])
    with op.batch_alter_table("consultation") as batch:
        # Claimed by a tick's chunk run until then: another run leaves it alone meanwhile.
        batch.add_column(sa.Column("claimed_until", UTCDateTime(), nullable=True))
    op.create_table(
        "clock_beat",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("completed_at", UTCDateTime(), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("by", sa.String(120), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("clock_beat")
    with op.batch_alter_table("consultation") as batch:
        batch.drop_column("claimed_until")
    op.drop_table("installation")

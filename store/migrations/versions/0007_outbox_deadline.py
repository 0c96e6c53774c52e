"""Outbox messages remember the deadline they count on (stale ones are superseded);
a consultation's mail can be held and narrowed to an audience (stakeholders' named lists).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(sa.Column("deadline_at", UTCDateTime()))
    with op.batch_alter_table("consultation") as batch:
        batch.add_column(sa.Column("mail_held_at", UTCDateTime()))
        batch.add_column(sa.Column("audience", sa.JSON()))
    with op.batch_alter_table("stakeholder") as batch:
        batch.add_column(sa.Column("lists", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_column("deadline_at")
    with op.batch_alter_table("consultation") as batch:
        batch.drop_column("mail_held_at")
        batch.drop_column("audience")
    with op.batch_alter_table("stakeholder") as batch:
        batch.drop_column("lists")

"""Notices owed by transitions, fanned out to stakeholders after the commit.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_notice",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("consultation_id", sa.Integer(), sa.ForeignKey("consultation.id"), nullable=False),
        sa.Column("notice", sa.String(20), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("queued_at", UTCDateTime()),
        sa.Column("messages", sa.Integer()),
    )
    op.create_index("ix_pending_notice_unqueued", "pending_notice", ["queued_at"])


def downgrade() -> None:
    op.drop_table("pending_notice")

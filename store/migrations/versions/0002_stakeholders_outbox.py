"""Stakeholder registry and the transactional mail outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stakeholder",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("organisation", sa.String(200)),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("country", sa.String(2)),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("bounced", sa.Boolean(), nullable=False),
        sa.Column("bounce_reason", sa.Text()),
        sa.Column("unsubscribe_token", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_stakeholder_email", "stakeholder", ["email"], unique=True)
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("idempotency_key", sa.String(300), nullable=False, unique=True),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("consultation_id", sa.Integer(), sa.ForeignKey("consultation.id")),
        sa.Column("stakeholder_id", sa.Integer(), sa.ForeignKey("stakeholder.id")),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("recipient_email", sa.String(254), nullable=False),
        sa.Column("recipient_name", sa.String(200)),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("unsubscribe_url", sa.String(500)),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime()),
    )
    op.create_index("ix_outbox_due", "outbox_message", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_message_consultation_id", "outbox_message", ["consultation_id"])
    op.create_table(
        "outbox_body",
        sa.Column("outbox_id", sa.Integer(), sa.ForeignKey("outbox_message.id"), primary_key=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outbox_body")
    op.drop_table("outbox_message")
    op.drop_table("stakeholder")

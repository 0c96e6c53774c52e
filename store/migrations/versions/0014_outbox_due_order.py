"""The outbox's due index ends with the id, so a claim reads the next due messages in
order straight off it: it was (status, next_attempt_at), and a claim of 1,000 out of a
fan-out of 100,000 queued at the same instant sorted every pending message to take the
first 1,000 — at each of its 100 claims (bench/mail_delivery.py).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox_message")
    op.create_index("ix_outbox_due", "outbox_message", ["status", "next_attempt_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox_message")
    op.create_index("ix_outbox_due", "outbox_message", ["status", "next_attempt_at"])

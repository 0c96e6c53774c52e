"""The outbox's due index becomes two partial ones, each in the order a claim reads it:
pending messages by (next_attempt_at, id), leased ones by (lease_until, id). It was one
index of every message by (status, next_attempt_at): a claim of 1,000 out of a fan-out of
100,000 queued at the same instant sorted every pending message to take the first 1,000,
at each of its 100 claims; and a message marked sent stayed in it, so each mark rewrote
index pages it no longer needs (bench/mail_delivery.py: a third of a mark's commit).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _where(status: str) -> dict:
    clause = sa.text(f"status = '{status}'")
    return {"sqlite_where": clause, "postgresql_where": clause}


def upgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox_message")
    op.create_index("ix_outbox_pending", "outbox_message", ["next_attempt_at", "id"], **_where("pending"))
    op.create_index("ix_outbox_sending", "outbox_message", ["lease_until", "id"], **_where("sending"))


def downgrade() -> None:
    op.drop_index("ix_outbox_sending", table_name="outbox_message")
    op.drop_index("ix_outbox_pending", table_name="outbox_message")
    op.create_index("ix_outbox_due", "outbox_message", ["status", "next_attempt_at"])

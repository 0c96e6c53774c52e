"""Respondents: how each response is published (with the name, without it, not at all),
when its address was confirmed (or a moderator approved it), withdrawal, amendments kept as
versions in the response's own log, the private link's digest; per consultation, what publishes a response.

Responses stored before confirmation existed were public at once: they count as confirmed
at their receipt.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submission") as batch:
        batch.add_column(sa.Column("publication", sa.String(12), nullable=False, server_default="named"))
        batch.add_column(sa.Column("confirmed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("confirmed_by", sa.String(120), nullable=True))
        batch.add_column(sa.Column("withdrawn_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("amended_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("link_digest", sa.String(64), nullable=True))
        batch.create_index("ix_submission_link_digest", ["link_digest"], unique=True)
        # The clock looks for responses left unconfirmed past their expiry at every tick.
        batch.create_index("ix_submission_unconfirmed", ["confirmed_at", "received_at"])
    op.execute("UPDATE submission SET confirmed_at = received_at, confirmed_by = channel")
    with op.batch_alter_table("consultation") as batch:
        batch.add_column(sa.Column("publish_after", sa.String(12), nullable=False, server_default="confirmation"))
    op.create_table(
        "submission_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("submission_id", sa.Integer(), sa.ForeignKey("submission.id"), nullable=False, index=True),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("replaced", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("submission_event")
    with op.batch_alter_table("consultation") as batch:
        batch.drop_column("publish_after")
    with op.batch_alter_table("submission") as batch:
        batch.drop_index("ix_submission_unconfirmed")
        batch.drop_index("ix_submission_link_digest")
        for name in ("link_digest", "version", "amended_at", "withdrawn_at", "confirmed_by", "confirmed_at",
                     "publication"):  # fmt: skip
            batch.drop_column(name)

"""Documents as issued: the letter, addenda, the published compilation, the report.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("consultation_id", sa.Integer(), sa.ForeignKey("consultation.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("letter_number", sa.String(40)),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.UniqueConstraint("consultation_id", "kind", "seq", name="uq_document_kind_seq"),
    )
    op.create_index("ix_document_consultation_id", "document", ["consultation_id"])
    op.create_table(
        "document_file",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("document_id", sa.Integer(), sa.ForeignKey("document.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("lang", sa.String(2)),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("document_id", "name", name="uq_document_file_name"),
    )
    op.create_index("ix_document_file_document_id", "document_file", ["document_id"])


def downgrade() -> None:
    op.drop_table("document_file")
    op.drop_table("document")

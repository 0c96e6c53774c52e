"""Response references unique by construction: a counter each reference takes a number
from (a PostgreSQL sequence, which never blocks a web submission behind a long import; on
SQLite a one-row table, under the single writer anyway), put through a keyed permutation
(store/references.py). Random references met by the birthday bound: one import of a
million rows in three failed on them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE reference_number AS BIGINT MINVALUE 0 START 0")
        return
    table = op.create_table(
        "reference_counter",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("next", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "next": 0}])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE reference_number")
        return
    op.drop_table("reference_counter")

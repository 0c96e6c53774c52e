"""The staff workspace: roles on staff accounts, discarded consultations (slug freed,
audit kept), the registry's own append-only log, responses paged by id per consultation,
and the clock's failures per consultation (shown to staff, alerted after a few).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from store.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SQLITE = """
CREATE TRIGGER registry_entry_no_{op} BEFORE {OP} ON registry_entry
BEGIN SELECT RAISE(ABORT, 'registry_entry is append-only'); END
"""


def upgrade() -> None:
    # Accounts made before roles could do everything: they stay admins.
    with op.batch_alter_table("staff_user") as batch:
        batch.add_column(sa.Column("role", sa.String(20), nullable=False, server_default="admin"))
    with op.batch_alter_table("consultation") as batch:
        batch.add_column(sa.Column("discarded_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("discarded_slug", sa.String(80), nullable=True))
        # The clock's failures on this consultation, shown to staff until its work succeeds.
        batch.add_column(sa.Column("clock_failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("clock_error", sa.Text(), nullable=True))
    op.create_index("ix_submission_consultation_id_id", "submission", ["consultation_id", "id"])
    op.create_table(
        "registry_entry",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("stakeholder_id", sa.Integer(), sa.ForeignKey("stakeholder.id"), nullable=True, index=True),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        for name in ("update", "delete"):
            op.execute(SQLITE.format(op=name, OP=name.upper()))
    else:
        op.execute("CREATE FUNCTION registry_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN RAISE EXCEPTION 'registry_entry is append-only'; END $$")  # fmt: skip
        op.execute("CREATE TRIGGER registry_entry_append_only BEFORE UPDATE OR DELETE ON registry_entry "
                   "FOR EACH ROW EXECUTE FUNCTION registry_entry_append_only()")  # fmt: skip
        op.execute("CREATE TRIGGER registry_entry_no_truncate BEFORE TRUNCATE ON registry_entry "
                   "FOR EACH STATEMENT EXECUTE FUNCTION registry_entry_append_only()")  # fmt: skip


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS registry_entry_no_truncate ON registry_entry")
        op.execute("DROP TRIGGER IF EXISTS registry_entry_append_only ON registry_entry")
        op.execute("DROP FUNCTION IF EXISTS registry_entry_append_only()")
    op.drop_table("registry_entry")
    op.drop_index("ix_submission_consultation_id_id", "submission")
    with op.batch_alter_table("consultation") as batch:
        batch.drop_column("clock_error")
        batch.drop_column("clock_failures")
        batch.drop_column("discarded_slug")
        batch.drop_column("discarded_at")
    with op.batch_alter_table("staff_user") as batch:
        batch.drop_column("role")

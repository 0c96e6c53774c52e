"""The record cannot be rewritten: the audit log refuses REPLACE (SQLite) and TRUNCATE
(PostgreSQL) as well as UPDATE and DELETE; documents as issued refuse all four.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The natural key each table is appended by: a REPLACE would delete the row holding it.
KEYS = {
    "audit_entry": "consultation_id = NEW.consultation_id AND seq = NEW.seq",
    "document": "consultation_id = NEW.consultation_id AND kind = NEW.kind AND seq = NEW.seq",
    "document_file": "document_id = NEW.document_id AND name = NEW.name",
}
SQLITE = """
CREATE TRIGGER {table}_no_{op} BEFORE {OP} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END
"""
SQLITE_NO_REPLACE = """
CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table}
WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id OR ({key}))
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END
"""
PG_FUNCTION = """
CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '{table} is append-only'; END $$
"""


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, key in KEYS.items():
        if sqlite:
            if table != "audit_entry":  # its UPDATE and DELETE triggers exist since 0001
                for name in ("update", "delete"):
                    op.execute(SQLITE.format(table=table, op=name, OP=name.upper()))
            op.execute(SQLITE_NO_REPLACE.format(table=table, key=key))
            continue
        if table != "audit_entry":
            op.execute(PG_FUNCTION.format(table=table))
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()")  # fmt: skip
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()")  # fmt: skip


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in KEYS:
        if sqlite:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
            if table != "audit_entry":
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
            continue
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        if table != "audit_entry":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")

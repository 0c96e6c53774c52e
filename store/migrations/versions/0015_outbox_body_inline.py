"""PostgreSQL keeps a message's MIME body in its row, uncompressed, up to a page: a body
is ~3 KB (base64 parts, which hardly compress), over the 2 KB at which PostgreSQL tries to
compress a row and move it out of line; each receipt paid that attempt at its intake — a
sixth of PostgreSQL's time per web submission (bench/http_postgres.py). Bigger bodies are
still moved out of line. SQLite has no such step.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-24
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE outbox_body SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE outbox_body RESET (toast_tuple_target)")

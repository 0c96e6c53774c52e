"""Alembic environment: runs on the engine the caller passes (store.db.upgrade)."""

from alembic import context
from sqlmodel import SQLModel

import store.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from store.db import make_engine

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # the `alembic` command line: take the URL from the environment
    import os

    engine = make_engine(os.environ.get("CONSULT_DATABASE_URL", "sqlite:///consult.db"))

# Not a model: SQLite's stand-in for PostgreSQL's reference sequence (migration 0013,
# store/references.py), read and written by raw SQL only.
UNMODELLED = {"reference_counter"}


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # alembic's hook: its names
    return not (type_ == "table" and name in UNMODELLED)


with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=include_object,
    )
    context.run_migrations()

"""Fixtures: every storage test runs on SQLite and on a real throwaway PostgreSQL.

Each test gets a fresh database copied from a migrated template (a file copy for SQLite,
CREATE DATABASE … TEMPLATE for PostgreSQL), so migrations run once per session.
Set CONSULT_TEST_BACKENDS=sqlite to leave PostgreSQL out on a machine without it.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session

from store.db import make_engine, upgrade
from tests.leaks import MARK, marked
from tests.postgres import Cluster

# Every process the suite starts inherits this mark; pytest_sessionfinish looks for survivors.
os.environ.setdefault(MARK, uuid.uuid4().hex)

BACKENDS = [b.strip() for b in os.environ.get("CONSULT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]
_counter = itertools.count()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    cluster = Cluster().start()
    try:
        admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE consult_template"))
        admin.dispose()
        engine = make_engine(cluster.url("consult_template"))
        upgrade(engine)
        engine.dispose()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "consult.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    name = f"t_{os.getpid()}_{next(_counter)}"
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE consult_template"))
    admin.dispose()
    return cluster.url(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No process started by the suite may outlive it (temporary Prefect servers, workers,
    `consult serve`): after every fixture is torn down, fail the run if one is left."""
    left: list[tuple[int, str]] = []
    for _ in range(40):  # processes stopped at the very end need a moment to exit
        left = marked(os.environ[MARK], exclude={os.getpid()})
        if not left:
            return
        time.sleep(0.5)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = "\n".join(f"  pid {pid}: {cmd[:200]}" for pid, cmd in left)
    if reporter:
        reporter.write_line(f"processes started by the suite are still running:\n{lines}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED

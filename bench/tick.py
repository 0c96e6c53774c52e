"""The tick's cost follows the due work, not the number of consultations (DESIGN §5, §10).

Two databases, 10,000 and 100,000 consultations, each with exactly 100 due (open, deadline
passed). For each: the due-work query alone, and a whole tick's work (query, then close
and compile the 100, each in its own transaction with its audit rows), on a fresh copy
of the database each round. Prefect's own per-run overhead is measured apart.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import median
from config import MailSettings, Policy, Settings
from flows import work
from store.db import make_engine, upgrade

DUE = 100
ROUNDS = 5
NOW = datetime(2017, 8, 20, 12, tzinfo=UTC)


def _template(n: int, folder: Path) -> Path:
    path = folder / f"tick-{n}.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    deadline_due = (NOW - timedelta(hours=12)).replace(tzinfo=None)
    deadline_later = (NOW + timedelta(days=40)).replace(tzinfo=None)
    rows = []
    for i in range(n):
        due = i % (n // DUE) == 0
        deadline = deadline_due if due else deadline_later
        next_due = deadline + timedelta(seconds=1) if due else deadline - timedelta(days=14)
        rows.append((
            f"c-{i}", json.dumps({"en": f"Consultation {i}"}), json.dumps([{"en": "Q?"}]), "Europe/Geneva",
            "2017-05-25", "2017-06-14", (deadline - timedelta(days=60)).strftime(fmt), deadline.strftime(fmt),
            "2017-09-18", "open", 4, "[]", next_due.strftime(fmt), NOW.replace(tzinfo=None).strftime(fmt),
            NOW.replace(tzinfo=None).strftime(fmt), f"CL-{i}",
        ))  # fmt: skip
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO consultation (slug, title, questions, timezone, decided_on, letter_date, opens_at, deadline,"
            " meeting_on, stage, version, alerts_done, next_due_at, created_at, updated_at, letter_number)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the copies below take the main file only
    conn.close()
    return path


def _database_clock(engine) -> list[float]:
    """Time spent inside the database driver (statement execution), summed per tick."""
    from sqlalchemy import event

    spent = [0.0]

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany) -> None:
        spent[0] += time.perf_counter() - conn.info.pop("started", time.perf_counter())

    return spent


def _measure(template: Path, folder: Path) -> dict:
    settings = Settings(policy=Policy(reminder_offsets_days=()), mail=MailSettings())
    query_ms, tick_ms, db_ms = [], [], []
    for round_ in range(ROUNDS):
        copy = folder / f"round-{round_}.db"
        shutil.copy(template, copy)
        engine = make_engine(f"sqlite:///{copy}")
        work.due_consultations(engine=engine, now=NOW, limit=1)  # open the connection, warm the page cache
        start = time.perf_counter()
        ids = work.due_consultations(engine=engine, now=NOW)
        query_ms.append((time.perf_counter() - start) * 1e3)
        assert len(ids) == DUE
        spent = _database_clock(engine)
        start = time.perf_counter()
        report = work.advance_all_due(engine=engine, now=NOW, settings=settings)
        tick_ms.append((time.perf_counter() - start) * 1e3)
        db_ms.append(spent[0] * 1e3)
        assert len(report.actions) == 2 * DUE, report.skipped[:3]
        engine.dispose()
        copy.unlink()
    return {"query_ms": median(query_ms), "tick_ms": median(tick_ms), "db_ms": median(db_ms)}


def _prefect_overhead() -> dict:
    import os

    home = Path(tempfile.mkdtemp(prefix="consult-bench-prefect-"))
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect import flow

    @flow(name="empty")
    async def empty() -> int:
        return 1

    start = time.perf_counter()
    asyncio.run(empty())
    first = time.perf_counter() - start
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        asyncio.run(empty())
        runs.append(time.perf_counter() - start)
    return {"first_run_s (temporary server start)": round(first, 2), "run_s (median of 5)": round(median(runs), 3)}


def run() -> dict:
    folder = Path(tempfile.mkdtemp(prefix="consult-bench-tick-"))
    try:
        small = _measure(_template(10_000, folder), folder)
        large = _measure(_template(100_000, folder), folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "due": DUE, "rounds": ROUNDS,
        "due query, 10k (ms)": round(small["query_ms"], 2), "due query, 100k (ms)": round(large["query_ms"], 2),
        "due query ratio 100k/10k": round(large["query_ms"] / small["query_ms"], 2),
        "tick work for 100 due, 10k (ms)": round(small["tick_ms"], 1),
        "tick work for 100 due, 100k (ms)": round(large["tick_ms"], 1),
        "tick ratio 100k/10k": round(large["tick_ms"] / small["tick_ms"], 2),
        "of which inside the database driver, 10k (ms)": round(small["db_ms"], 1),
        "of which inside the database driver, 100k (ms)": round(large["db_ms"], 1),
        "target": "ratio ≤ 1.5; due query < 50 ms",
        **{f"prefect {k}": v for k, v in _prefect_overhead().items()},
    }  # fmt: skip


if __name__ == "__main__":
    print(run())

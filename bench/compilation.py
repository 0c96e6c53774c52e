"""Compilation of 100,000 and 1,000,000 synthetic responses to HTML, CSV and JSON: time and
peak RSS of each (a fresh process per measurement); the target is flat memory — peak RSS
at 1 M within 1.5× of 100 k. PDF of 10,000 responses: time and peak RSS reported. The sizes
can be narrowed with BENCH_COMPILE_SIZES=10000,100000 and BENCH_COMPILE_PDF=1000."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import ott_consultation, scratch_engine
from states import Stage

NOW = datetime(2017, 8, 20, tzinfo=UTC)
SMALL, LARGE = (int(n) for n in os.environ.get("BENCH_COMPILE_SIZES", "100000,1000000").split(","))
PDF = int(os.environ.get("BENCH_COMPILE_PDF", "10000"))


def _database(n: int, folder: Path) -> Path:
    engine, made = scratch_engine(f"compile-{n}")
    ott_consultation(engine, now=NOW)
    path = Path(engine.url.database)  # type: ignore[arg-type]
    engine.dispose()
    categories = ("member_state", "sector_member", "associate", "academia", "other")
    rows = ((1, f"R-{i:010x}", f"Person {i}", f"Organisation {i % 97}", categories[i % 5],
             ("CH", "SA", "CN", "FR", "RU", "ES")[i % 6], f"p{i}@bench.example", "en", "A short summary. " * 3,
             json.dumps([{"question": 1, "text": "An answer of some length. " * 12}]), "api", 1, "",
             f"2017-07-{1 + i % 28:02d} 10:{i % 60:02d}:00.000000", "2017-07-01 10:00:00.000000", "import")
            for i in range(n))  # fmt: skip
    conn = sqlite3.connect(path)
    conn.executemany(  # confirmed: only confirmed responses are published (store.submissions.public)
        "INSERT INTO submission (consultation_id, reference, name, organisation, category, country, email, "
        "language, summary, answers, channel, published, content_hash, received_at, confirmed_at, confirmed_by) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    assert conn.execute("SELECT count(*) FROM submission").fetchone()[0] == n
    conn.execute("UPDATE consultation SET stage = ?, letter_number = 'CL-17/30'", (Stage.COMPILED.value,))
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    target = folder / f"compile-{n}.db"
    shutil.move(path, target)
    shutil.rmtree(made, ignore_errors=True)
    return target


def _child(path: str, fmt: str, out: str, results) -> None:
    from sqlmodel import Session

    from documents import compilation
    from store import consultations as repo
    from store.db import make_engine

    engine = make_engine(f"sqlite:///{path}")
    start = time.perf_counter()
    with Session(engine) as s:
        c = repo.get(session=s, ref="ott-2017")
        conn = s.connection()
        if fmt == "pdf":  # as `consult compile --format pdf` prints it: in parts, joined
            from documents.pdf import write_pdf_parts

            write_pdf_parts(compilation.html_parts(conn, c, lang="en"), Path(out))
        else:
            with open(out, "w", encoding="utf-8", newline="") as f:
                {"html": lambda: compilation.write_html(conn, c, f, lang="en"),
                 "csv": lambda: compilation.write_csv(conn, c, f),
                 "json": lambda: compilation.write_json(conn, c, f)}[fmt]()  # fmt: skip
    seconds = time.perf_counter() - start
    results.put((seconds, _peak_mb(), Path(out).stat().st_size))


def _peak_mb() -> float:
    """VmHWM: this process's own peak. (getrusage's ru_maxrss survives exec on Linux, so a
    spawned child would report the parent's peak from before the exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _measure(path: Path, fmt: str, folder: Path) -> tuple[float, float, int]:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(target=_child, args=(str(path), fmt, str(folder / f"out.{fmt}"), results))
    child.start()
    outcome = results.get(timeout=900)
    child.join(60)
    return outcome


def run() -> dict:
    folder = Path(tempfile.mkdtemp(prefix="consult-bench-compile-"))
    result: dict = {}
    try:
        small, large, pdf_db = _database(SMALL, folder), _database(LARGE, folder), _database(PDF, folder)
        for fmt in ("html", "csv", "json"):
            s_sec, s_rss, _ = _measure(small, fmt, folder)
            l_sec, l_rss, size = _measure(large, fmt, folder)
            result[f"{fmt}: {SMALL:,} s / peak MB"] = f"{s_sec:.2f} / {s_rss:.0f}"
            result[f"{fmt}: {LARGE:,} s / peak MB / output MB"] = f"{l_sec:.2f} / {l_rss:.0f} / {size / 1e6:.0f}"
            result[f"{fmt}: {LARGE:,} rows/s"] = round(LARGE / l_sec)
            result[f"{fmt}: peak RSS ratio {LARGE:,} ÷ {SMALL:,}"] = round(l_rss / s_rss, 2)
        sec, rss, size = _measure(pdf_db, "pdf", folder)
        result[f"pdf: {PDF:,} s / peak MB / output MB"] = f"{sec:.1f} / {rss:.0f} / {size / 1e6:.1f}"
        result["target"] = "peak RSS ratio ≤ 1.5"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


if __name__ == "__main__":
    print(run())

"""Bulk import of responses (`consult responses import`) vs raw `sqlite3.executemany` into
the same table, both from the same JSON-lines file.

Raw does the least any import of that file must do: parse each line, give the row a
reference, store the answers as JSON text, `executemany` in one transaction. Ours is the
product's path (`store.response_file.import_file`): validation like the form, the duplicate
check, the content hash, the all-or-nothing bulk insert. The insert alone (raw rows built
before the clock starts) is reported too. Target: ours ≥ 50 % of raw.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session

from bench.common import median, ott_consultation, scratch_engine
from store import consultations as repo
from store.response_file import import_file

N = 50_000
ROUNDS = 3
NOW = datetime(2017, 7, 1, 10, tzinfo=UTC)
COLUMNS = ("consultation_id, reference, name, organisation, category, country, email, language, summary, answers, "
           "channel, published, content_hash, received_at")  # fmt: skip
INSERT = f"INSERT INTO submission ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"


def _file(folder: Path, prefix: str) -> Path:
    path = folder / f"{prefix}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(N):
            record = {"name": f"Person {i}", "organisation": "Org", "category": "other", "country": "CH",
                      "email": f"{prefix}{i}@bench.example", "language": ("en", "fr", "ar")[i % 3],
                      "summary": "A short summary.",
                      "answers": [{"question": 1, "text": "An answer. " * 20}]}  # fmt: skip
            out.write(json.dumps(record) + "\n")
    return path


def _raw_rows(path: Path, at: str) -> list[tuple]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        rows.append((1, f"R-{secrets.token_hex(5)}", r["name"], r["organisation"], r["category"], r["country"],
                     r["email"], r["language"], r["summary"], json.dumps(r["answers"]), "import", 1, "",
                     at))  # fmt: skip
    return rows


def _raw(db: Path, path: Path) -> tuple[float, float]:
    """(seconds from the file, seconds of the insert alone) on a fresh copy each."""
    at = NOW.strftime("%Y-%m-%d %H:%M:%S.000000")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    start = time.perf_counter()
    conn.executemany(INSERT, _raw_rows(path, at))
    conn.commit()
    from_file = time.perf_counter() - start
    conn.execute("DELETE FROM submission")
    conn.commit()
    rows = _raw_rows(path, at)
    start = time.perf_counter()
    conn.executemany(INSERT, rows)
    conn.commit()
    insert_only = time.perf_counter() - start
    conn.close()
    return from_file, insert_only


def _ours(db: Path, path: Path) -> float:
    from store.db import make_engine

    engine = make_engine(f"sqlite:///{db}")
    try:
        with Session(engine) as s:
            c = repo.get(session=s, ref="ott-2017")
            start = time.perf_counter()
            created, _ = import_file(session=s, consultation=c, path=path, now=NOW)
            s.commit()
            seconds = time.perf_counter() - start
        assert created == N
        return seconds
    finally:
        engine.dispose()


def run() -> dict:
    engine, folder = scratch_engine("import")
    ott_consultation(engine, now=NOW, open_it=True)
    template = folder / "bench.db"
    engine.dispose()
    raw_rates, insert_rates, our_rates = [], [], []
    for round_ in range(ROUNDS):
        path = _file(folder, f"r{round_}-")
        for name in ("raw", "ours"):
            db = folder / f"{name}-{round_}.db"
            shutil.copy(template, db)
            if name == "raw":
                from_file, insert_only = _raw(db, path)
                raw_rates.append(N / from_file)
                insert_rates.append(N / insert_only)
            else:
                our_rates.append(N / _ours(db, path))
            db.unlink()
    shutil.rmtree(folder, ignore_errors=True)
    ratios = [o / r for o, r in zip(our_rates, raw_rates, strict=True)]
    return {
        "rows per round": N, "rounds": ROUNDS,
        "raw from the file, rows/s (median)": round(median(raw_rates)),
        "ours from the file, rows/s (median)": round(median(our_rates)),
        "ratio (median of per-round ratios)": round(median(ratios), 3),
        "raw insert alone (rows built beforehand), rows/s (median)": round(median(insert_rates)),
        "ours ÷ raw insert alone": round(median(our_rates) / median(insert_rates), 3), "target": "ratio ≥ 0.50",
    }  # fmt: skip


if __name__ == "__main__":
    print(run())

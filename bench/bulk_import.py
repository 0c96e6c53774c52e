"""Bulk import of responses (`consult responses import`) vs raw `sqlite3.executemany`
into the same table. Ours starts from the parsed records: validation (pydantic), the
duplicate check, the content hash, then one bulk INSERT. Target: ≥ 50 % of raw."""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import time
from datetime import UTC, datetime

from sqlmodel import Session

from bench.common import median, ott_consultation, scratch_engine
from store import consultations as repo
from store.models import SubmissionCreate
from store.submissions import import_many

N = 50_000
ROUNDS = 3
NOW = datetime(2017, 7, 1, 10, tzinfo=UTC)


def _records(prefix: str) -> list[dict]:
    return [
        {"name": f"Person {i}", "organisation": "Org", "category": "other", "country": "CH",
         "email": f"{prefix}{i}@bench.example", "language": "en", "summary": "A short summary.",
         "answers": [{"question": 1, "text": "An answer. " * 20}]}
        for i in range(N)
    ]  # fmt: skip


def run() -> dict:
    engine, folder = scratch_engine("import")
    ott_consultation(engine, now=NOW)
    template = folder / "bench.db"
    engine.dispose()
    raw_rates, our_rates, store_rates = [], [], []
    for round_ in range(ROUNDS):
        db = folder / f"round-{round_}.db"
        shutil.copy(template, db)
        records = _records(f"raw{round_}-")
        at = NOW.strftime("%Y-%m-%d %H:%M:%S")
        rows = [(1, f"R-{secrets.token_hex(5)}", r["name"], r["organisation"], r["category"], r["country"], r["email"],
                 r["language"], r["summary"], json.dumps(r["answers"]), "import", 1, "", at)
                for r in records]  # fmt: skip
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        start = time.perf_counter()
        conn.executemany(
            "INSERT INTO submission (consultation_id, reference, name, organisation, category, country, email, "
            "language, summary, answers, channel, published, content_hash, received_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.commit()
        raw_rates.append(N / (time.perf_counter() - start))
        conn.close()

        from store.db import make_engine

        ours_engine = make_engine(f"sqlite:///{db}")
        records = _records(f"ours{round_}-")
        start = time.perf_counter()
        parsed = [SubmissionCreate.model_validate(r) for r in records]
        validated = time.perf_counter()
        with Session(ours_engine) as s:
            c = repo.get(session=s, ref="ott-2017")
            c.stage = "open"
            created, _ = import_many(session=s, consultation=c, rows=parsed, now=NOW)
            s.commit()
        end = time.perf_counter()
        our_rates.append(N / (end - start))
        store_rates.append(N / (end - validated))
        assert created == N
        ours_engine.dispose()
        db.unlink()
    shutil.rmtree(folder, ignore_errors=True)
    ratios = [o / r for o, r in zip(our_rates, raw_rates, strict=True)]
    return {
        "rows per round": N, "rounds": ROUNDS,
        "raw executemany rows/s (median)": round(median(raw_rates)), "ours rows/s (median)": round(median(our_rates)),
        "ratio (median of per-round ratios)": round(median(ratios), 3),
        "ours without validation rows/s (median)": round(median(store_rates)),
        "ratio without validation": round(median(store_rates) / median(raw_rates), 3), "target": "ratio ≥ 0.50",
    }  # fmt: skip


if __name__ == "__main__":
    print(run())

"""The staff responses table at 100,000 responses: the first page, a page deep in the
table (paged by id) and a search over the answers' text, through
`store.response_search.search` (the ORM, the count, the filter) vs the same SELECT by raw
`sqlite3`; an OFFSET page of the same depth is reported to show what keyset paging saves.
The CSV export of all 100,000 is timed and its peak memory growth measured."""

from __future__ import annotations

import json
import sqlite3
import time
import tracemalloc
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlmodel import Session

from bench.common import median, scratch_engine
from store.response_search import ResponseFilter, search, stream
from store.tables import Consultation, Submission

N = 100_000
ROUNDS = 7


def _fill(engine) -> int:
    now = datetime(2017, 7, 1, tzinfo=UTC)
    with Session(engine) as s:
        c = Consultation(slug="bench", title={"en": "Bench"}, questions=[{"en": "Q1?"}, {"en": "Q2?"}],
                         timezone="Europe/Geneva", stage="open", created_at=now, updated_at=now)  # fmt: skip
        s.add(c)
        s.commit()
        cid = c.id
        assert cid is not None
        rows = [{"consultation_id": cid, "reference": f"R-{n:010X}", "name": f"Respondent {n}",
                 "organisation": f"Org {n % 500}", "category": ("member_state", "academia", "other")[n % 3],
                 "country": ("CH", "EG", "CN", "FR")[n % 4], "email": f"r{n}@example.org",
                 "language": ("en", "ar", "zh")[n % 3], "summary": "A summary of the position taken.",
                 "answers": [{"question": 1, "text": f"answer number {n} on the first question"},
                             {"question": 2, "text": "النص العربي للإجابة" if n % 7 == 0 else "text"}],
                 "channel": "web", "published": n % 50 != 0, "content_hash": f"{n:064x}", "received_at": now}
                for n in range(N)]  # fmt: skip
        for start in range(0, N, 10_000):
            s.execute(insert(Submission), rows[start : start + 10_000])
        s.commit()
    return cid


def _ours(engine, cid: int, wanted: ResponseFilter, before: int | None) -> float:
    start = time.perf_counter()
    with Session(engine) as s:
        search(session=s, consultation_id=cid, wanted=wanted, before=before)
    return time.perf_counter() - start


def _raw(path: str, sql: str, args: tuple) -> float:
    start = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute(sql, args).fetchall()
    conn.close()
    return time.perf_counter() - start


def run() -> dict:
    engine, folder = scratch_engine("staff-responses")
    cid = _fill(engine)
    path = str(folder / "bench.db")
    deep = N // 2
    page = "SELECT * FROM submission WHERE consultation_id = ? {} ORDER BY id DESC LIMIT 51"
    count = "SELECT count(*) FROM submission WHERE consultation_id = ? {}"
    text = ("AND (lower(name) LIKE ? OR lower(organisation) LIKE ? OR lower(summary) LIKE ? OR lower(email) LIKE ? "
            "OR lower(reference) LIKE ? OR lower(CAST(answers AS TEXT)) LIKE ?)")  # fmt: skip
    cases = {
        "first page": (ResponseFilter(), None, [(page.format(""), (cid,)), (count.format(""), (cid,))]),
        f"page at id {deep} (keyset)": (ResponseFilter(), deep,
                                         [(page.format("AND id < ?"), (cid, deep)), (count.format(""), (cid,))]),
        "search the answers' text (Arabic)": (ResponseFilter(q="العربي"), None,
                                              [(page.format(text), (cid, *["%العربي%"] * 6)),
                                               (count.format(text), (cid, *["%العربي%"] * 6))]),
    }  # fmt: skip
    result: dict[str, str] = {"responses": f"{N:,}"}
    for name, (wanted, before, raw) in cases.items():
        ours = median([_ours(engine, cid, wanted, before) for _ in range(ROUNDS)])
        base = median([sum(_raw(path, sql, args) for sql, args in raw) for _ in range(ROUNDS)])
        result[f"{name}: ours (ms)"] = f"{ours * 1000:.1f}"
        result[f"{name}: raw sqlite3 (ms)"] = f"{base * 1000:.1f}"
        result[f"{name}: ratio raw/ours"] = f"{base / ours:.2f}"
    offset = median([_raw(path, "SELECT * FROM submission WHERE consultation_id = ? ORDER BY id DESC LIMIT 51 "
                                "OFFSET ?", (cid, N - deep)) for _ in range(ROUNDS)])  # fmt: skip
    result["the same depth by OFFSET, raw (ms)"] = f"{offset * 1000:.1f}"
    from documents.response_export import csv_chunks

    with Session(engine) as s:
        c = s.get(Consultation, cid)
        tracemalloc.start()
        start = time.perf_counter()
        size = sum(len(chunk) for chunk in csv_chunks(c, stream(session=s, consultation_id=cid,
                                                                  wanted=ResponseFilter())))  # fmt: skip
        took = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    result["CSV export of all (s)"] = f"{took:.1f}"
    result["CSV export size (MB)"] = f"{size / 1e6:.1f}"
    result["CSV export peak Python memory (MB)"] = f"{peak / 1e6:.1f}"
    engine.dispose()
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))

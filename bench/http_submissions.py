"""HTTP submissions: our endpoint vs a bare FastAPI endpoint doing the same insert.

Both are served by uvicorn (one process, same settings) on the same SQLite database
(WAL); a load generator in this process sends the same responses with 16 connections.
Ours validates, deduplicates, stores and queues the receipt mail (rendered, MIME built)
in one transaction; the bare endpoint inserts the row with one SQL statement.
Target: ≥ 60 % of the bare rate, p95 < 100 ms, no "database is locked".
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.common import median, ott_consultation, post_submissions, scratch_engine
from notifications.catcher import free_port

N = 2000
CONCURRENCY = 16
ROUNDS = 3
NOW = datetime(2017, 7, 1, 10, tzinfo=UTC)


def _serve_ours(url: str, data_dir: str, port: int) -> None:
    import uvicorn

    from config import MailSettings, Settings
    from web.app import create_app

    settings = Settings(database_url=url, now=NOW, data_dir=Path(data_dir), secret_key="bench", mail=MailSettings())
    uvicorn.run(
        create_app(settings, rate_limit=10**9), host="127.0.0.1", port=port, log_level="error", timeout_keep_alive=75
    )


def _serve_bare(url: str, data_dir: str, port: int) -> None:
    import uvicorn

    from bench.common import bare_app
    from store.db import make_engine

    uvicorn.run(bare_app(make_engine(url), at=NOW.replace(tzinfo=None)), host="127.0.0.1", port=port,
                log_level="error", timeout_keep_alive=75)  # fmt: skip


def _database() -> tuple[str, str]:
    engine, folder = scratch_engine("http")
    ott_consultation(engine, now=NOW, open_it=True)
    url = str(engine.url)
    engine.dispose()
    return url, str(folder)


def _measure(target, url: str, folder: str, round_: int) -> tuple[float, float, dict[int, int]]:
    port = free_port()
    ctx = multiprocessing.get_context("spawn")
    server = ctx.Process(target=target, args=(url, folder, port), daemon=True)
    server.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    try:
        seconds, latencies, codes = asyncio.run(post_submissions(port, f"r{round_}", N, CONCURRENCY))
    finally:
        server.terminate()
        server.join(10)
    p95 = statistics.quantiles(latencies, n=20)[18] * 1e3
    return N / seconds, p95, codes


def run() -> dict:
    url, folder = _database()
    ours, bare, p95s, errors = [], [], [], 0
    for round_ in range(ROUNDS):
        rate, _, codes = _measure(_serve_bare, url, folder, 2 * round_)
        bare.append(rate)
        errors += sum(n for code, n in codes.items() if code != 201)
        rate, p95, codes = _measure(_serve_ours, url, folder, 2 * round_ + 1)
        ours.append(rate)
        p95s.append(p95)
        errors += sum(n for code, n in codes.items() if code != 201)
    ratios = [o / b for o, b in zip(ours, bare, strict=True)]
    return {
        "requests per round": N, "connections": CONCURRENCY, "rounds": ROUNDS,
        "bare req/s (median)": round(median(bare)), "ours req/s (median)": round(median(ours)),
        "ratio (median of per-round ratios)": round(median(ratios), 3),
        "ours p95 latency ms (median)": round(median(p95s), 1),
        "non-201 answers (incl. database is locked)": errors, "target": "ratio ≥ 0.60, p95 < 100 ms, 0 errors",
    }  # fmt: skip


if __name__ == "__main__":
    print(run())

"""HTTP submissions on PostgreSQL, with one and two web worker processes.

Our endpoint (`consult serve --workers N`'s app: validate, deduplicate, store, queue the
receipt mail, one transaction) vs a bare FastAPI endpoint doing the same INSERT, both
served by uvicorn with the same number of worker processes, against the same throwaway
PostgreSQL cluster; a load generator in this process (asyncio streams, bench/common.py)
with 16 connections — a closed loop's latency is its connections ÷ its rate, so at 32
connections and ~350 req/s the mean alone is 91 ms whatever the server does; the bare
endpoint's p95 under the same load is reported beside ours. Then a burst: 10,000
submissions from 64 connections as fast as they go, and a count afterwards — every
response stored once, every receipt queued once. Everything (PostgreSQL, servers, load)
shares this machine's 2 cores. Both servers keep idle connections 75 s, as `consult serve`
does (uvicorn's 5 s closed connections under the load generator's next request). Each is
measured once all its workers listen and after WARM requests that are not counted: a
worker's first requests open its pool's connections and compile its templates (the bare
endpoint has neither), and with a worker still starting every connection went to the other.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bench.common import median, post_submissions
from notifications.catcher import free_port

N = 3000
CONCURRENCY = 16
BURST, BURST_CONNECTIONS = 10_000, 64
ROUNDS = 3
WARM = 500  # requests each server answers before it is measured (not counted)
NOW = datetime(2017, 7, 1, 10, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]
KEEP_ALIVE = 75  # seconds, as consult serve (cli/clock.py)


def ours_app():
    from config import MailSettings, Settings
    from web.app import create_app

    settings = Settings(database_url=os.environ["BENCH_DATABASE_URL"], now=NOW, secret_key="bench",
                        data_dir=Path(os.environ["BENCH_DATA_DIR"]), mail=MailSettings())  # fmt: skip
    return create_app(settings, rate_limit=10**9)


def bare_app():
    from bench.common import bare_app as bare
    from store.db import make_engine

    return bare(make_engine(os.environ["BENCH_DATABASE_URL"]), at=NOW)


def _measure(factory: str, url: str, folder: str, workers: int, tag: str, count: int = N,
             connections: int = CONCURRENCY) -> tuple[float, float, int]:  # fmt: skip
    port = free_port()
    # served as `consult serve --workers N` serves (web/serving.py: uvicorn's workers with
    # TCP_NODELAY kept); its workers need a real stdin to inherit
    launch = (
        f"from web.serving import run_workers; run_workers('bench.http_postgres:{factory}', workers={workers},"
        f" host='127.0.0.1', port={port}, log_level='error', timeout_keep_alive={KEEP_ALIVE})"
    )
    server = subprocess.Popen([sys.executable, "-c", launch], cwd=ROOT,
                              stdin=subprocess.DEVNULL, start_new_session=True,
                              env={**os.environ, "BENCH_DATABASE_URL": url, "BENCH_DATA_DIR": folder,
                                   "PYTHONPATH": str(ROOT)})  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            if workers == 1 or _listening(port) == workers:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    try:
        asyncio.run(post_submissions(port, f"warm-{tag}", WARM, connections))
        seconds, latencies, codes = asyncio.run(post_submissions(port, tag, count, connections))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    p95 = statistics.quantiles(latencies, n=20)[18] * 1e3
    return count / seconds, p95, sum(n for code, n in codes.items() if code != 201)


def _listening(port: int) -> int:
    """Sockets listening on `port` (one per worker, web/serving.py): the load starts once
    every worker listens — keep-alive connections opened before the second worker was up
    all went to the first, for the whole round."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "0A")


def run() -> dict:
    import tempfile

    sys.path.insert(0, str(ROOT))
    from bench.common import ott_consultation
    from store.db import make_engine, upgrade
    from tests.postgres import Cluster

    cluster = Cluster().start()
    folder = tempfile.mkdtemp(prefix="consult-bench-httppg-")
    try:
        url = cluster.url("postgres")
        engine = make_engine(url)
        upgrade(engine)
        ott_consultation(engine, now=NOW, open_it=True)
        engine.dispose()
        result: dict[str, object] = {"requests per round": N, "connections": CONCURRENCY, "rounds": ROUNDS}
        rates: dict[tuple[str, int], list[float]] = {}
        for workers in (1, 2):
            p95s, bare_p95s, errors, ratios = [], [], 0, []
            for round_ in range(ROUNDS):
                bare, bare_p95, bad = _measure("bare_app", url, folder, workers, f"b{workers}-{round_}")
                ours, p95, worse = _measure("ours_app", url, folder, workers, f"o{workers}-{round_}")
                bare_p95s.append(bare_p95)
                rates.setdefault(("bare", workers), []).append(bare)
                rates.setdefault(("ours", workers), []).append(ours)
                ratios.append(ours / bare)
                p95s.append(p95)
                errors += bad + worse
            result[f"{workers} worker(s): bare req/s (median)"] = round(median(rates[("bare", workers)]))
            result[f"{workers} worker(s): ours req/s (median)"] = round(median(rates[("ours", workers)]))
            result[f"{workers} worker(s): ratio (median of per-round ratios)"] = round(median(ratios), 3)
            result[f"{workers} worker(s): ours p95 ms (median)"] = round(median(p95s), 1)
            result[f"{workers} worker(s): bare p95 ms (median)"] = round(median(bare_p95s), 1)
            result[f"{workers} worker(s): non-201 answers"] = errors
        for kind in ("bare", "ours"):
            growth = median(rates[(kind, 2)]) / median(rates[(kind, 1)])
            result[f"{kind}: req/s with 2 workers ÷ 1"] = round(growth, 2)
        rate, p95, errors = _measure("ours_app", url, folder, 2, "burst", BURST, BURST_CONNECTIONS)
        check = create_engine(url)
        with check.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM submission WHERE email LIKE 'burst-%'")).scalar_one()
            receipts = conn.execute(text("SELECT count(*), count(DISTINCT purpose) FROM outbox_message "
                                         "WHERE recipient_email LIKE 'burst-%'")).one()  # fmt: skip
        check.dispose()
        result[f"burst: {BURST:,} from {BURST_CONNECTIONS} connections, 2 workers: seconds"] = round(BURST / rate, 1)
        result["burst: req/s / p95 ms / non-201"] = f"{rate:.0f} / {p95:.0f} / {errors}"
        result["burst: stored / receipts queued / distinct receipts"] = f"{stored} / {receipts[0]} / {receipts[1]}"
        result["target"] = "ratio ≥ 0.70, p95 < 100 ms, 0 errors; burst: all stored, one receipt each"
        return result
    finally:
        cluster.stop()


if __name__ == "__main__":
    print(run())

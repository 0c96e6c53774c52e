"""Due work on Prefect workers: does a second worker add throughput?

A throwaway PostgreSQL cluster (the suite's), a Prefect server, the tick deployed without a
schedule (`consult deploy --triggered --chunk 1000`), and DUE consultations due at once
(open, deadline passed: each is closed and compiled, its contact alerted). One tick run is
started; it claims the due work in chunks and starts a run per chunk, which the workers
take; each chunk's event starts a compile run. Timed from the tick run's start until every
consultation is compiled and its files written, with 1 worker, then with 2 (a fresh copy of
the database each time). The ratio is the 2-worker throughput ÷ 1-worker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from states import Stage

DUE = int(os.environ.get("BENCH_WORKERS_DUE", "10000"))
CHUNK = int(os.environ.get("BENCH_WORKERS_CHUNK", "1000"))
BIN = Path(sys.executable).parent
NOW = "2017-08-20T12:00:00+00:00"


def _free_port() -> int:
    from notifications.catcher import free_port

    return free_port()


def _wait(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


def _seed(url: str) -> None:
    from sqlmodel import Session

    from config import Policy
    from states import Stage
    from store import consultations as repo
    from store.db import make_engine, upgrade
    from store.decision_file import parse_decision

    engine = make_engine(url)
    upgrade(engine)
    policy = Policy()
    with Session(engine) as s:
        for i in range(DUE):
            raw = {"slug": f"c-{i}", "decided_on": date(2017, 5, 25), "letter_date": date(2017, 6, 14),
                   "deadline": date(2017, 8, 19), "meeting_on": date(2017, 9, 18), "contact_email": f"c{i}@itu.int",
                   "title": {"en": f"Consultation {i}"}, "questions": [{"en": "Q?"}]}  # fmt: skip
            decided = datetime(2017, 5, 25, tzinfo=UTC)
            created = repo.create_consultation(session=s, data=parse_decision(raw, policy=policy), proposed=False,
                                               actor="bench", now=decided, policy=policy)  # fmt: skip
            c = created.consultation
            c.stage, c.letter_number = Stage.OPEN.value, f"CL-17/{i + 1}"
            repo.refresh_timer(c, policy=policy, now=datetime(2017, 6, 14, tzinfo=UTC))
        s.commit()
    engine.dispose()


def _one(cluster, template: str, workers: int, folder: Path) -> float:
    name = f"w{workers}_{os.getpid()}"
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
        conn.execute(text(f"CREATE DATABASE prefect_{name}"))
    admin.dispose()
    url = cluster.url(name)
    api = f"http://127.0.0.1:{_free_port()}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CONSULT_", "PREFECT_"))}
    prefect = {**base, "PREFECT_HOME": str(folder / f"prefect{workers}"), "DO_NOT_TRACK": "1",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_API_URL": api,
               "PREFECT_LOGGING_LEVEL": "WARNING"}  # fmt: skip
    consult = {**prefect, "CONSULT_DATABASE_URL": url, "CONSULT_NOW": NOW, "CONSULT_DATA_DIR": str(folder / "data")}
    shutil.rmtree(folder / "data", ignore_errors=True)
    procs = []
    try:
        server_env = {**prefect, "PREFECT_API_DATABASE_CONNECTION_URL":
                      cluster.url(f"prefect_{name}").replace("postgresql+psycopg", "postgresql+asyncpg")}  # fmt: skip
        port = api.split(":")[2].split("/")[0]
        procs.append(subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", port],
                                      env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))  # fmt: skip
        _wait(api, 90)
        subprocess.run([str(BIN / "consult"), "deploy", "--triggered", "--chunk", str(CHUNK)], env=consult,
                       check=True, capture_output=True)  # fmt: skip
        for _ in range(workers):
            procs.append(subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", "consult", "--type",
                                           "process", "--limit", "1"], env=consult, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))  # fmt: skip
        time.sleep(5)  # the workers poll the pool
        engine = create_engine(url)
        start = time.perf_counter()
        subprocess.run([str(BIN / "prefect"), "deployment", "run", "tick/tick"], env=prefect, check=True,
                       capture_output=True)  # fmt: skip
        while True:
            with engine.connect() as conn:
                done = conn.execute(
                    text("SELECT count(*) FROM consultation WHERE stage = :stage"), {"stage": Stage.COMPILED.value}
                ).scalar_one()
            if done >= DUE and _files_written(folder / "data") >= DUE:
                break
            if time.perf_counter() - start > 900:
                raise TimeoutError(f"{done} of {DUE} compiled after 900 s")
            time.sleep(0.5)
        elapsed = time.perf_counter() - start
        engine.dispose()
        return elapsed
    finally:
        import signal

        for p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def _files_written(data: Path) -> int:
    """Compilations whose files are all on disk (their `.complete` marker, written last)."""
    return sum(1 for _ in (data / "compilations").glob("*/.complete"))


def run() -> dict:
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.postgres import Cluster

    cluster = Cluster().start()
    folder = Path(tempfile.mkdtemp(prefix="consult-bench-workers-"))
    try:
        admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE bench_template"))
        admin.dispose()
        _seed(cluster.url("bench_template"))
        one = _one(cluster, "bench_template", 1, folder)
        two = _one(cluster, "bench_template", 2, folder)
    finally:
        cluster.stop()
    return {
        "due consultations (each closed and compiled, its contact alerted)": DUE,
        "chunk size": CHUNK,
        "1 worker (s)": f"{one:.1f}",
        "2 workers (s)": f"{two:.1f}",
        "1 worker (consultations/s)": f"{DUE / one:.0f}",
        "2 workers (consultations/s)": f"{DUE / two:.0f}",
        "ratio (2 workers ÷ 1)": f"{one / two:.2f}",
    }

"""The response import at docket scale: flat memory, steady rate.

JSON-lines files of 100,000, 1,000,000 and 10,000,000 responses (the FCC's 2017 docket had
21.7 million), each imported by `consult responses import` into a fresh SQLite database
in a process of its own: its wall time, rows per second, and peak RSS (the kernel's
high-water mark for that process, Python and every library included). Targets: 1 M at
≥ 30,000 rows/s, peak under 800 MB, and 10 M within 1.2× of the peak at 100 k. The sizes
can be narrowed with BENCH_IMPORT_SIZES=100000,1000000 (a 10 M file is 3.6 GB, its
database 5 GB).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import ott_consultation, scratch_engine

SIZES = [int(n) for n in os.environ.get("BENCH_IMPORT_SIZES", "100000,1000000,10000000").split(",")]
STAKEHOLDERS = int(os.environ.get("BENCH_IMPORT_STAKEHOLDERS", "1000000"))
NOW = datetime(2017, 7, 1, 10, tzinfo=UTC)
LINE = ('{{"name": "Person {i}", "organisation": "Org", "category": "other", "country": "CH", '
        '"email": "p{i}@bench.example", "language": "{lang}", "summary": "A short summary.", '
        '"answers": [{{"question": 1, "text": "{text}"}}]}}\n')  # fmt: skip
TEXT = "An answer to the question, of the length most comments have. " * 4


def _file(path: Path, n: int) -> None:
    langs = ("en", "fr", "ar")
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        for i in range(n):
            out.write(LINE.format(i=i, lang=langs[i % 3], text=TEXT))


def _registry(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        out.write("name,email,category,organisation,country,language\n")
        for i in range(n):
            out.write(f"Person {i},s{i}@bench.example,other,Organisation {i % 997},CH,{('en', 'fr', 'ar')[i % 3]}\n")


def _import(db: Path, path: Path, *command: str) -> tuple[float, int]:
    """(seconds, peak RSS in MB) of a `consult` import in its own process."""
    env = {**os.environ, "CONSULT_DATABASE_URL": f"sqlite:///{db}", "CONSULT_NOW": NOW.isoformat()}
    consult = Path(sys.executable).parent / "consult"
    start = time.perf_counter()
    process = subprocess.Popen([str(consult), *command, str(path)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    out = process.stdout.read().decode() if process.stdout else ""
    if status != 0:
        raise RuntimeError(f"import failed: {process.stderr.read().decode() if process.stderr else ''}")
    assert "imported" in out or "added" in out, out
    process.returncode = 0
    return seconds, usage.ru_maxrss // 1024


def run() -> dict:
    engine, folder = scratch_engine("import-scale")
    ott_consultation(engine, now=NOW, open_it=True)
    engine.dispose()
    template = folder / "bench.db"
    result: dict[str, object] = {}
    peaks: dict[int, int] = {}
    try:
        for n in SIZES:
            path = folder / f"{n}.jsonl"
            _file(path, n)
            db = folder / f"import-{n}.db"
            shutil.copy(template, db)
            seconds, peak = _import(db, path, "responses", "import", "ott-2017")
            peaks[n] = peak
            label = f"{n:,} responses ({path.stat().st_size / 1e6:,.0f} MB file)"
            result[f"{label}: seconds"] = round(seconds, 1)
            result[f"{label}: rows/s"] = round(n / seconds)
            result[f"{label}: peak RSS (MB)"] = peak
            path.unlink()
            db.unlink()
        smallest, largest = min(peaks), max(peaks)
        result[f"peak RSS ratio {largest:,} ÷ {smallest:,}"] = round(peaks[largest] / peaks[smallest], 2)
        path, db = folder / "registry.csv", folder / "registry.db"
        _registry(path, STAKEHOLDERS)
        empty = scratch_engine("import-registry")  # no consultation under way: the import alone, no invitations
        shutil.copy(empty[1] / "bench.db", db)
        empty[0].dispose()
        shutil.rmtree(empty[1], ignore_errors=True)
        seconds, peak = _import(db, path, "stakeholders", "import")
        label = f"stakeholder registry of {STAKEHOLDERS:,} addresses (no consultation under way)"
        result[f"{label}: seconds / rows/s / peak RSS (MB)"] = f"{seconds:.1f} / {STAKEHOLDERS / seconds:,.0f} / {peak}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result["target"] = "1 M ≥ 30,000 rows/s, peak < 800 MB; largest within 1.2× of 100 k's peak"
    return result

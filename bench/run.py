"""Run every benchmark and write BENCHMARKS.md (one command: `python3 dev.py bench`).

Each benchmark compares our code with a raw baseline measured in the same run, on the
same machine, and reports medians: the machines are shared and noisy, so ratios in one
run mean more than absolute numbers.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SECTIONS = {
    "mail_delivery": (
        "Reminder fan-out (SMTP delivery)",
        "10,000 reminders, already queued, delivered by `notifications.delivery.deliver` (lease, send, record "
        "each outcome in SQLite) vs a raw `aiosmtplib` loop sending the same bytes, both over 4 reused "
        "connections to the same aiosmtpd process on 127.0.0.1. Then a reminder to 100,000 stakeholders the whole "
        "way — queued by `queue_reminders` (rendered in each one's language, MIME built, inserted) and delivered "
        "— vs raw aiosmtplib sending built messages (10,000 distinct ones cycled) to 100,000 recipients. "
        "Target: ratio ≥ 0.80.",
    ),
    "tick": (
        "The tick: cost follows due work",
        "SQLite databases of 10,000 and 100,000 consultations, 100 of them due (open, deadline passed). The due "
        "query alone, then a whole tick's work (query, close and compile the 100, each consultation in its own "
        "transaction with audit rows and outbox rows), on a fresh copy each round. Target: 100k within 1.5× of "
        "10k. Prefect's own overhead per flow run is measured apart (an empty async flow on the temporary server).",
    ),
    "http_submissions": (
        "HTTP submissions",
        "Our `POST /api/consultations/{id}/submissions` (validate, deduplicate, store, queue the receipt mail, on "
        "the SQLite writer thread, responses that arrive together in one transaction) vs a bare FastAPI endpoint "
        "inserting the same row (a plain `def` endpoint, so from the thread pool), both on uvicorn (one process) "
        "over the same SQLite database, 16 client "
        "connections from this process. Target: ratio ≥ 0.60, p95 < 100 ms, no errors.",
    ),
    "http_postgres": (
        "HTTP submissions on PostgreSQL, one and two web workers",
        "Our endpoint (the app `consult serve --workers N` runs: validate, deduplicate, store, queue the receipt "
        "mail; responses that arrive together in one transaction) vs a bare FastAPI endpoint doing the same "
        "INSERT, both served as `consult serve --workers N` serves (uvicorn's workers, each on a socket of its own, "
        "web/serving.py) with the same number of worker processes, against the same throwaway PostgreSQL cluster; "
        "each measured once all its workers listen and after 500 requests not counted; 16 keep-alive client "
        "connections from this process (a closed loop's mean latency is connections ÷ rate: at 32 and ~350 req/s "
        "it is 91 ms by arithmetic, so the bare endpoint's p95 under the same load is given beside ours). Then a "
        "burst of 10,000 submissions from 64 connections, counted afterwards. PostgreSQL, servers and load "
        "generator (asyncio streams: httpx's client cost more CPU than the servers) share the machine's 2 cores. "
        "Target: ratio ≥ 0.70, p95 < 100 ms, 0 errors.",
    ),
    "bulk_import": (
        "Bulk import of responses",
        "`consult responses import` (`store.response_file.import_file`: validation like the form, duplicate check, "
        "content hash, one bulk INSERT, all or nothing) vs raw `sqlite3.executemany` into the same table, both from "
        "the same JSON-lines file: raw parses each line, gives it a reference, stores the answers as JSON text. The "
        "insert alone, with the raw rows built before the clock starts, is reported too. Target: ratio ≥ 0.50.",
    ),
    "import_scale": (
        "The response import at docket scale",
        "JSON-lines files of 100,000, 1,000,000 and 10,000,000 responses (the FCC's 2017 docket had 21.7 million), "
        "each imported by `consult responses import` (streamed: read, validated and inserted 5,000 at a time in one "
        "transaction) into a fresh SQLite database in a process of its own: wall time, rows per second, and peak "
        "RSS of that process (Python and its libraries included). Targets: 1 M at ≥ 30,000 rows/s and under "
        "800 MB; the largest within 1.2× of the peak at 100 k.",
    ),
    "compilation": (
        "Compilation: flat memory",
        "`documents.compilation` writing 100,000 and 1,000,000 synthetic published responses to HTML, CSV and "
        "JSON, each in a fresh process (time, and peak RSS of that process, Python and its libraries included). "
        "Target: peak RSS at 1 M within 1.5× of 100 k. PDF of 10,000 responses (WeasyPrint) reported. The "
        "compilation files are written off the clock's path (flows/compiler.py), with a progress line.",
    ),
    "clock_path": (
        "A reminder behind a big compilation",
        "One consultation of 100,000 published responses due to close (its compilation files written) and, for "
        "another consultation, a reminder in the outbox. A tick writing the files inline (`consult tick`; "
        "`consult serve`'s clock did so too) vs the embedded clock's firing, whose files come from a writer "
        "process of its own (flows/compiler.py); fresh copies of one SQLite database, one temporary Prefect "
        "server (warmed up first), an aiosmtpd sink noting when the reminder arrives.",
    ),
    "staff_responses": (
        "Staff responses table at 100,000 responses",
        "`store.response_search.search` (ORM query, filter, the matching count, one page of 50) vs the same two "
        "SELECTs by raw `sqlite3`, on one consultation of 100,000 responses: the first page, a page half way down "
        "(paged by id), and a search over the answers' text. The raw OFFSET page at the same depth shows what "
        "keyset paging saves. Target: every page under 200 ms. The CSV export of all 100,000, streamed: its time "
        "and the peak memory Python allocated while writing it (flat: rows are read 1,000 at a time).",
    ),
    "workers": (
        "Due work on one and two Prefect workers",
        "10,000 consultations due at once on PostgreSQL (each closed and compiled, its contact alerted); one tick "
        "run claims them in chunks of 1,000, keeps the first and starts a run per further chunk (`consult deploy "
        "--chunk`); each chunk run's event starts a compile run for its consultations, and the mail goes to the "
        "deliver deployment; process workers take all of them, one run at a time each (a worker stands for a "
        "machine's share); Prefect's server on PostgreSQL too, all on this machine's 2 cores. Timed from the tick "
        "run's start until every consultation is compiled and its files written, with 1 worker and then 2, each "
        "on a fresh copy of the database. Target: 2 workers ≥ 1.6× the throughput of 1.",
    ),
    "idle_cost": (
        "The clock while nothing is due",
        "One firing of `consult serve`'s embedded clock while idle (lease, due checks, heartbeat: the path that "
        "decides no flow run is needed, ticking in-process or handing work to a triggered deployment with "
        "CONSULT_TICK_DEPLOYMENT) on 10,000 consultations none due, vs the floor of an empty scheduled run on a "
        "process worker: a new Python process importing the flow. Target: a fraction of a CPU-second per firing.",
    ),
}


def main(names: list[str]) -> None:
    import importlib

    results: dict[str, dict] = {}
    for name in names or list(SECTIONS):
        print(f"running bench.{name} …", flush=True)
        results[name] = importlib.import_module(f"bench.{name}").run()
        print(json.dumps(results[name]), flush=True)
    sections = _kept_sections() if names else {}
    for name, result in results.items():
        title, what = SECTIONS[name]
        block = [f"## {title}", "", what, "", "| measure | value |", "|---|---|"]
        block += [f"| {k} | {v} |" for k, v in result.items()]
        sections[title] = "\n".join([*block, ""])
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    written = "every benchmark" if not names else f"{', '.join(names)} (the other sections kept from earlier runs)"
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python3 dev.py bench` on {when} — {written} — Python {platform.python_version()}, "
        f"{platform.machine()}, {_cores()} cores. Medians over the rounds given; ratios are ours ÷ the raw baseline "
        "measured in the same run.",
        "",
        *[sections[title] for title, _ in SECTIONS.values() if title in sections],
    ]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(lines), encoding="utf-8")
    print("wrote BENCHMARKS.md")


def _kept_sections() -> dict[str, str]:
    """The sections of the current BENCHMARKS.md, by title: `dev.py bench NAME` reruns one
    benchmark (on a quiet machine, say) without dropping the others."""
    path = ROOT / "BENCHMARKS.md"
    if not path.exists():
        return {}
    kept = {}
    for chunk in path.read_text(encoding="utf-8").split("\n## ")[1:]:
        title, _, body = chunk.partition("\n")
        kept[title.strip()] = f"## {title.strip()}\n{body.rstrip()}\n"
    return kept


def _cores() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    main(sys.argv[1:])

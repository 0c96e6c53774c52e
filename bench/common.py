"""Shared helpers for the benchmarks: medians, a sink SMTP server in its own process,
and a scratch database."""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import Engine

from store.db import make_engine, upgrade


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def scratch_engine(name: str) -> tuple[Engine, Path]:
    folder = Path(tempfile.mkdtemp(prefix=f"consult-bench-{name}-"))
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    return engine, folder


def _sink(port: int, ready) -> None:
    import asyncio

    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope) -> str:
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(3600))
    finally:
        controller.stop()


class SinkServer:
    """An aiosmtpd server that accepts and discards, in a separate process so that it
    does not share the benchmark's CPU time slice (it does share the 2 cores)."""

    def __init__(self) -> None:
        from notifications.catcher import free_port

        self.port = free_port()
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        self.process = ctx.Process(target=_sink, args=(self.port, ready), daemon=True)
        self.process.start()
        if not ready.wait(30):
            raise RuntimeError("SMTP sink did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


def ott_consultation(engine: Engine, *, now, open_it: bool = False) -> None:
    """The benchmarks' one consultation (OTT dates), optionally already open."""
    from datetime import date

    from sqlmodel import Session

    from config import Policy
    from states import Stage
    from store import consultations as repo
    from store.decision_file import parse_decision

    with Session(engine) as s:
        data = parse_decision(
            {"slug": "ott-2017", "title": {"en": "OTTs"}, "questions": [{"en": "Q?"}], "decided_on": date(2017, 5, 25),
             "letter_date": date(2017, 6, 14), "deadline": date(2017, 8, 19), "meeting_on": date(2017, 9, 18),
             "contact_email": "cwg@example.org"},
            policy=Policy(),
        )  # fmt: skip
        c = repo.create_consultation(session=s, data=data, proposed=False, actor="bench", now=now, policy=Policy())
        if open_it:
            c.consultation.stage = Stage.OPEN.value
        s.commit()


async def post_submissions(
    port: int, tag: str, count: int, connections: int
) -> tuple[float, list[float], dict[int, int]]:
    """`count` submissions to ott-2017 over `connections` connections: (seconds, latencies,
    answers by status code; 0 for a request that got no answer). The HTTP benches' load."""
    latencies: list[float] = []
    codes: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                 limits=httpx.Limits(max_connections=connections)) as client:  # fmt: skip

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                body = {"name": f"Person {i}", "organisation": "Org", "category": "other", "country": "CH",
                        "email": f"{tag}-{i}@bench.example", "language": ("en", "fr", "ar")[i % 3],
                        "summary": "A short summary.",
                        "answers": [{"question": 1, "text": "An answer. " * 20}]}  # fmt: skip
                start = time.perf_counter()
                try:
                    response = await client.post("/api/consultations/ott-2017/submissions", json=body)
                    code = response.status_code
                except httpx.HTTPError:
                    code = 0
                latencies.append(time.perf_counter() - start)
                codes[code] = codes.get(code, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return time.perf_counter() - start, latencies, codes

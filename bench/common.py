"""Shared helpers for the benchmarks: medians, a sink SMTP server in its own process,
and a scratch database."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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


def bare_app(engine: Engine, *, at):
    """The raw baseline of the HTTP benches: a plain FastAPI endpoint (a `def`, so run in
    the thread pool) inserting the submitted row as it came, nothing else."""
    import secrets

    from fastapi import Body, FastAPI
    from sqlalchemy import text

    app = FastAPI()
    insert = text(
        "INSERT INTO submission (consultation_id, reference, name, organisation, category, country, email,"
        " language, summary, answers, channel, published, content_hash, received_at) VALUES (1, :ref,"
        " :name, :org, :cat, :country, :email, :lang, :summary, :answers, 'api', :published, '', :at)"
    )

    @app.post("/api/consultations/{ref}/submissions", status_code=201)
    def bare(ref: str, payload: dict = Body()) -> dict:  # noqa: B008
        with engine.begin() as conn:
            conn.execute(insert, {"ref": f"R-{secrets.token_hex(5)}", "name": payload["name"],
                                  "org": payload.get("organisation"), "cat": payload["category"],
                                  "country": payload["country"], "email": payload["email"],
                                  "lang": payload["language"], "summary": payload["summary"],
                                  "answers": json.dumps(payload["answers"]), "published": True, "at": at})  # fmt: skip
        return {"ok": True}

    return app


async def post_submissions(
    port: int, tag: str, count: int, connections: int
) -> tuple[float, list[float], dict[int, int]]:
    """`count` submissions to ott-2017 over `connections` keep-alive connections: (seconds,
    latencies, answers by status code; 0 for a request that got no answer). The HTTP
    benches' load, written on asyncio's streams: httpx's client spent 5.5 CPU-ms a request
    at 64 connections (against 1 ms at 32), more than the servers it measured, on a
    machine whose 2 cores it shares with them."""
    latencies: list[float] = []
    codes: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    def request(i: int) -> bytes:
        body = json.dumps({"name": f"Person {i}", "organisation": "Org", "category": "other", "country": "CH",
                           "email": f"{tag}-{i}@bench.example", "language": ("en", "fr", "ar")[i % 3],
                           "summary": "A short summary.",
                           "answers": [{"question": 1, "text": "An answer. " * 20}]}).encode()  # fmt: skip
        return (f"POST /api/consultations/ott-2017/submissions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body  # fmt: skip

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> int:
        writer.write(data)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        lines = head.decode("latin-1").split("\r\n")
        length = next(int(v) for k, _, v in (h.partition(":") for h in lines[1:]) if k.lower() == "content-length")
        await reader.readexactly(length)
        return int(lines[0].split()[1])

    async def worker() -> None:
        reader = writer = None
        while not queue.empty():
            i = queue.get_nowait()
            start = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                code = await exchange(reader, writer, request(i))  # type: ignore[arg-type]
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, StopIteration):
                code, writer = 0, None  # no answer: counted, and the next request opens a new connection
            latencies.append(time.perf_counter() - start)
            codes[code] = codes.get(code, 0) + 1
        if writer is not None:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - start, latencies, codes

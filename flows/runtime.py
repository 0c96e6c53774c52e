"""Running the tick from our own processes (`consult tick`, the embedded clock).

When nothing is due, a tick is one indexed query and starts no Prefect flow run: Prefect's
run history then holds work, not thousands of empty runs a day, and an idle `consult
tick` answers in about a second. When something is due, the flow runs against
PREFECT_API_URL, else against the process's temporary server (flows/prefect_server.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import datetime

from config import Settings
from flows import work
from flows.prefect_server import TemporaryPrefectServer, prefect_api
from store.db import make_engine


def has_work(*, settings: Settings, now: datetime, files: bool = True) -> bool:
    """`files`: compilation files missing are work too (not when a writer of their own
    writes them: flows/compiler.py)."""
    engine = make_engine(settings.database_url)
    try:
        if work.due_consultations(engine=engine, now=now, limit=1) or work.notices_due(engine=engine):
            return True
        if work.expiry_due(engine=engine, now=now, settings=settings):
            return True
        if files and work.files_missing(engine=engine, settings=settings):
            return True
        return bool(settings.smtp_host) and work.mail_due(engine=engine, now=now) > 0
    finally:
        engine.dispose()


def run_tick(
    *, settings: Settings, now: datetime, server: TemporaryPrefectServer | None = None,
    announce: Callable[[str], None] = print, real_time: bool = False, write_files: bool = True,
) -> dict | None:  # fmt: skip
    """One pass of the clock at `now`; None when nothing was due (no flow run started).
    `real_time`: `now` is the wall clock's (no time travel): the run reads the time itself,
    and stamps each change's audit row when it commits. `write_files=False`: compilation
    files are the caller's to write (the embedded clock's writer process)."""
    if not has_work(settings=settings, now=now, files=write_files):
        return None
    events = bool(os.environ.get("PREFECT_API_URL"))  # the operator's server, not our temporary one
    with prefect_api(data_dir=settings.data_dir, server=server, announce=announce):
        from flows.tick import tick_flow

        return asyncio.run(
            tick_flow(
                now=None if real_time else now.isoformat(), database_url=settings.database_url,
                smtp_host=settings.smtp_host, smtp_port=settings.smtp_port,
                events=events, write_files=write_files,
            )
        )  # fmt: skip


def dispatch(*, deployment: str, interval: int) -> str:
    """Start a run of the tick's deployment for the Prefect workers, without waiting: the
    embedded clock's check costs milliseconds, and a flow run (a process on a worker) is
    started only when there is work. Returns the run's name."""
    from prefect.deployments import run_deployment

    run = run_deployment(name=deployment, parameters={"interval": interval}, timeout=0)
    return str(getattr(run, "name", run))  # a FlowRun (called from sync code, it is not awaited)

"""Running the tick from our own processes (`consult tick`, the embedded clock).

When nothing is due, a tick is one indexed query and starts no Prefect flow run: Prefect's
run history then holds work, not thousands of empty runs a day, and an idle `consult
tick` answers in about a second.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime

from config import Settings
from flows import work
from store.db import make_engine


def prefect_environment(settings: Settings) -> None:
    """Keep Prefect's files inside our data folder and its telemetry off (DESIGN §12)."""
    home = (settings.data_dir / "prefect").resolve()
    home.mkdir(parents=True, exist_ok=True)  # Prefect does not create missing parents
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def has_work(*, settings: Settings, now: datetime) -> bool:
    engine = make_engine(settings.database_url)
    try:
        if work.due_consultations(engine=engine, now=now, limit=1):
            return True
        return bool(settings.smtp_host) and work.mail_due(engine=engine, now=now) > 0
    finally:
        engine.dispose()


def run_tick(*, settings: Settings, now: datetime) -> dict | None:
    """One pass of the clock at `now`; None when nothing was due (no flow run started)."""
    if not has_work(settings=settings, now=now):
        return None
    prefect_environment(settings)
    from flows.tick import tick_flow

    return asyncio.run(tick_flow(now=now.isoformat(), database_url=settings.database_url))

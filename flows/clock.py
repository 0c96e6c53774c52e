"""The embedded clock: APScheduler triggers the tick every `interval` seconds, in the
`consult serve` process, on one machine with nothing else to install.

- One clock per database: each firing first takes or renews a lease in the database, so
  several `consult serve` processes (or web workers) never tick twice; when the holder
  dies its lease expires and another takes over.
- `coalesce` and `max_instances=1`: a slow tick is never overlapped by the next, and
  firings missed while busy collapse into one. `misfire_grace_time` is set to the
  interval (APScheduler 3's default of 1 s silently drops late firings).
- Catch-up after downtime needs nothing from the scheduler: the database holds what is
  due, and the first tick after a restart fires it.
- In scale-out mode a Prefect server schedules the tick instead: run `consult serve
  --no-clock` there, so there are never two schedulers for one job.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import Session

from config import Settings
from flows.runtime import run_tick
from store import lease
from store.db import make_engine

LEASE = "clock"


def wall_clock() -> datetime:
    """Real time, for the lease only: leases expire in real time even while CONSULT_NOW
    makes the tick itself travel in time."""
    return datetime.now(UTC)


def clock_job(holder: str, interval: int) -> str:
    """One firing: hold the lease, then tick. Module-level so APScheduler can reference it."""
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as s:
            if not lease.acquire(
                session=s, name=LEASE, holder=holder, now=wall_clock(), ttl=timedelta(seconds=3 * interval)
            ):
                return "another clock holds the lease"
    finally:
        engine.dispose()
    result = run_tick(settings=settings, now=settings.now or wall_clock())
    return "nothing due" if result is None else f"{len(result['actions'])} action(s); mail: {result['mail']}"


def start_clock(*, interval: int, holder: str | None = None) -> BackgroundScheduler:
    holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    scheduler = BackgroundScheduler(
        timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": interval}
    )
    scheduler.add_job(
        "flows.clock:clock_job", "interval", seconds=interval, args=[holder, interval], id="tick",
        next_run_time=wall_clock(),
    )  # fmt: skip
    scheduler.start()
    return scheduler


def start_background(
    *, settings: Settings, interval: int, clock: bool, echo: Callable[[str], None]
) -> Callable[[], None]:
    """Start the mail catcher (when no SMTP server is configured) and the clock; returns `stop`."""
    catcher = None
    if not settings.smtp_host:
        from notifications.catcher import MailCatcher

        catcher = MailCatcher(settings.data_dir / "mail", announce=echo).start()
        # The tick reads its settings from the environment (as a Prefect worker would).
        os.environ["CONSULT_SMTP_HOST"], os.environ["CONSULT_SMTP_PORT"] = "127.0.0.1", str(catcher.port)
        echo(f"no SMTP server configured: mail goes to a local catcher on 127.0.0.1:{catcher.port} "
             f"(kept in {settings.data_dir / 'mail'})")  # fmt: skip
    scheduler = start_clock(interval=interval) if clock else None
    echo(f"clock: ticking every {interval} s" if clock else "clock: off (a Prefect server schedules the tick)")

    def stop() -> None:
        if scheduler:
            scheduler.shutdown(wait=True)
        if catcher:
            catcher.stop()

    return stop

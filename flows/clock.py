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

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlmodel import Session

from config import Settings
from flows import work
from flows.compiler import CompilationWriter
from flows.prefect_server import PrefectServerError, TemporaryPrefectServer
from flows.runtime import dispatch, has_work, run_tick
from states import ConsultError
from store import lease
from store.db import make_engine

LEASE = "clock"


def wall_clock() -> datetime:
    """Real time, when no travelling time is set (CONSULT_NOW): the tick's `now`. Leases
    run on the database's own clock (store/lease.py)."""
    return datetime.now(UTC)


def lease_life(interval: float) -> timedelta:
    """Two intervals: a clock that misses one renewal keeps its lease, and after a kill -9
    another takes over at its next firing — within three intervals."""
    return timedelta(seconds=2 * interval)


@contextmanager
def keep_lease(*, engine: Engine, holder: str, interval: float, announce: Callable[[str], None]) -> Iterator[None]:
    """Renew the clock's lease every `interval` seconds (it lives two) while the block
    runs, on a thread of its own: the tick itself may be busy for minutes."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(interval):
            try:
                with Session(engine) as s:
                    if not lease.acquire(session=s, name=LEASE, holder=holder, ttl=lease_life(interval)):
                        announce("clock: the lease was taken over while ticking")
                        return
            except Exception as exc:  # noqa: BLE001 — the next renewal tries again; the lease outlives one miss
                announce(f"clock: could not renew the lease ({type(exc).__name__}); trying again")

    thread = threading.Thread(target=renew, name="clock-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


class Clock:
    """The embedded clock of one `consult serve` process: its settings (built once, with
    the mail catcher's address), its lease holder name and its Prefect server."""

    def __init__(
        self, *, settings: Settings, interval: int, server: TemporaryPrefectServer | None,
        announce: Callable[[str], None],
    ) -> None:  # fmt: skip
        self.settings, self.interval, self.server, self.announce = settings, interval, server, announce
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.engine = make_engine(settings.database_url)
        self.compiler = CompilationWriter(settings=settings, engine=self.engine, announce=announce)

    def fire(self) -> str:
        """One firing: hold the lease, then tick — renewing the lease all the while, so a
        tick longer than the lease's life is never joined by another clock's."""
        with Session(self.engine) as s:
            if not lease.acquire(session=s, name=LEASE, holder=self.holder, ttl=lease_life(self.interval)):
                return "another clock holds the lease"
        if self.settings.tick_deployment:
            return self._dispatch(self.settings.tick_deployment)
        try:
            with keep_lease(engine=self.engine, holder=self.holder, interval=self.interval, announce=self.announce):
                result = run_tick(
                    settings=self.settings, now=self.settings.now or wall_clock(), server=self.server,
                    announce=self.announce, real_time=self.settings.now is None, write_files=False,
                )  # fmt: skip
        except (PrefectServerError, ConsultError) as exc:  # said in one line; the next firing tries again
            self.announce(f"clock: tick not run: {exc}")
            return "not run"
        try:
            started = self.compiler.poke()  # after the commit; the writer works while the clock ticks on
        except Exception as exc:  # noqa: BLE001 — the next firing looks again
            self.announce(f"clock: could not start the compilation writer ({type(exc).__name__}: {exc})")
        else:
            if started:
                self.announce(f"clock: {started}")
        try:
            work.record_beat(engine=self.engine, interval=self.interval, by=f"consult serve {self.holder}")
        except Exception as exc:  # noqa: BLE001 — the beat is a report; the staff warning says if it stays away
            self.announce(f"clock: could not record the heartbeat ({type(exc).__name__})")
        if result is None:
            return "nothing due"
        for line in [*result["actions"], *result.get("notices", [])]:  # an operator watching `serve` sees it
            self.announce(f"clock: {line}")
        return f"{len(result['actions'])} action(s); mail: {result['mail']}"

    def _dispatch(self, deployment: str) -> str:
        """Hand due work to the deployment's workers. The run beats when it completes: a
        clock that only dispatched does not, so dead workers show as a stopped clock."""
        now = self.settings.now or wall_clock()
        if not has_work(settings=self.settings, now=now):
            work.record_beat(engine=self.engine, interval=self.interval, by=f"consult serve {self.holder} (idle)")
            return "nothing due"
        try:
            name = dispatch(deployment=deployment, interval=self.interval)
        except Exception as exc:  # noqa: BLE001 — said in one line; the next firing tries again
            self.announce(f"clock: could not start a run of {deployment}: {type(exc).__name__}: {exc}")
            return "not dispatched"
        self.announce(f"clock: work due: flow run {name} of {deployment} started for the workers")
        return f"dispatched {name}"

    def release(self) -> None:
        """Hand the lease back on a clean stop, so another `serve` ticks at once (and stop
        a compilation writer under way: the next clock writes its folder again)."""
        self.compiler.stop()
        with Session(self.engine) as s:
            lease.release(session=s, name=LEASE, holder=self.holder)
        self.engine.dispose()

    def start(self) -> BackgroundScheduler:
        # A firing skipped because the previous one still runs is the design (max_instances=1),
        # not news: APScheduler would warn of it every interval while a tick waits for Prefect.
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": self.interval},
        )
        # A bound method is fine here: the job store is in memory, never persisted.
        scheduler.add_job(self.fire, "interval", seconds=self.interval, id="tick", next_run_time=wall_clock())
        scheduler.start()
        return scheduler


def start_background(
    *, settings: Settings, interval: int, clock: bool, echo: Callable[[str], None]
) -> Callable[[], None]:
    """Start the mail catcher (when no SMTP server is configured), the temporary Prefect
    server (when PREFECT_API_URL is unset) and the clock; returns `stop`, which stops them
    all. Call it from the main thread (the Prefect server dies with the thread that forked it)."""
    if clock and settings.tick_deployment and not os.environ.get("PREFECT_API_URL"):
        raise ConsultError(f"CONSULT_TICK_DEPLOYMENT={settings.tick_deployment} needs PREFECT_API_URL: "
                           "the Prefect server that deployment lives on")  # fmt: skip
    catcher = None
    if not settings.smtp_host:
        from notifications.catcher import MailCatcher

        catcher = MailCatcher(settings.data_dir / "mail", announce=echo).start()
        settings = replace(settings, smtp_host="127.0.0.1", smtp_port=catcher.port)
        echo(f"no SMTP server configured: mail goes to a local catcher on 127.0.0.1:{catcher.port} "
             f"(kept in {(settings.data_dir / 'mail').resolve()})")  # fmt: skip
    server = None
    if clock and not os.environ.get("PREFECT_API_URL"):
        server = TemporaryPrefectServer(data_dir=settings.data_dir, announce=echo).start()
    engine_clock = Clock(settings=settings, interval=interval, server=server, announce=echo) if clock else None
    scheduler = engine_clock.start() if engine_clock else None
    echo(f"clock: ticking every {interval} s" if clock else "clock: off (a Prefect server schedules the tick)")

    def stop() -> None:
        if scheduler:
            scheduler.shutdown(wait=True)
        if engine_clock:
            engine_clock.release()
        if server:
            server.stop()
        if catcher:
            catcher.stop()

    return stop

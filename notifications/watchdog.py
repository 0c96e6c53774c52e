"""Whoever runs the clock, something must notice when it stops: the web process (`consult
serve`, with or without the embedded clock) checks the clock's heartbeat every minute and,
when no tick has completed for three intervals, mails the contacts of the consultations it
still owes something — once per stoppage — and delivers that alert itself (the clock that
delivers mail is the one that stopped). The staff board shows the same warning."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from config import Settings
from notifications.delivery import SmtpServer, deliver
from notifications.notices import queue_clock_stopped
from notifications.render import CLOCK_STOPPED
from store import heartbeat

log = logging.getLogger(__name__)
EVERY = 60.0  # seconds between checks


def check(*, engine: Engine, settings: Settings, now: datetime) -> int:
    """Queue the alert if the clock is overdue; returns how many messages were new."""
    with Session(engine) as session:
        stale = heartbeat.stale(session=session)
        if stale is None:
            return 0
        queued = queue_clock_stopped(session=session, since=stale.since, interval=stale.interval, by=stale.by,
                                     now=now, mail=settings.mail)  # fmt: skip
        session.commit()
    if queued:
        log.warning("the clock has not completed a tick since %s: %d staff alert(s) queued", stale.since, queued)
    return queued


async def send_alerts(*, engine: Engine, settings: Settings, now: datetime) -> str:
    if not settings.smtp_host:
        return "no SMTP server: the alert stays in the outbox"
    server = SmtpServer.from_settings(settings)
    return str(await deliver(engine=engine, server=server, mail=settings.mail, now=now, only=CLOCK_STOPPED))


async def watch(*, engine: Engine, settings: Settings, clock: Callable[[], datetime], every: float = EVERY) -> None:
    """Run until cancelled (the web app's lifespan)."""
    while True:
        await asyncio.sleep(every)
        try:
            now = clock()
            if await asyncio.to_thread(check, engine=engine, settings=settings, now=now):
                await send_alerts(engine=engine, settings=settings, now=now)
        except Exception:  # noqa: BLE001 — a watchdog that dies watches nothing: log and keep going
            log.exception("clock watchdog: check failed; trying again in %s s", every)

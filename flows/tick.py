"""Prefect flows: the tick (fire due transitions, queue due reminders and alerts, deliver
the outbox). Thin wrappers around flows/work.py; async, because a sync flow costs about a
second each in heartbeats here (DESIGN §12).

Import this module only when there is work: importing Prefect alone takes a while, and
without PREFECT_API_URL the first flow run starts a temporary Prefect server.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, task

from config import Settings
from config.settings import parse_instant
from flows import work
from notifications.delivery import SmtpServer, deliver
from store.db import make_engine


def _settings(database_url: str | None) -> Settings:
    """Settings for this run, from the environment (a Prefect worker has no other source)."""
    settings = Settings.from_env()
    if database_url:
        from dataclasses import replace

        settings = replace(settings, database_url=database_url)
    return settings


def _now(now: str | None, settings: Settings) -> datetime:
    if now:
        return parse_instant(now, what="now").astimezone(UTC)
    return (settings.now or datetime.now(UTC)).astimezone(UTC)


@task(name="advance-due", retries=2, retry_delay_seconds=5)
def advance_due_task(database_url: str | None, now: str) -> dict:
    settings = _settings(database_url)
    engine = make_engine(settings.database_url)
    try:
        report = work.advance_all_due(engine=engine, now=_now(now, settings), settings=settings)
        return {"due": report.due, "actions": report.actions, "skipped": report.skipped, "to_write": report.compiled}
    finally:
        engine.dispose()


@task(name="deliver-outbox", retries=2, retry_delay_seconds=5)
async def deliver_task(database_url: str | None, now: str) -> str:
    settings = _settings(database_url)
    if not settings.smtp_host:
        return "no SMTP server configured: mail stays in the outbox"
    engine = make_engine(settings.database_url)
    try:
        server = SmtpServer.from_settings(settings)
        return str(await deliver(engine=engine, server=server, mail=settings.mail, now=_now(now, settings)))
    finally:
        engine.dispose()


@task(name="write-compilations", retries=2, retry_delay_seconds=5)
def compilations_task(database_url: str | None, ids: list[int]) -> list[str]:
    settings = _settings(database_url)
    engine = make_engine(settings.database_url)
    try:
        return work.write_compilations(engine=engine, ids=ids, settings=settings)
    finally:
        engine.dispose()


@flow(name="tick", log_prints=True)
async def tick_flow(now: str | None = None, database_url: str | None = None) -> dict:
    """One pass of the clock. `now` (ISO 8601) is for time travel; scheduled runs omit it."""
    at = _now(now, _settings(database_url)).isoformat()
    result = advance_due_task(database_url, at)
    if result["to_write"]:  # the compilations: files written after the commit; re-running them is harmless
        result["compilations"] = compilations_task(database_url, result["to_write"])
    result["mail"] = await deliver_task(database_url, at)
    return result

"""Fanning a transition's notice out to the stakeholders, after the transition committed.

The lifecycle service records one `pending_notice` row in the transition's transaction;
here it becomes one outbox message per reachable stakeholder, in their language. Each
notice is claimed by a compare-and-set on `queued_at`, so two processes fanning out at
once queue it once (and the outbox's keys would keep each message single anyway). The web
does this in the background after answering, the CLI right after its commit, and every
tick picks up whatever is left (a crash between the commit and the fan-out loses nothing).

A notice that is no longer true when it is fanned out is not sent: nothing but the
cancellation goes out for a consultation cancelled meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from config import MailSettings, Settings
from notifications.notices import queue_to_stakeholders, wording_for
from states import Notice, Stage
from store import consultations as repo
from store.tables import PendingNotice

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FannedOut:
    slug: str
    notice: Notice
    messages: int
    superseded: bool = False

    def __str__(self) -> str:
        if self.superseded:
            return f"{self.slug}: {self.notice.value} notice superseded (the consultation was cancelled), none sent"
        return f"{self.slug}: {self.notice.value} notice queued for {self.messages} stakeholder(s)"


@dataclass(frozen=True, slots=True)
class NotFannedOut:
    """A notice that failed to fan out this time: it stays owed, and the others went on."""

    notice_id: int
    error: str

    def __str__(self) -> str:
        return f"notice {self.notice_id}: not fanned out ({self.error}); tried again at the next tick"


def unqueued(*, session: Session, limit: int = 100) -> list[int]:
    query = select(PendingNotice.id).where(col(PendingNotice.queued_at).is_(None)).order_by(col(PendingNotice.id))
    return [i for i in session.exec(query.limit(limit)) if i is not None]


def fan_out(*, session: Session, notice_id: int, now: datetime, mail: MailSettings) -> FannedOut | None:
    """Queue one notice's messages in the caller's transaction; None if another process
    claimed it first."""
    claimed = session.execute(
        update(PendingNotice)
        .where(col(PendingNotice.id) == notice_id, col(PendingNotice.queued_at).is_(None))
        .values(queued_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    pending = session.get(PendingNotice, notice_id)
    assert pending is not None
    c = repo.get(session=session, ref=pending.consultation_id, discarded=True)
    notice, details = Notice(pending.notice), pending.details
    if c.stage == Stage.CANCELLED.value and notice is not Notice.CANCELLATION:
        pending.messages = 0
        return FannedOut(c.slug, notice, 0, superseded=True)
    wording = wording_for(c, notice.value, details, now)
    count = queue_to_stakeholders(session=session, consultation=c, wording=wording, now=now, mail=mail)
    pending.messages = count
    session.flush()
    return FannedOut(c.slug, notice, count)


def fan_out_in(*, session: Session, now: datetime, mail: MailSettings) -> list[FannedOut]:
    """Every unqueued notice, in the caller's transaction (the demo, tests)."""
    done = []
    while ids := unqueued(session=session):
        for notice_id in ids:
            if (result := fan_out(session=session, notice_id=notice_id, now=now, mail=mail)) is not None:
                done.append(result)
    return done


def fan_out_pending(*, engine: Engine, now: datetime, mail: MailSettings) -> list[FannedOut | NotFannedOut]:
    """Every unqueued notice, each in a transaction of its own (the web, the CLI, the tick)."""
    done: list[FannedOut | NotFannedOut] = []
    seen: set[int] = set()
    while True:
        with Session(engine) as s:
            ids = [i for i in unqueued(session=s) if i not in seen]
        if not ids:
            return done
        for notice_id in ids:
            seen.add(notice_id)
            try:
                with Session(engine, expire_on_commit=False) as s:
                    result = fan_out(session=s, notice_id=notice_id, now=now, mail=mail)
                    s.commit()
            except Exception as exc:  # noqa: BLE001 — one notice never stops the others; it stays owed
                log.exception("notice %s could not be fanned out; it is tried again next time", notice_id)
                done.append(NotFannedOut(notice_id, f"{type(exc).__name__}: {exc}"))
                continue
            if result is not None:
                done.append(result)


def settle_as_history(*, session: Session, consultation_id: int, now: datetime) -> None:
    """Mark a consultation's notices as sent outside this tool (a history replayed by the
    demo, or imported): recorded, never fanned out."""
    session.execute(
        update(PendingNotice)
        .where(col(PendingNotice.consultation_id) == consultation_id, col(PendingNotice.queued_at).is_(None))
        .values(queued_at=now, messages=0)
        .execution_options(synchronize_session=False)
    )


def fan_out_for(settings: Settings, now: datetime) -> list[str]:
    """`fan_out_pending` for a process of its own (the web's fan-out worker): everything it
    needs comes in the (picklable) settings."""
    from store.db import make_engine

    engine = make_engine(settings.database_url)
    try:
        return [str(f) for f in fan_out_pending(engine=engine, now=now, mail=settings.mail)]
    finally:
        engine.dispose()


def stop_with_parent() -> None:
    """A background worker process's initializer: leave when the process that started it
    is gone (killed with SIGKILL, say), so no worker outlives its server; and yield the CPU
    to it — on a small machine a fan-out of thousands of notices took the cores from the
    web's own requests (a /healthz poll waited 300–400 ms), it now takes what they leave."""
    import os
    import threading
    import time

    os.nice(10)

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()

"""The clock's heartbeat: each completed tick (one with work, or an idle firing of the
embedded clock) stamps the time on the database's clock; the staff board warns when none
has completed for STALE_AFTER intervals — the clock process died, the Prefect workers
stopped, the schedule was paused: whatever the cause, deadlines would pass unseen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from store.lease import database_now
from store.tables import ClockBeat

STALE_AFTER = 3  # intervals without a completed tick


def beat(*, session: Session, interval: int, by: str) -> None:
    """Record a completed tick now (the database's time). Commits."""
    row = session.get(ClockBeat, 1)
    at = database_now(session)
    if row is None:
        session.add(ClockBeat(id=1, completed_at=at, interval_s=interval, by=by[:120]))
    else:
        row.completed_at, row.interval_s, row.by = at, interval, by[:120]
    session.commit()


@dataclass(frozen=True, slots=True)
class Stale:
    since: datetime
    interval: int
    by: str


def stale(*, session: Session) -> Stale | None:
    """The last beat, if it is older than STALE_AFTER intervals; None while the clock
    keeps time (or has never run: a fresh install has nothing due yet)."""
    row = session.get(ClockBeat, 1)
    if row is None:
        return None
    if database_now(session) - row.completed_at <= timedelta(seconds=STALE_AFTER * row.interval_s):
        return None
    return Stale(row.completed_at, row.interval_s, row.by)

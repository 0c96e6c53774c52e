"""A named lease in the database: one holder at a time, renewed while alive, taken over
once it expires. Keeps one clock per database however many processes are started.

Its time is the database's (`database_now`), not each machine's: two hosts whose clocks
disagree by a minute still agree on when a lease runs out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from store.tables import ClockLease


def database_now(session: Session) -> datetime:
    """The database server's clock, now (not the transaction's start: PostgreSQL's now()
    stands still inside a transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(text("SELECT clock_timestamp()")).scalar_one().astimezone(UTC)
    raw = session.execute(text("SELECT strftime('%Y-%m-%dT%H:%M:%f', 'now')")).scalar_one()
    return datetime.fromisoformat(raw).replace(tzinfo=UTC)


def acquire(*, session: Session, name: str, holder: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Take or renew the lease; False while someone else holds a live one. Commits.
    `now`: the database's clock unless given (tests give one)."""
    now = now if now is not None else database_now(session)
    renewed = session.execute(
        update(ClockLease)
        .where(col(ClockLease.name) == name, or_(col(ClockLease.holder) == holder, col(ClockLease.expires_at) < now))
        .values(holder=holder, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    if renewed.rowcount == 1:  # type: ignore[attr-defined]
        session.commit()
        return True
    if session.get(ClockLease, name) is not None:
        session.rollback()
        return False
    session.add(ClockLease(name=name, holder=holder, expires_at=now + ttl))
    try:
        session.commit()
    except IntegrityError:  # another process created it first
        session.rollback()
        return False
    return True


def release(*, session: Session, name: str, holder: str) -> None:
    session.execute(
        update(ClockLease)
        .where(col(ClockLease.name) == name, col(ClockLease.holder) == holder)
        .values(expires_at=datetime(1970, 1, 1, tzinfo=UTC))
        .execution_options(synchronize_session=False)
    )
    session.commit()

"""SMTP delivery of the outbox with aiosmtplib.

A deliverer claims due messages under a lease (so two deliverers never send the same
one), sends them over a few reused connections, and records each outcome before that
connection's next message can be accepted (before its DATA) — so a crash repeats at most
the one message per connection that was accepted but not yet marked, with the same
Message-ID. 4xx replies and time-outs are
retried with exponential backoff; 5xx is permanent, and a rejected recipient (5.1.x, or
5xx at RCPT) is marked bounced so nothing more goes to it. One bad recipient never
blocks the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

import aiosmtplib
from sqlalchemy import Dialect, Engine, and_, case, false, null, or_
from sqlalchemy import select as sa_select
from sqlmodel import col

from config import MailSettings, Settings
from notifications.mime import envelope_sender, smtp_address
from notifications.outbox import Status
from states import Notice, Stage
from store.statements import among, bound_value, driver_executemany, placeholder
from store.tables import Consultation, OutboxBody, OutboxMessage, Stakeholder

# A claimed message is leased for two minutes and the lease renewed every RENEW while the
# run sending it lives: a run that dies leaves its messages to the next one within LEASE
# (it was ten minutes, unrenewed: a crash held mail back that long).
log = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)
RENEW = 30.0  # seconds
BATCH = 1000
GROUP = 2  # outcomes waiting that start a commit unasked (see _send)
_BOUNCE = re.compile(r"\b5\.1\.\d+\b")


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpServer:
        if not settings.smtp_host:
            raise ValueError("no SMTP server configured (CONSULT_SMTP_HOST)")
        return cls(
            host=settings.smtp_host, port=settings.smtp_port, username=settings.smtp_username,
            password=settings.smtp_password, starttls=settings.smtp_starttls, timeout=settings.mail.timeout_seconds,
        )  # fmt: skip


@dataclass
class Report:
    sent: int = 0
    retrying: int = 0  # will be tried again
    failed: int = 0  # permanently, or given up after the last attempt
    skipped: int = 0
    superseded: int = 0
    bounced: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"sent {self.sent}, retrying {self.retrying}, failed {self.failed}, skipped {self.skipped}"
        if self.superseded:
            text += f", superseded {self.superseded}"
        return text + (f"; bounced: {', '.join(self.bounced)}" if self.bounced else "")


class Claimed(NamedTuple):  # a tuple: a thousand are made at each claim
    id: int
    recipient: str
    data: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # sent | retry | failed | bounced | released
    detail: str = ""


class _Ledger:
    """The deliverer's database side, on one connection held for the whole pass.

    Each outcome is committed before that SMTP connection's next DATA (`_send`), so a
    crash repeats at most one message per connection; a commit starts when GROUP outcomes
    wait or a connection needs its own, and takes every outcome waiting then. The commit
    runs on the loop itself: on a held connection it takes under 0.1 ms; a writer thread
    measured slower (GIL hand-offs), and so did claiming on a thread of its own (on SQLite
    the claim's write then held the outcomes' commits back; bench/).
    """

    def __init__(self, engine: Engine, mail: MailSettings, now: datetime, only: str | None = None) -> None:
        self.engine, self.mail, self.now, self.only = engine, mail, now, only
        self.held: set[int] = set()  # claimed by this run, outcome not yet written: the lease to renew
        self.started = time.monotonic()
        self.conn = engine.connect()
        self._waiting: list[tuple[Claimed, Outcome, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        # Most outcomes are "sent": that UPDATE goes straight to the driver, as SQLAlchemy's
        # per-execution work cost about a tenth of the raw send rate (bench/mail_delivery.py).
        table, mark = OutboxMessage.__table__, placeholder(self.conn.dialect)  # type: ignore[attr-defined]
        self._mark_sent = (
            f"UPDATE {table.name} SET status = '{Status.SENT}', sent_at = {mark}, attempts = {mark},"
            f" lease_until = NULL, last_error = NULL WHERE id = {mark} AND status = '{Status.SENDING}'"
        )
        self._sent_at = bound_value(table.c.sent_at, now, self.conn.dialect)

    def close(self) -> None:
        self.conn.close()

    def claim(self, limit: int) -> tuple[list[Claimed], int, int]:
        """Supersede what is no longer true, skip what can no longer go out, then lease up
        to `limit` due messages. Returns (claimed, skipped, superseded)."""
        now, t = self.now, OutboxMessage.__table__.c  # type: ignore[attr-defined]
        # Still due when written (on SQLite another deliverer may have claimed a row since the
        # window was read). As a CASE, which no index serves: written as conditions on
        # `status`, SQLite read every due message through the due index instead of the
        # window's 1,000 by id — 7 ms a statement with 100,000 queued, four statements a claim.
        still_due = case(
            (t.status == Status.PENDING, t.next_attempt_at <= now),
            (t.status == Status.SENDING, t.lease_until < now),
            else_=false(),
        )
        superseded = skipped = 0
        rows: Sequence[Any] = []
        dialect = self.conn.dialect
        with self.conn.begin():
            # The next `limit` due messages (locked on PostgreSQL, so two deliveries never take
            # one), checked and leased. Checked a window at a time, not every due message at
            # each claim: with 100,000 reminders queued that was 100 passes over all of them.
            while True:
                window = self._window(limit)
                if not window:
                    break
                fates: dict[str | None, list[int]] = {}
                for outbox_id, fate in self.conn.execute(_fates(window, now, dialect)).all():
                    fates.setdefault(fate, []).append(outbox_id)
                update = OutboxMessage.__table__.update  # type: ignore[attr-defined]
                for fate, ids in fates.items():
                    if fate is None:
                        continue
                    status, reason = _FATES[_Fate(fate)]
                    mark = update().where(among(t.id, ids, dialect), still_due)
                    changed = self.conn.execute(
                        mark.values(status=status, lease_until=None, last_error=reason)
                    ).rowcount
                    if status == Status.SKIPPED:
                        skipped += changed
                    else:
                        superseded += changed
                rows = self.conn.execute(
                    update()
                    .where(among(t.id, fates.get(None, []), dialect), still_due)
                    .values(status=Status.SENDING, lease_until=now + LEASE)
                    .returning(t.id, t.recipient_email, t.attempts)
                ).all()
                if rows:  # a window all superseded or skipped: the next one
                    break
            body = OutboxBody.__table__.c  # type: ignore[attr-defined]
            raw: dict[int, bytes] = dict(
                self.conn.execute(
                    sa_select(body.outbox_id, body.raw).where(among(body.outbox_id, [r[0] for r in rows], dialect))
                ).all()  # type: ignore[arg-type]
            )
        # (tuples, sorted by id; their rows read whole, not one fetch each: a claim is a pause
        # of every connection)
        claimed = sorted(Claimed(i, email, bytes(raw[i]), attempts) for i, email, attempts in rows)
        self.held.update(c.id for c in claimed)
        return claimed, skipped, superseded

    def _window(self, limit: int) -> list[int]:
        """The ids of the next `limit` due messages not held back (`only`: of that kind —
        the web's watchdog sends its own alert while the clock is stopped): those whose
        lease lapsed (a deliverer died), then the pending ones in the order they fell due.
        Each read off its partial index in its order, stopping at `limit` (not every due
        message sorted at each claim)."""
        now, t = self.now, OutboxMessage.__table__.c  # type: ignore[attr-defined]
        held = sa_select(Consultation.id).where(col(Consultation.mail_held_at).is_not(None))  # type: ignore[call-overload]
        free = or_(t.consultation_id.is_(None), t.consultation_id.not_in(held))
        if self.only:
            free = and_(free, t.purpose.startswith(self.only))
        lapsed = (
            sa_select(t.id).where(t.status == Status.SENDING, t.lease_until < now, free).order_by(t.lease_until, t.id)
        )
        pending = (
            sa_select(t.id)
            .where(t.status == Status.PENDING, t.next_attempt_at <= now, free)
            .order_by(t.next_attempt_at, t.id)
        )
        window: list[int] = []
        for pick in (lapsed, pending):
            pick = pick.limit(limit - len(window))
            if self.conn.dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            window += self.conn.execute(pick).scalars().all()
            if len(window) >= limit:
                break
        return window

    def renew(self) -> int:
        """Extend the lease of what this run still holds, from its `now` plus the time it has
        been running; returns how many rows it renewed."""
        if not self.held:
            return 0
        t = OutboxMessage.__table__.c  # type: ignore[attr-defined]
        until = self.now + timedelta(seconds=time.monotonic() - self.started) + LEASE
        with self.conn.begin():
            return self.conn.execute(
                OutboxMessage.__table__.update()  # type: ignore[attr-defined]
                .where(t.id.in_(sorted(self.held)), t.status == Status.SENDING)
                .values(lease_until=until)
            ).rowcount

    def _values(self, item: Claimed, outcome: Outcome) -> dict:
        now, attempts = self.now, item.attempts + 1
        if outcome.kind == "sent":
            return {"status": Status.SENT, "sent_at": now, "attempts": attempts, "last_error": None}
        if outcome.kind == "released":
            return {"status": Status.PENDING}
        if outcome.kind == "retry" and attempts < self.mail.max_attempts:
            delay = timedelta(seconds=self.mail.backoff_seconds * 2 ** (attempts - 1))
            return {"status": Status.PENDING, "next_attempt_at": now + delay, "attempts": attempts,
                    "last_error": outcome.detail}  # fmt: skip
        if outcome.kind == "retry":
            return {"status": Status.FAILED, "attempts": attempts,
                    "last_error": f"gave up after {attempts} attempts: {outcome.detail}"}  # fmt: skip
        if outcome.kind == "bounced":
            return {"status": Status.BOUNCED, "attempts": attempts, "last_error": outcome.detail}
        return {"status": Status.FAILED, "attempts": attempts, "last_error": outcome.detail}

    def write(self, outcomes: list[tuple[Claimed, Outcome]]) -> None:
        """Record outcomes in one transaction; only rows still claimed are touched."""
        self.held.difference_update(i.id for i, _ in outcomes)
        table = OutboxMessage.__table__  # type: ignore[attr-defined]
        sent = [(i, o) for i, o in outcomes if o.kind == "sent"]
        others = [(i, o) for i, o in outcomes if o.kind != "sent"]
        conn = self.conn
        with conn.begin():
            if sent:
                rows = [(self._sent_at, i.attempts + 1, i.id) for i, _ in sent]
                driver_executemany(connection=conn, sql=self._mark_sent, rows=rows)
            for item, outcome in others:
                conn.execute(
                    table.update()
                    .where(table.c.id == item.id, table.c.status == Status.SENDING)
                    .values(lease_until=None, **self._values(item, outcome))
                )
                if outcome.kind == "bounced":
                    conn.execute(
                        Stakeholder.__table__.update()  # type: ignore[attr-defined]
                        .where(Stakeholder.__table__.c.email == item.recipient)  # type: ignore[attr-defined]
                        .values(bounced=True, bounce_reason=outcome.detail, updated_at=self.now)
                    )
                    conn.execute(
                        table.update()
                        .where(table.c.recipient_email == item.recipient, table.c.status == Status.PENDING)
                        .values(status=Status.SKIPPED, last_error=f"recipient bounced: {outcome.detail}")
                    )

    def note(self, item: Claimed, outcome: Outcome) -> asyncio.Future[None]:
        """An outcome to record: written with the next commit anyone waits on (`settle`)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, outcome, future))
        if len(self._waiting) >= GROUP and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush())
        return future

    async def settle(self, futures: list[asyncio.Future[None]]) -> None:
        """Wait until these outcomes are committed, committing what is waiting if need be:
        every outcome noted by then shares the commit (group commit)."""
        if any(not f.done() for f in futures) and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush())
        for future in futures:
            await future
        futures.clear()

    async def record(self, item: Claimed, outcome: Outcome) -> None:
        """Durably record one outcome now."""
        await self.settle([self.note(item, outcome)])

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the other connections' replies of this turn join the commit
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                self.write([(i, o) for i, o, _ in batch])
            except Exception as exc:  # nothing was marked: the messages stay leased and go again later
                for _, _, future in batch:
                    future.set_exception(exc)
            else:
                for _, _, future in batch:
                    future.set_result(None)


class _Fate(StrEnum):
    """Why a claimed message does not go (`_fates`)."""

    CONSULTATION_CANCELLED = "consultation_cancelled"
    DEADLINE_MOVED = "deadline_moved"
    RECIPIENT_UNREACHABLE = "recipient_unreachable"


_FATES = {
    _Fate.CONSULTATION_CANCELLED: (Status.SUPERSEDED,
                                   "superseded: the consultation was cancelled before this went out"),
    _Fate.DEADLINE_MOVED: (Status.SUPERSEDED,
                           "superseded: the deadline it speaks of changed or passed before it went out"),
    _Fate.RECIPIENT_UNREACHABLE: (Status.SKIPPED, "recipient opted out or bounced"),
}  # fmt: skip


def _fates(window: list[int], now: datetime, dialect: Dialect):
    """What becomes of each message of the window, checked against the consultation and
    the recipient as they are now, just before sending (one query, not one update per
    check): a cancelled consultation sends its cancellation (and receipts, which stay
    true) and nothing else still queued; a message counting on a deadline (a reminder, an
    extension notice) goes only while that is still the deadline and it has not passed;
    nothing goes to an address that opted out or bounced. NULL: it goes."""
    t = OutboxMessage.__table__.c  # type: ignore[attr-defined]
    c = Consultation.__table__.c  # type: ignore[attr-defined]
    who = Stakeholder.__table__.c  # type: ignore[attr-defined]
    cancelled = and_(c.stage == Stage.CANCELLED.value, t.purpose != Notice.CANCELLATION.value,
                     ~t.purpose.startswith("receipt:"), ~t.purpose.startswith("test:"))  # fmt: skip
    moved = and_(t.deadline_at.is_not(None), or_(c.deadline != t.deadline_at, c.deadline <= now))
    fate = case((cancelled, _Fate.CONSULTATION_CANCELLED.value), (moved, _Fate.DEADLINE_MOVED.value),
                (or_(who.opted_out, who.bounced), _Fate.RECIPIENT_UNREACHABLE.value), else_=null())  # fmt: skip
    tables = (OutboxMessage.__table__, Consultation.__table__, Stakeholder.__table__)  # type: ignore[attr-defined]
    joined = tables[0].outerjoin(tables[1], c.id == t.consultation_id).outerjoin(tables[2], who.id == t.stakeholder_id)
    return sa_select(t.id, fate).select_from(joined).where(among(t.id, window, dialect))


def _classify(exc: Exception) -> tuple[Outcome, bool]:
    """(outcome, keep the connection)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients[0]
        detail = f"{refused.code} {refused.message}"
        if refused.code >= 500:
            return Outcome("bounced", detail), True
        return Outcome("retry", detail), refused.code != 421
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        detail = f"{exc.code} {exc.message}"
        if exc.code >= 500:
            return Outcome("bounced" if _BOUNCE.search(exc.message) else "failed", detail), True
        return Outcome("retry", detail), exc.code != 421
    return Outcome("retry", f"{type(exc).__name__}: {exc}".strip()), False


class _Source:
    """Claimed messages for the connections to take, claiming the next batch when the
    last one runs out, so connections stay open across batches."""

    def __init__(self, ledger: _Ledger, report: Report, limit: int | None) -> None:
        self.ledger, self.report, self.remaining = ledger, report, limit
        self.items: deque[Claimed] = deque()
        self.exhausted = False

    def next(self) -> Claimed | None:
        if not self.items and not self.exhausted:
            size = BATCH if self.remaining is None else min(BATCH, self.remaining)
            batch, skipped, superseded = self.ledger.claim(size) if size > 0 else ([], 0, 0)
            self.report.skipped += skipped
            self.report.superseded += superseded
            self.items.extend(batch)
            if self.remaining is not None:
                self.remaining -= len(batch)
            self.exhausted = not batch
        return self.items.popleft() if self.items else None


def _count(report: Report, item: Claimed, outcome: Outcome, max_attempts: int) -> None:
    """What the summary says is what the ledger recorded: a retry on the last attempt is a
    failure (given up), not "retrying"."""
    if outcome.kind == "sent":
        report.sent += 1
    elif outcome.kind == "retry" and item.attempts + 1 < max_attempts:
        report.retrying += 1
    elif outcome.kind != "released":
        report.failed += 1
        if outcome.kind == "bounced":
            report.bounced.append(item.recipient)


async def _send(smtp: aiosmtplib.SMTP, sender: str, recipient: str, data: bytes, utf8: bool,
                before_data: Callable[[], Awaitable[None]]) -> None:  # fmt: skip
    """aiosmtplib's `sendmail` for one recipient, with a wait before DATA: the connection's
    previous outcome is committed while this envelope goes out (MAIL, RCPT), not before
    it. The server can accept this message only after DATA, so a crash still leaves at
    most one message per connection sent but not marked — and the commits are shared by
    several connections' outcomes: one commit per message cost a sixth of the raw send
    rate in a fan-out of 100,000 (bench/mail_delivery.py)."""
    encoding = "utf-8" if utf8 else "ascii"
    options = ["SMTPUTF8"] if utf8 else []
    if smtp.is_ehlo_or_helo_needed:
        await smtp.ehlo()
    if smtp.supports_extension("size"):
        options.insert(0, f"size={len(data)}")  # the outbox's bytes are CRLF already (mime.py)
    try:
        await smtp.mail(sender, options=options, encoding=encoding)
        try:
            await smtp.rcpt(recipient, encoding=encoding)
        except aiosmtplib.SMTPRecipientRefused as exc:
            raise aiosmtplib.SMTPRecipientsRefused([exc]) from None
        await before_data()
        await smtp.data(data)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await smtp.rset()  # as sendmail does: the envelope reset for the next message
        raise


async def _worker(source: _Source, server: SmtpServer, ledger: _Ledger, report: Report, sender: str) -> None:
    smtp: aiosmtplib.SMTP | None = None
    unsettled: list[asyncio.Future[None]] = []  # this connection's outcomes not yet committed

    async def settle() -> None:
        await ledger.settle(unsettled)

    try:
        while (item := source.next()) is not None:
            try:
                if smtp is None:
                    smtp = aiosmtplib.SMTP(
                        hostname=server.host, port=server.port, timeout=server.timeout, start_tls=server.starttls,
                        username=server.username, password=server.password,
                    )  # fmt: skip
                    await smtp.connect()
                recipient, utf8 = smtp_address(item.recipient)
                if utf8 and smtp.is_ehlo_or_helo_needed:
                    await smtp.ehlo()  # what the server offers is known after EHLO
                if utf8 and not smtp.supports_extension("smtputf8"):
                    outcome = Outcome("failed", f"the server does not offer SMTPUTF8, which the address "
                                                f"{item.recipient} needs (a non-ASCII local part)")  # fmt: skip
                else:
                    await _send(smtp, sender, recipient, item.data, utf8, settle)
                    outcome = Outcome("sent")
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                outcome, keep = _classify(exc)
                if not keep and smtp is not None:
                    smtp.close()
                    smtp = None
                if isinstance(exc, aiosmtplib.SMTPConnectError | ConnectionError) and smtp is None:
                    unsettled.append(ledger.note(item, outcome))
                    _count(report, item, outcome, ledger.mail.max_attempts)
                    return  # this connection is down: leave the rest to the others (or the next pass)
            unsettled.append(ledger.note(item, outcome))
            _count(report, item, outcome, ledger.mail.max_attempts)
    finally:
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()
        await settle()  # what this connection sent is recorded before the pass ends


async def _keep_leases(ledger: _Ledger) -> None:
    while True:
        await asyncio.sleep(RENEW)
        try:
            ledger.renew()
        except Exception:  # noqa: BLE001 — a missed renewal: the lease outlives three more tries
            log.warning("outbox: could not renew the lease of %d message(s)", len(ledger.held), exc_info=True)


async def deliver(
    *, engine: Engine, server: SmtpServer, mail: MailSettings, now: datetime, limit: int | None = None,
    only: str | None = None,
) -> Report:  # fmt: skip
    """Send what is due at `now` until nothing is due (or `limit` messages were tried);
    `only`: messages whose purpose starts with it, nothing else."""
    ledger = _Ledger(engine, mail, now, only)
    report = Report()
    source = _Source(ledger, report, limit)
    renewing = asyncio.create_task(_keep_leases(ledger))
    try:
        sender = envelope_sender(mail.sender)
        await asyncio.gather(*(_worker(source, server, ledger, report, sender) for _ in range(mail.concurrency)))
        for item in source.items:  # every connection failed: hand the rest back untouched
            await ledger.record(item, Outcome("released"))
    finally:
        renewing.cancel()
        ledger.close()
    return report

"""SMTP delivery of the outbox with aiosmtplib.

A deliverer claims due messages under a lease (so two deliverers never send the same
one), sends them over a few reused connections, and records each outcome right after
the server's reply — so a crash repeats at most the one message per connection that was
accepted but not yet marked, with the same Message-ID. 4xx replies and time-outs are
retried with exponential backoff; 5xx is permanent, and a rejected recipient (5.1.x, or
5xx at RCPT) is marked bounced so nothing more goes to it. One bad recipient never
blocks the others.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiosmtplib
from sqlalchemy import Engine, and_, or_, update
from sqlmodel import Session, col, select

from config import MailSettings, Settings
from notifications.mime import build, envelope_sender
from notifications.outbox import Status
from store.tables import OutboxMessage, Stakeholder

LEASE = timedelta(minutes=10)
BATCH = 500
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
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    bounced: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"sent {self.sent}, retrying {self.retrying}, failed {self.failed}, skipped {self.skipped}"
        return text + (f"; bounced: {', '.join(self.bounced)}" if self.bounced else "")


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    recipient: str
    data: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # sent | retry | failed | bounced | released
    detail: str = ""


class _Ledger:
    """The deliverer's database side, run on one worker thread so writes never contend
    with each other and the event loop never blocks on the database."""

    def __init__(self, engine: Engine, mail: MailSettings, now: datetime) -> None:
        self.engine, self.mail, self.now = engine, mail, now
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def claim(self, limit: int) -> tuple[list[Claimed], int]:
        now = self.now
        due = or_(
            and_(col(OutboxMessage.status) == Status.PENDING, col(OutboxMessage.next_attempt_at) <= now),
            and_(col(OutboxMessage.status) == Status.SENDING, col(OutboxMessage.lease_until) < now),
        )
        with Session(self.engine) as s:
            pick = select(OutboxMessage.id).where(due).order_by(col(OutboxMessage.id)).limit(limit)
            if s.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            ids = list(
                s.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id).in_(pick.scalar_subquery()))
                    .values(status=Status.SENDING, lease_until=now + LEASE)
                    .returning(OutboxMessage.id)
                ).scalars()
            )
            s.commit()
            if not ids:
                return [], 0
            rows = list(s.exec(select(OutboxMessage).where(col(OutboxMessage.id).in_(ids)).order_by(OutboxMessage.id)))
            unreachable = {
                st.id for st in s.exec(
                    select(Stakeholder).where(
                        col(Stakeholder.id).in_({r.stakeholder_id for r in rows if r.stakeholder_id}),
                        or_(col(Stakeholder.opted_out).is_(True), col(Stakeholder.bounced).is_(True)),
                    )
                )
            }  # fmt: skip
            skipped = [r.id for r in rows if r.stakeholder_id in unreachable]
            if skipped:
                s.execute(
                    update(OutboxMessage).where(col(OutboxMessage.id).in_(skipped))
                    .values(status=Status.SKIPPED, lease_until=None, last_error="recipient opted out or bounced")
                )  # fmt: skip
                s.commit()
            claimed = [
                Claimed(r.id, r.recipient_email, build(r, sender=self.mail.sender).as_bytes(), r.attempts)  # type: ignore[arg-type]
                for r in rows
                if r.stakeholder_id not in unreachable
            ]
            return claimed, len(skipped)

    def record(self, item: Claimed, outcome: Outcome) -> None:
        now = self.now
        attempts = item.attempts + 1
        values: dict = {"lease_until": None, "attempts": attempts, "last_error": outcome.detail or None}
        if outcome.kind == "sent":
            values.update(status=Status.SENT, sent_at=now, last_error=None)
        elif outcome.kind == "retry" and attempts < self.mail.max_attempts:
            delay = timedelta(seconds=self.mail.backoff_seconds * 2 ** (attempts - 1))
            values.update(status=Status.PENDING, next_attempt_at=now + delay)
        elif outcome.kind == "retry":
            values.update(status=Status.FAILED, last_error=f"gave up after {attempts} attempts: {outcome.detail}")
        elif outcome.kind == "released":
            values = {"status": Status.PENDING, "lease_until": None}
        else:
            values.update(status=Status.FAILED)
        with Session(self.engine) as s:
            s.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == item.id, col(OutboxMessage.status) == Status.SENDING)
                .values(**values)
            )
            if outcome.kind == "bounced":
                s.execute(
                    update(Stakeholder).where(col(Stakeholder.email) == item.recipient)
                    .values(bounced=True, bounce_reason=outcome.detail, updated_at=now)
                )  # fmt: skip
                s.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.recipient_email) == item.recipient,
                           col(OutboxMessage.status) == Status.PENDING)
                    .values(status=Status.SKIPPED, last_error=f"recipient bounced: {outcome.detail}")
                )  # fmt: skip
            s.commit()


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


async def _worker(queue: asyncio.Queue[Claimed], server: SmtpServer, ledger: _Ledger, report: Report, sender: str):
    smtp: aiosmtplib.SMTP | None = None
    try:
        while not queue.empty():
            item = queue.get_nowait()
            try:
                if smtp is None:
                    smtp = aiosmtplib.SMTP(
                        hostname=server.host, port=server.port, timeout=server.timeout, start_tls=server.starttls,
                        username=server.username, password=server.password,
                    )  # fmt: skip
                    await smtp.connect()
                await smtp.sendmail(sender, [item.recipient], item.data)
                outcome = Outcome("sent")
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                outcome, keep = _classify(exc)
                if not keep and smtp is not None:
                    smtp.close()
                    smtp = None
                if isinstance(exc, aiosmtplib.SMTPConnectError | ConnectionError) and smtp is None:
                    await ledger.run(ledger.record, item, outcome)
                    report.retrying += 1
                    return  # this connection is down: leave the rest to the others (or the next pass)
            await ledger.run(ledger.record, item, outcome)
            if outcome.kind == "sent":
                report.sent += 1
            elif outcome.kind == "retry":
                report.retrying += 1
            else:
                report.failed += 1
                if outcome.kind == "bounced":
                    report.bounced.append(item.recipient)
    finally:
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()


async def deliver(
    *, engine: Engine, server: SmtpServer, mail: MailSettings, now: datetime, limit: int | None = None
) -> Report:
    """Send what is due at `now`, batch by batch, until nothing is due (or `limit` is reached)."""
    ledger = _Ledger(engine, mail, now)
    report = Report()
    sender = envelope_sender(mail.sender)
    done = 0
    try:
        while limit is None or done < limit:
            batch, skipped = await ledger.run(ledger.claim, BATCH if limit is None else min(BATCH, limit - done))
            report.skipped += skipped
            if not batch:
                break
            done += len(batch)
            queue: asyncio.Queue[Claimed] = asyncio.Queue()
            for item in batch:
                queue.put_nowait(item)
            workers = min(mail.concurrency, len(batch))
            await asyncio.gather(*(_worker(queue, server, ledger, report, sender) for _ in range(workers)))
            if not queue.empty():  # every connection failed: hand the rest back untouched
                while not queue.empty():
                    await ledger.run(ledger.record, queue.get_nowait(), Outcome("released"))
                break
    finally:
        ledger.pool.shutdown(wait=True)
    return report

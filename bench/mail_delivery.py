"""Reminder fan-out: our outbox delivery vs a raw aiosmtplib loop (DESIGN §10).

Both send the same 10,000 rendered messages to the same local aiosmtpd process over the
same number of reused connections; ours also claims them under a lease and records every
outcome in SQLite right after the server's reply. Target: ≥ 80 % of the raw rate.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiosmtplib
from sqlalchemy import update
from sqlmodel import Session, select

from bench.common import SinkServer, median, ott_consultation, scratch_engine, timed
from config import MailSettings
from notifications.delivery import SmtpServer, deliver
from notifications.notices import queue_reminders
from notifications.outbox import raw_of
from notifications.registry import import_stakeholders
from states.languages import LANGUAGES
from store import consultations as repo
from store.models import StakeholderCreate
from store.tables import OutboxMessage

N = 10_000
CONNECTIONS = 4
ROUNDS = 5
MAIL = MailSettings(sender="Secretariat <consult@bench.example>", concurrency=CONNECTIONS)
NOW = datetime(2017, 8, 12, 8, tzinfo=UTC)


def _prepare(n: int):
    engine, folder = scratch_engine("mail")
    ott_consultation(engine, now=NOW)
    with Session(engine) as s:
        c = repo.get(session=s, ref="ott-2017")
        rows = [
            StakeholderCreate(name=f"Person {i}", email=f"p{i}@bench.example", category="other",
                              language=LANGUAGES[i % 6])
            for i in range(n)
        ]  # fmt: skip
        import_stakeholders(session=s, rows=rows, now=NOW)
        queue_seconds, queued = timed(
            lambda: queue_reminders(session=s, consultation=c, offset_days=7, now=NOW, mail=MAIL)
        )
        s.commit()
        messages = [(m.recipient_email, raw_of(session=s, message=m)) for m in s.exec(select(OutboxMessage))]
    assert queued == n
    return engine, messages, queue_seconds


async def _raw(port: int, messages: list[tuple[str, bytes]]) -> None:
    queue: asyncio.Queue = asyncio.Queue()
    for m in messages:
        queue.put_nowait(m)

    async def worker() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await smtp.connect()
        while not queue.empty():
            rcpt, data = queue.get_nowait()
            await smtp.sendmail("consult@bench.example", [rcpt], data)
        await smtp.quit()

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))


FAN_OUT, FAN_OUT_ROUNDS = 100_000, 3


def fan_out(n: int = FAN_OUT, rounds: int = FAN_OUT_ROUNDS) -> dict:
    """A reminder to `n` stakeholders, the whole way: queued by `queue_reminders` (each
    rendered in its language, MIME built, inserted) and delivered by `deliver`, vs raw
    aiosmtplib sending already-built messages to the same sink. The raw side cycles 10,000
    distinct messages of the first round's outbox to `n` distinct recipients (holding 100,000
    would be half a gigabyte; the bytes per message are what they are)."""
    from sqlalchemy import text

    engine, _ = scratch_engine("fanout")
    ott_consultation(engine, now=NOW)
    with Session(engine) as s:
        rows = (StakeholderCreate(name=f"Person {i}", email=f"p{i}@bench.example", category="other",
                                  language=LANGUAGES[i % 6]) for i in range(n))  # fmt: skip
        import_stakeholders(session=s, rows=list(rows), now=NOW)
        s.commit()
    sink = SinkServer()
    server = SmtpServer("127.0.0.1", sink.port)
    ours, raw, queue_s = [], [], []
    sample: list[tuple[str, bytes]] = []
    try:
        for round_ in range(rounds):
            with Session(engine) as s:
                s.execute(text("DELETE FROM outbox_body"))
                s.execute(text("DELETE FROM outbox_message"))
                s.commit()
            at = NOW + timedelta(minutes=round_)

            def whole(at=at) -> float:
                with Session(engine) as s:
                    c = repo.get(session=s, ref="ott-2017")
                    queueing, _ = timed(lambda: queue_reminders(session=s, consultation=c, offset_days=7, now=at,
                                                              mail=MAIL))  # fmt: skip
                    s.commit()
                report = asyncio.run(deliver(engine=engine, server=server, mail=MAIL, now=at))
                assert report.sent == n, report
                return queueing

            seconds, queueing = timed(whole)
            ours.append(n / seconds)
            queue_s.append(float(queueing))  # type: ignore[arg-type]
            if not sample:
                with Session(engine) as s:
                    sample = [(m.recipient_email, raw_of(session=s, message=m))
                              for m in s.exec(select(OutboxMessage).limit(10_000))]  # fmt: skip
            cycled = [(f"q{i}@bench.example", sample[i % len(sample)][1]) for i in range(n)]
            seconds, _ = timed(lambda cycled=cycled: asyncio.run(_raw(sink.port, cycled)))
            raw.append(n / seconds)
    finally:
        sink.stop()
    ratios = [o / r for o, r in zip(ours, raw, strict=True)]
    return {
        f"fan-out to {n:,}: rounds": rounds,
        f"fan-out to {n:,}: raw aiosmtplib msgs/s (median)": round(median(raw)),
        f"fan-out to {n:,}: ours, queue + deliver, msgs/s (median)": round(median(ours)),
        f"fan-out to {n:,}: of which queueing (s, median)": round(median(queue_s), 1),
        f"fan-out to {n:,}: ratio (median of per-round ratios)": round(median(ratios), 3),
    }


def run(n: int = N) -> dict:
    engine, messages, queue_seconds = _prepare(n)
    sink = SinkServer()
    server = SmtpServer("127.0.0.1", sink.port)
    raw_rates, our_rates = [], []
    try:
        for round_ in range(ROUNDS):
            seconds, _ = timed(lambda: asyncio.run(_raw(sink.port, messages)))
            raw_rates.append(n / seconds)
            with Session(engine) as s:  # reset the outbox to pending for the next measured pass
                s.execute(update(OutboxMessage).values(status="pending", attempts=0, sent_at=None, lease_until=None,
                                                       next_attempt_at=NOW))  # fmt: skip
                s.commit()
            at = NOW + timedelta(minutes=round_)
            seconds, report = timed(lambda at=at: asyncio.run(deliver(engine=engine, server=server, mail=MAIL, now=at)))
            assert report.sent == n, report  # type: ignore[attr-defined]
            our_rates.append(n / seconds)
    finally:
        sink.stop()
    ratios = [o / r for o, r in zip(our_rates, raw_rates, strict=True)]
    return {
        "messages": n, "connections": CONNECTIONS, "rounds": ROUNDS,
        "raw_msgs_per_s (median)": round(median(raw_rates)), "ours_msgs_per_s (median)": round(median(our_rates)),
        "ratio (median of per-round ratios)": round(median(ratios), 3),
        "ratio range": f"{min(ratios):.3f}–{max(ratios):.3f}",
        "queue_10k_reminders_s": round(queue_seconds, 2), **fan_out(), "target": 0.80,
    }  # fmt: skip


if __name__ == "__main__":
    print(run())

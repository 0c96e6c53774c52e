"""The tick's work, as plain functions (no Prefect import): finding what is due, firing
it, queuing reminders and alerts, delivering mail. The Prefect flows in flows/tick.py are
thin wrappers around these; tests and benchmarks call them directly too.

Each consultation is handled in its own transaction. Two ticks at the same instant both
find it due; one commits, the other hits the optimistic lock and skips it (the outbox's
unique keys make any mail it queued vanish with its rollback), so every transition and
every mail happens once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import monotonic

from sqlalchemy import Engine, func
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from config import Settings
from documents.archive import Renderer
from notifications import fanout
from notifications.notices import queue_reminders, queue_staff_alert
from notifications.outbox import Status
from notifications.render import CLOCK_FAILING
from states import SYSTEM_ACTOR, Change, ConsultError, Stage, Trigger
from states.clock import Alert, owed
from states.errors import Busy
from store import consultations as repo
from store import heartbeat, lifecycle, respondents
from store.submissions import responded_emails
from store.tables import Consultation, OutboxMessage, Submission

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    due: int = 0
    actions: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # changed by another tick meanwhile
    compiled: list[int] = field(default_factory=list)  # consultations whose compilation is now due to be written
    notices: list[str] = field(default_factory=list)  # transitions' notices fanned out to stakeholders
    # Each stage change, typed: what the run's name, artifact and Prefect events say.
    transitions: list[dict[str, str]] = field(default_factory=list)
    reminders: int = 0  # messages queued
    mail: str = ""
    stopped: str = ""  # the database itself failed (locked, full, gone): the tick stopped, the next retries

    @property
    def idle(self) -> bool:
        return not (self.due or self.actions or self.notices or self.mail)


@dataclass(frozen=True, slots=True)
class Done:
    """What the clock did for one consultation, typed (the tick reads this, never text)."""

    slug: str
    fired: tuple[Change, ...] = ()
    reminder: tuple[int, int] | None = None  # (days before the deadline, recipients)
    alerts: tuple[Alert, ...] = ()

    def lines(self) -> list[str]:
        out = [f"{self.slug}: {c.from_stage} → {c.to_stage} ({c.trigger.dashed})" for c in self.fired]
        if self.reminder is not None:
            days, n = self.reminder
            out.append(f"{self.slug}: reminder {days} day(s) before the deadline queued for {n} stakeholder(s)")
        out += [f"{self.slug}: staff alert {a.value} queued" for a in self.alerts]
        return out


def due_consultations(*, engine: Engine, now: datetime, limit: int = 500) -> list[int]:
    with Session(engine) as s:
        return repo.due_ids(session=s, now=now, limit=limit)


def mail_due(*, engine: Engine, now: datetime) -> int:
    with Session(engine) as s:
        query = select(func.count()).where(
            col(OutboxMessage.status) == Status.PENDING, col(OutboxMessage.next_attempt_at) <= now
        )
        return s.exec(query).one()


def expiry_due(*, engine: Engine, now: datetime, settings: Settings) -> bool:
    """Whether a response waits, unconfirmed, past its expiry (an index range, not a scan)."""
    cutoff = now - timedelta(days=settings.policy.unconfirmed_expire_days)
    with Session(engine) as s:
        query = select(Submission.id).where(
            col(Submission.confirmed_at).is_(None), col(Submission.received_at) < cutoff
        )
        return s.exec(query.limit(1)).first() is not None


def expire_unconfirmed(*, engine: Engine, now: datetime, settings: Settings) -> list[str]:
    """Delete the responses left unconfirmed past the expiry, in a transaction of their own,
    then their attachments (after the commit: a rolled-back delete must leave its files)."""
    with Session(engine) as s:
        gone = respondents.expire_unconfirmed(session=s, now=now, expire_days=settings.policy.unconfirmed_expire_days)
        s.commit()
    for _, _, path in gone:
        if path:
            (settings.attachments_dir / path).unlink(missing_ok=True)
    return [
        f"response {reference}: unconfirmed after {settings.policy.unconfirmed_expire_days} days, deleted"
        for _, reference, _ in gone
    ]


COMPILED_OR_LATER = (Stage.COMPILED, Stage.PUBLISHED, Stage.MEETING_HELD, Stage.REPORTED)


def files_missing(*, engine: Engine, settings: Settings) -> list[int]:
    """Compiled consultations whose compilation files are not all on disk: the stage is the
    durable marker, the files a side effect the clock re-drives until they are there."""
    from documents.compilation import files_complete

    with Session(engine) as s:
        query = select(Consultation).where(col(Consultation.stage).in_([st.value for st in COMPILED_OR_LATER]),
                                           col(Consultation.discarded_at).is_(None))  # fmt: skip
        return [repo.key(c) for c in s.exec(query) if not files_complete(settings.data_dir, c)]


def record_beat(*, engine: Engine, interval: int, by: str) -> None:
    """A tick completed: the staff board's clock warning resets (store/heartbeat.py)."""
    with Session(engine) as s:
        heartbeat.beat(session=s, interval=interval, by=by)


def notices_due(*, engine: Engine) -> int:
    with Session(engine) as s:
        return len(fanout.unqueued(session=s, limit=1))


Stamp = Callable[[], datetime]  # the time at commit, for the audit rows of a real-time tick


def work_on(
    *, engine: Engine, consultation_id: int, now: datetime, settings: Settings, stamp: Stamp | None = None
) -> Done:
    """Everything the clock owes one consultation at `now` (states/clock.py), in one transaction."""
    policy = settings.policy
    with Session(engine, expire_on_commit=False) as s:
        c = repo.get(session=s, ref=consultation_id, discarded=True)
        owes = owed(Stage(c.stage), repo.plan_of(c), repo.reminders_of(c, policy), repo.marks_of(c), now)
        fired = []
        for trigger in owes.transitions:
            result = lifecycle.fire(session=s, consultation=c, trigger=trigger, actor=SYSTEM_ACTOR, now=now,
                                    policy=policy, documents=Renderer(settings), stamp=stamp)  # fmt: skip
            fired.append(result.change)
        reminder = None
        if owes.reminder_days is not None:
            responded = responded_emails(session=s, consultation_id=repo.key(c))
            n = queue_reminders(session=s, consultation=c, offset_days=owes.reminder_days, now=now,
                                mail=settings.mail, responded=responded)  # fmt: skip
            reminder = (owes.reminder_days, n)
        for alert in owes.alerts:
            queue_staff_alert(session=s, consultation=c, kind=alert.value, now=now, mail=settings.mail)
        repo.record_clock_work(
            session=s,
            consultation=c,
            now=now,
            policy=policy,
            reminder_days=owes.reminder_days,
            alerts=[a.value for a in owes.alerts],
        )  # always moves next_due_at on, even when this tick found nothing left to do
        s.commit()
    return Done(c.slug, tuple(fired), reminder, owes.alerts)


def advance_due(
    *, engine: Engine, ids: list[int], now: datetime, settings: Settings, stamp: Stamp | None = None,
    claimed: bool = False,
) -> TickReport:  # fmt: skip
    """`claimed`: `ids` are this run's claim (claim_chunks), renewed as it goes, so a long
    chunk keeps it and a dead run's lapses within `settings.claim_seconds`."""
    report = TickReport(due=len(ids))
    life = timedelta(seconds=settings.claim_seconds)
    renew_at = monotonic() + life.total_seconds() / 4
    for n, consultation_id in enumerate(ids):
        if claimed and monotonic() >= renew_at:
            with Session(engine) as s:
                repo.renew_claims(session=s, ids=ids[n:], life=life)
            renew_at = monotonic() + life.total_seconds() / 4
        try:
            done = work_on(engine=engine, consultation_id=consultation_id, now=now, settings=settings, stamp=stamp)
        except repo.ConflictError as exc:
            report.skipped.append(str(exc))
            continue
        except (OperationalError, Busy) as exc:  # the database, not this record: the same for every one
            cause = exc.orig if isinstance(exc, OperationalError) else exc
            report.stopped = f"the database is not available ({str(cause).strip().splitlines()[0][:200]}); " \
                             "the tick stops here and the next one retries"  # fmt: skip
            log.warning("consultation %s: %s", consultation_id, report.stopped)
            break
        except ConsultError as exc:  # a guard refused: the data changed under the timer; say so, go on
            report.skipped.append(f"consultation {consultation_id}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 — one bad record never stops the clock for the others
            log.exception("consultation %s: the clock's work failed; the others go on", consultation_id)
            error = f"{type(exc).__name__}: {exc}"
            failures = _record_failure(engine=engine, consultation_id=consultation_id, error=error, now=now,
                                       settings=settings)  # fmt: skip
            report.skipped.append(f"consultation {consultation_id}: failed ({error}); failure {failures} in a row, "
                                  "retried with backoff, shown to staff")  # fmt: skip
            continue
        report.actions += done.lines()
        report.transitions += [{"slug": done.slug, "from": str(c.from_stage or ""), "to": c.to_stage.value,
                                "trigger": c.trigger.value} for c in done.fired]  # fmt: skip
        report.reminders += done.reminder[1] if done.reminder else 0
        if any(change.trigger is Trigger.COMPILE for change in done.fired):
            report.compiled.append(consultation_id)
    return report


def _record_failure(*, engine: Engine, consultation_id: int, error: str, now: datetime, settings: Settings) -> int:
    """Keep the failure on the consultation (the staff board shows it) and, at the third
    in a row, mail its contact; never raises, so the tick goes on with the others."""
    try:
        with Session(engine) as s:
            failures = repo.record_clock_failure(session=s, consultation_id=consultation_id, error=error, now=now)
            if failures == repo.CLOCK_ALERT_AFTER:
                c = repo.get(session=s, ref=consultation_id, discarded=True)
                queue_staff_alert(session=s, consultation=c, kind=CLOCK_FAILING, now=now, mail=settings.mail,
                                  extra={"error": error[:500], "failures": str(failures)})  # fmt: skip
            s.commit()
            return failures
    except Exception:  # noqa: BLE001 — the record of a failure must not become one
        log.exception("consultation %s: could not record the clock's failure", consultation_id)
        return 0


def advance_all_due(
    *, engine: Engine, now: datetime, settings: Settings, batch: int = 500, stamp: Stamp | None = None
) -> TickReport:
    """Batch after batch until nothing is due, or a batch makes no progress (left to the next
    tick); then the notices those transitions (or earlier ones) owe the stakeholders."""
    total, seen = TickReport(), set[int]()
    while ids := [i for i in due_consultations(engine=engine, now=now, limit=batch) if i not in seen]:
        seen.update(ids)
        report = advance_due(engine=engine, ids=ids, now=now, settings=settings, stamp=stamp)
        total.due += report.due
        total.actions += report.actions
        total.skipped += report.skipped
        total.compiled += report.compiled
        total.transitions += report.transitions
        total.reminders += report.reminders
        if report.stopped:
            total.stopped = report.stopped
            return total
    total.notices, expired = housekeeping(engine=engine, now=now, settings=settings)
    total.actions += expired
    return total


MAX_CHUNKS = 200  # per dispatching run: the next takes the rest


def claim_chunks(*, engine: Engine, now: datetime, chunk: int, settings: Settings) -> list[list[int]]:
    """The due consultations, claimed in chunks of `chunk` for runs on any worker; each is
    claimed once (SKIP LOCKED on PostgreSQL), so two dispatchers never hand out the same.
    A claim lasts `settings.claim_seconds` unless its run renews it (advance_due)."""
    chunks: list[list[int]] = []
    life = timedelta(seconds=settings.claim_seconds)
    with Session(engine) as s:
        while len(chunks) < MAX_CHUNKS and (ids := repo.claim_due(session=s, now=now, limit=chunk, life=life)):
            chunks.append(ids)
    return chunks


def housekeeping(*, engine: Engine, now: datetime, settings: Settings) -> tuple[list[str], list[str]]:
    """After the transitions: (the notices they owe, fanned out; unconfirmed responses expired)."""
    notices = [str(f) for f in fanout.fan_out_pending(engine=engine, now=now, mail=settings.mail)]
    return notices, expire_unconfirmed(engine=engine, now=now, settings=settings)


Progress = Callable[[str, int, int], None]  # (consultation's slug, rows written, rows to write)


def write_compilations(
    *, engine: Engine, ids: list[int], settings: Settings, redrive: bool = True, progress: Progress | None = None
) -> list[str]:
    """After the commit: the compilation of each newly compiled consultation, as files in
    data/compilations/<slug>/ (HTML in each language it has a title in, CSV and JSON) —
    and, `redrive`, of any compiled before whose files are missing or cut short
    (files_missing). Without it (a compile run given its consultations), those whose files
    are already complete are left alone: another run wrote them."""
    from documents import compilation

    if redrive:
        ids = list(dict.fromkeys([*ids, *files_missing(engine=engine, settings=settings)]))
    written = []
    with Session(engine) as s:
        for consultation_id in ids:
            c = repo.get(session=s, ref=consultation_id, discarded=True)
            if not redrive and compilation.files_complete(settings.data_dir, c):
                continue
            report = (lambda done, total, slug=c.slug: progress(slug, done, total)) if progress else None
            folder = compilation.write_files(s.connection(), c, data_dir=settings.data_dir,
                                             base_url=settings.mail.base_url, progress=report)  # fmt: skip
            written.append(str(folder))
    return written

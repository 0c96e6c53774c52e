"""The lifecycle service: the one place a trigger is carried out, for the CLI, the web
buttons and forms, the staff API, the clock and the demo alike.

`fire` checks the row of the table (stage, parameters, guards), applies its pure `apply`
step, moves the stage, compares-and-sets the version, archives the document the row
issues (rendered by the `documents` renderer passed in, its SHA-256 in the audit row),
appends the audit row and records the notice the row causes — all in the caller's
transaction, which the caller commits. The notice is fanned out to stakeholders after the
commit (notifications/fanout.py); the document is kept with the transition, so what was
issued and the record that it was issued cannot part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from config.policy import Policy
from states import Request, Stage, Trigger
from states.errors import Busy
from states.machine import Change, check_guards, ensure_allowed, move
from states.requests import refuse_others
from store import consultations as repo
from store import documents as archive
from store.documents import Renderer
from store.tables import AuditEntry, Consultation, PendingNotice

NO_REQUEST = Request()


@dataclass(frozen=True, slots=True)
class Fired:
    change: Change
    entry: AuditEntry
    notice: PendingNotice | None


def fire(
    *, session: Session, consultation: Consultation, trigger: Trigger, actor: str, now: datetime, policy: Policy,
    documents: Renderer, request: Request = NO_REQUEST, stamp: Callable[[], datetime] | None = None,
) -> Fired:  # fmt: skip
    """Carry out `trigger` on `consultation`. Nothing is written when a check refuses; a
    concurrent change raises Conflict (and rolls the session back). `stamp`: the clock the
    audit row reads when it is written (a real-time tick: when the change was made, not
    when the tick began); else `now`."""
    c = consultation
    expected_version = c.version
    row = ensure_allowed(Stage(c.stage), trigger)
    refuse_others(row, request.given())
    facts = repo.facts_of(c, policy=policy, request=request)
    check_guards(row, facts, now)
    changes = row.apply(facts, request, now)  # pure: raises on bad input, changes nothing
    number = changes.fields.get("letter_number")
    if number and session.exec(select(Consultation.id).where(Consultation.letter_number == number)).first():
        raise repo.ConflictError(f"letter number {number} is already used by another consultation")
    owes_notice = row.notice is not None and (row.notice_if is None or row.notice_if(facts, now))
    change = move(c, row)
    for name, value in changes.fields.items():
        setattr(c, name, value)
    c.updated_at = now
    repo.refresh_timer(c, policy=policy, now=now)
    details: dict[str, Any] = dict(changes.details)
    try:
        repo.claim_version(session=session, consultation=c, expected=expected_version)
        if changes.allocate_letter_number_from is not None:
            assert c.letter_issued_on is not None
            c.letter_number = _reserve_letter_number(session=session, consultation=c, year=c.letter_issued_on.year,
                                                     first=changes.allocate_letter_number_from)  # fmt: skip
            details["letter_number"] = c.letter_number
        if changes.free_slug:  # `id~slug` cannot collide: slugs have no `~`, ids are unique
            c.discarded_slug, c.slug = c.slug, f"{repo.key(c)}~{c.slug}"[:80]
            details["slug"] = c.discarded_slug
        issued = None
        if row.issues is not None:
            seq = archive.next_seq(session=session, consultation_id=repo.key(c), kind=row.issues)
            files = documents(session=session, consultation=c, kind=row.issues, seq=seq, now=now)
            details["document"] = {"kind": row.issues.value, "seq": seq, "sha256": archive.digest(files),
                                   "files": {f.name: f.sha256 for f in files}}  # fmt: skip
            issued = (row.issues, seq, files)
        entry = repo.append_audit(
            session=session,
            consultation=c,
            change_from=change.from_stage,
            trigger=trigger,
            actor=actor,
            now=stamp() if stamp is not None else now,
            reason=request.reason,
            details=details,
        )
        if issued is not None:
            kind, seq, files = issued
            archive.archive(session=session, consultation=c, kind=kind, seq=seq, files=files, issued_at=now,
                            audit_seq=entry.seq)  # fmt: skip
        notice = None
        if owes_notice:
            assert row.notice is not None
            notice = PendingNotice(
                consultation_id=repo.key(c), notice=row.notice.value, audit_seq=entry.seq, created_at=now,
                details={**details, **({"reason": request.reason} if request.reason else {})},
            )  # fmt: skip
            session.add(notice)
        session.flush()
    except repo.ConflictError:
        session.rollback()
        raise
    except OperationalError as exc:  # SQLite: the lock stayed busy past the timeout
        session.rollback()
        raise Busy(f"consultation {c.slug!r}: the database is busy ({exc.orig}); nothing was written, retry") from None
    except IntegrityError as exc:
        session.rollback()
        raise repo.ConflictError(f"consultation {c.slug!r}: a concurrent change got there first ({exc.orig})") from None
    return Fired(change, entry, notice)


def _reserve_letter_number(*, session: Session, consultation: Consultation, year: int, first: int) -> str:
    """The year's next number, without gaps or duplicates even when two letters are issued
    at once: the unique key on letter_number decides, and the loser takes the next one.
    Each try is a savepoint, so a lost race costs nothing else of the transaction."""
    for _ in range(50):
        number = _next_letter_number(session=session, year=year, first=first)
        try:
            with session.begin_nested():
                session.execute(
                    update(Consultation)
                    .where(col(Consultation.id) == consultation.id)
                    .values(letter_number=number)
                    .execution_options(synchronize_session=False)
                )
            return number
        except IntegrityError:
            continue
    raise repo.ConflictError(f"could not allocate a letter number for {year}: too many letters issued at once; retry")


def _next_letter_number(*, session: Session, year: int, first: int) -> str:
    prefix = f"CL-{year % 100:02d}/"
    taken = session.exec(select(Consultation.letter_number).where(col(Consultation.letter_number).startswith(prefix)))
    highest = max((int(n.rsplit("/", 1)[1]) for n in taken if n), default=0)
    return f"{prefix}{max(highest + 1, first)}"

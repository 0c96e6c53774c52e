"""Consultations and their audit log: creating, finding, listing, the clock's bookkeeping.

A stage changes only through the lifecycle service (store/lifecycle.py), which uses the
optimistic lock and the audit row defined here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, bindparam, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from config.policy import Policy
from states import Action, Facts, Plan, Request, Stage, Step, Trigger, check_plan, create, errors, replay
from states.clock import Marks, Reminders, next_timer
from states.errors import ConsultError
from states.machine import check_guards, ensure_allowed
from states.stages import SYSTEM_ACTOR
from store.lease import database_now
from store.models import Audience, ConsultationCreate
from store.tables import AuditEntry, Consultation

# Kept under these names here: callers catch `repo.NotFound` and `repo.ConflictError`.
NotFound = errors.NotFound
ConflictError = errors.Conflict


def plan_of(c: Consultation) -> Plan:
    return Plan(
        timezone=c.timezone,
        decided_on=c.decided_on,
        letter_date=c.letter_date,
        opens_at=c.opens_at,
        deadline=c.deadline,
        meeting_on=c.meeting_on,
    )


def offsets_of(c: Consultation, policy: Policy) -> tuple[int, ...]:
    return tuple(c.reminder_offsets) if c.reminder_offsets is not None else policy.reminder_offsets_days


def reminders_of(c: Consultation, policy: Policy) -> Reminders:
    return Reminders(offsets_of(c, policy), policy.reminder_time)


def marks_of(c: Consultation) -> Marks:
    return Marks(last_reminder_days=c.last_reminder_days, alerts_done=frozenset(c.alerts_done or ()))


def refresh_timer(c: Consultation, *, policy: Policy, now: datetime) -> None:
    """Recompute the indexed instant at which the clock next has work for `c`."""
    c.next_due_at = next_timer(Stage(c.stage), plan_of(c), reminders_of(c, policy), marks_of(c), now)


def facts_of(c: Consultation, *, policy: Policy, request: Request | None = None) -> Facts:
    """What the guards may look at: the consultation as it stands, and the request."""
    request = request or Request()
    return Facts(
        plan=plan_of(c),
        min_open_days=policy.min_open_days if c.min_open_days is None else c.min_open_days,
        meeting_gap_days=policy.meeting_gap_days if c.meeting_gap_days is None else c.meeting_gap_days,
        has_meeting_summary=bool(c.meeting_summary or (request.meeting_summary or "").strip()),
        reason=request.reason,
        new_deadline=request.new_deadline,
        letter_issued=c.letter_number is not None,
        letter_number_given=bool((request.letter_number or "").strip()),
        tool_numbers_letters=policy.tool_numbers_letters,
        first_letter_number=policy.first_letter_number,
        reminder_offsets=offsets_of(c, policy),
        reminder_time=policy.reminder_time,
    )


@dataclass(frozen=True, slots=True)
class Created:
    consultation: Consultation
    warnings: list[str]


def create_consultation(
    *, session: Session, data: ConsultationCreate, proposed: bool, actor: str, now: datetime, policy: Policy
) -> Created:
    """Insert a consultation in `proposed` or `decided` with its first audit row."""
    if exists(session=session, slug=data.slug):
        raise ConflictError(f"a consultation with slug {data.slug!r} already exists")
    if not proposed and not data.questions:
        raise ConsultError("a council decision needs at least one question")
    row = Consultation(**data.model_dump(exclude={"recipients"}), audience=stored_audience(data.recipients),
                       stage=Stage.PROPOSED.value, created_at=now, updated_at=now)  # fmt: skip
    facts = facts_of(row, policy=policy)
    warnings = check_plan(facts.plan, min_open_days=facts.min_open_days, meeting_gap_days=facts.meeting_gap_days)
    change = create(Trigger.PROPOSE if proposed else Trigger.DECIDE, facts=facts, now=now)
    row.stage = change.to_stage.value
    refresh_timer(row, policy=policy, now=now)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(f"a consultation with slug {data.slug!r} was created at the same time") from None
    append_audit(session=session, consultation=row, change_from=None, trigger=change.trigger, actor=actor, now=now)
    return Created(row, warnings)


def key(c: Consultation) -> int:
    """A stored consultation's id (the table model types it optional, for before the insert)."""
    if c.id is None:
        raise errors.ConsultError(f"consultation {c.slug!r} is not stored yet")
    return c.id


def exists(*, session: Session, slug: str) -> bool:
    return session.exec(select(Consultation.id).where(Consultation.slug == slug)).first() is not None


def get(*, session: Session, ref: str | int, discarded: bool = False) -> Consultation:
    """By slug or numeric id. A discarded one only when asked (`discarded=True`: staff
    reading its record, by id): it is gone from every public page."""
    text = str(ref).strip()
    query = select(Consultation)
    if text.isascii() and text.isdigit():
        if len(text) > 18:  # beyond any id the database holds (and its integer type)
            raise _not_found(text)
        query = query.where(Consultation.id == int(text))
    else:
        query = query.where(Consultation.slug == text)
    row = session.exec(query).first()
    if row is None or (row.discarded_at is not None and not discarded):
        raise _not_found(text)
    return row


def _not_found(ref: str) -> NotFound:
    return NotFound(f"no consultation {ref!r} (give its slug or numeric id; `consult list` shows them)")


def snapshot(*, session: Session, ref: str) -> Consultation:
    """A detached copy of the row, for reading only (a response's intake); changes to it
    are not saved (use `get` for that), and it is shared: never change it.

    Read where the write happens, but only its stage and version: the whole row (thirty
    columns, JSON among them) is read again only when those say it changed — every change
    of what an intake reads bumps the version (`claim_version`). Reading it whole at each
    submission was a fifth of the web's time per submission on PostgreSQL (bench/)."""
    text = str(ref).strip()
    by_id = text.isdigit()
    head = session.connection().execute(_head_query(by_id), {"key": int(text) if by_id else text}).first()
    if head is None:
        raise _not_found(text)
    key, kept = tuple(head), _snapshots.setdefault(session.get_bind().engine, {})
    found = kept.get(key)
    if found is None:
        row = session.connection().execute(_snapshot_query(), {"key": head.id}).first()
        if row is None:  # deleted meanwhile
            raise _not_found(text)
        if len(kept) >= 256:
            kept.clear()
        found = kept[key] = Consultation(**row._mapping)
    return found


# By engine (one database each), as long as the engine lives.
_snapshots: WeakKeyDictionary[Engine, dict[tuple, Consultation]] = WeakKeyDictionary()


@cache
def _head_query(by_id: bool):
    table = Consultation.__table__  # type: ignore[attr-defined]
    head = select(table.c.id, table.c.version, table.c.updated_at, table.c.stage, table.c.slug)  # type: ignore[call-overload]
    return head.where((table.c.id if by_id else table.c.slug) == bindparam("key"))


@cache
def _snapshot_query():
    table = Consultation.__table__  # type: ignore[attr-defined]
    return select(table).where(table.c.id == bindparam("key"))


def list_consultations(*, session: Session, stage: Stage | None = None, discarded: bool = False) -> list[Consultation]:
    query = select(Consultation).order_by(col(Consultation.id))
    if not discarded:
        query = query.where(col(Consultation.discarded_at).is_(None))
    if stage is not None:
        query = query.where(Consultation.stage == stage.value)
    return [i for i in session.exec(query) if i is not None]


def audit_log(*, session: Session, consultation_id: int, public: bool = False) -> list[AuditEntry]:
    """The consultation's audit log; `public`: as anyone may read it — the lifecycle and
    edits, not moderation (its reasons name people) nor respondents' matters (staff pages)."""
    query = select(AuditEntry).where(AuditEntry.consultation_id == consultation_id)
    if public:
        query = query.where(col(AuditEntry.trigger).not_in(PRIVATE_ACTIONS))
    return [i for i in session.exec(query.order_by(col(AuditEntry.seq))) if i is not None]


PRIVATE_ACTIONS = tuple(a.value for a in Action if a is not Action.EDIT)


def replayed_stage(*, session: Session, consultation_id: int) -> Stage | None:
    entries = audit_log(session=session, consultation_id=consultation_id)
    return replay(
        Step(Stage(e.from_stage) if e.from_stage else None, Stage(e.to_stage), _step_name(e.trigger)) for e in entries
    )


def _step_name(text: str) -> Trigger | Action:
    return Action(text) if text in Action.__members__.values() else Trigger(text)


def append_audit(
    *,
    session: Session,
    consultation: Consultation,
    change_from: Stage | None,
    trigger: Trigger | Action,
    actor: str,
    now: datetime,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    seq = session.exec(
        select(func.coalesce(func.max(AuditEntry.seq), 0)).where(AuditEntry.consultation_id == consultation.id)
    ).one()
    entry = AuditEntry(
        consultation_id=consultation.id,  # type: ignore[arg-type]
        seq=seq + 1,
        from_stage=change_from.value if change_from else None,
        to_stage=consultation.stage,
        trigger=trigger.value,
        actor=actor,
        at=now,
        reason=reason,
        details=details or {},
    )
    session.add(entry)
    return entry


def stored_audience(audience: Audience | None) -> dict[str, Any] | None:
    """None for the whole registry, else the audience as JSON."""
    return None if audience is None or audience.everyone else audience.model_dump(mode="json")


def record_action(
    *, session: Session, consultation: Consultation, action: Action, actor: str, now: datetime,
    reason: str | None = None, details: dict[str, Any] | None = None,
) -> AuditEntry:  # fmt: skip
    """An audit row for what staff did beside the lifecycle, under the same optimistic lock
    as a stage change: of two staff editing at once, the second is told, not overwritten."""
    c = consultation
    claim_version(session=session, consultation=c, expected=c.version)
    c.updated_at = now
    return append_audit(session=session, consultation=c, change_from=Stage(c.stage), trigger=action, actor=actor,
                        now=now, reason=reason, details=details)  # fmt: skip


BEFORE_LETTER = frozenset({Stage.PROPOSED.value, Stage.DECIDED.value})


def set_audience(
    *, session: Session, consultation: Consultation, audience: Audience, now: datetime, actor: str = SYSTEM_ACTOR
) -> None:
    """Narrow (or widen) who is told, until the letter is issued: afterwards the invitation
    has gone to those it went to."""
    c = consultation
    if c.stage not in BEFORE_LETTER:
        raise ConflictError(f"{c.slug!r} is {c.stage}: recipients are chosen before the letter is issued")
    before = c.audience
    c.audience = stored_audience(audience)
    if c.audience != before:
        record_action(session=session, consultation=c, action=Action.SET_RECIPIENTS, actor=actor, now=now,
                      details={"from": before, "to": c.audience})  # fmt: skip


# What `consult edit` and the web's edit form may change before the letter (DESIGN §9):
# the slug names the consultation and the stage moves only by triggers.
EDITABLE = (
    "title",
    "questions",
    "timezone",
    "decided_on",
    "letter_date",
    "opens_at",
    "deadline",
    "meeting_on",
    "meeting_place",
    "contact_name",
    "contact_email",
    "min_open_days",
    "meeting_gap_days",
    "reminder_offsets",
    "publish_after",
)


def edit_consultation(
    *, session: Session, consultation: Consultation, data: ConsultationCreate, actor: str, now: datetime,
    policy: Policy, version: int | None = None,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Change what the council decided (a typo in a question, a date) until the letter is
    issued; afterwards only triggers change a consultation (an extension, an addendum).

    A decided consultation must still meet the rules `decide` checked (a complete plan in
    order); the audit row holds each changed field's old and new value. Returns those
    changes (empty: nothing differed, and nothing is recorded). `version`: the one the
    editor saw (the web form carries it), so an edit made meanwhile is not overwritten."""
    c = consultation
    if version is not None and version != c.version:
        raise ConflictError(f"{c.slug!r} was changed by someone else since you opened it; nothing was written — "
                            "reload and edit again")  # fmt: skip
    if c.stage not in BEFORE_LETTER:
        raise ConflictError(f"{c.slug!r} is {c.stage}: after the letter only triggers change it "
                            "(extend-deadline, cancel)")  # fmt: skip
    if data.slug != c.slug:
        raise ConsultError(f"the file is for {data.slug!r}, not {c.slug!r} (the slug cannot be edited)")
    if c.stage == Stage.DECIDED.value and not data.questions:
        raise ConsultError("a decided consultation needs at least one question")
    wanted = data.model_dump(include=set(EDITABLE))
    changed = {k: {"from": _json(getattr(c, k)), "to": _json(v)} for k, v in wanted.items() if getattr(c, k) != v}
    if data.recipients is not None and stored_audience(data.recipients) != c.audience:
        changed["recipients"] = {"from": c.audience, "to": stored_audience(data.recipients)}
    if not changed:
        return {}
    for k in changed:
        if k == "recipients":
            c.audience = stored_audience(data.recipients)
        else:
            setattr(c, k, wanted[k])
    facts = facts_of(c, policy=policy)
    check_plan(facts.plan, min_open_days=facts.min_open_days, meeting_gap_days=facts.meeting_gap_days)
    if c.stage == Stage.DECIDED.value:
        decide = ensure_allowed(Stage.PROPOSED, Trigger.DECIDE)
        check_guards(decide, facts, now)
    if "deadline" in changed and c.deadline is not None and c.deadline <= now:
        raise ConsultError(f"the deadline {c.deadline.isoformat()} would already have passed: nobody could respond")
    refresh_timer(c, policy=policy, now=now)
    record_action(session=session, consultation=c, action=Action.EDIT, actor=actor, now=now,
                  details={"changed": changed})  # fmt: skip
    return changed


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def record_decision(*, session: Session, consultation: Consultation, data: ConsultationCreate) -> None:
    """Fill a proposed topic with what the council decided, before `decide` fires.

    Only while proposed: once decided, dates move only by the lifecycle (extend-deadline).
    """
    if consultation.stage != Stage.PROPOSED.value:
        raise ConsultError(
            f"the decision is recorded on a proposed consultation; {consultation.slug!r} is {consultation.stage}"
        )
    if data.slug != consultation.slug:
        raise ConsultError(f"the decision file is for {data.slug!r}, not {consultation.slug!r}")
    for key, value in data.model_dump(exclude={"slug", "recipients"}).items():
        setattr(consultation, key, value)
    consultation.audience = stored_audience(data.recipients)


def record_clock_work(
    *, session: Session, consultation: Consultation, now: datetime, policy: Policy,
    reminder_days: int | None = None, alerts: Collection[str] = (),
) -> None:  # fmt: skip
    """Mark a reminder or alerts as done (their mail is queued in the same transaction)
    and move the next timer on, under the same optimistic lock as a stage change."""
    c = consultation
    expected = c.version
    if reminder_days is not None:
        c.last_reminder_days = reminder_days
    if alerts:
        c.alerts_done = sorted({*c.alerts_done, *alerts})
    if c.clock_failures:  # it works again
        c.clock_failures, c.clock_error = 0, None
    c.claimed_until = None  # done: a chunk run's claim ends with its work
    refresh_timer(c, policy=policy, now=now)
    try:
        claim_version(session=session, consultation=c, expected=expected)
    except ConflictError:
        session.rollback()
        raise
    c.updated_at = now
    session.flush()


CLOCK_ALERT_AFTER = 3  # failures in a row before the consultation's contact is mailed


def record_clock_failure(*, session: Session, consultation_id: int, error: str, now: datetime) -> int:
    """The clock's work on one consultation failed: keep the error for staff and retry it
    with backoff (1, 2, 4 … minutes, at most 6 hours) rather than at every tick. Returns
    the failures in a row. A plain UPDATE: it must not conflict with a staff change."""
    row = session.exec(select(Consultation.clock_failures).where(Consultation.id == consultation_id)).first()
    if row is None:
        return 0
    failures = row + 1
    retry = now + timedelta(minutes=min(2 ** (failures - 1), 360))
    session.execute(
        update(Consultation).where(col(Consultation.id) == consultation_id)
        .values(clock_failures=failures, clock_error=error[:2000], next_due_at=retry, claimed_until=None)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    return failures


def claim_version(*, session: Session, consultation: Consultation, expected: int) -> None:
    """Optimistic lock: bump the version only if it is still `expected` (compare-and-set in
    the UPDATE itself); of two concurrent writers exactly one gets through."""
    bumped = session.execute(
        update(Consultation)
        .where(col(Consultation.id) == consultation.id, col(Consultation.version) == expected)
        .values(version=expected + 1)
        .execution_options(synchronize_session=False)
    )
    if bumped.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(
            f"consultation {consultation.slug!r} was changed by someone else meanwhile; nothing was written — "
            "reload and retry"
        )
    consultation.version = expected + 1


def due_ids(*, session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Consultations with timed work at `now`, not claimed by a live chunk run: one indexed range query."""
    return [i for i in session.exec(_due(now, database_now(session)).limit(limit)) if i is not None]


def _due(now: datetime, clock: datetime):
    """Due at `now` (the domain's time, which may travel), unclaimed at `clock` (the
    database's: a claim is a lease on work in progress, whatever time the domain reads)."""
    unclaimed = or_(col(Consultation.claimed_until).is_(None), col(Consultation.claimed_until) <= clock)
    return (
        select(Consultation.id)
        .where(col(Consultation.next_due_at).is_not(None), col(Consultation.next_due_at) <= now, unclaimed)
        .order_by(col(Consultation.next_due_at))
    )


def claim_due(*, session: Session, now: datetime, limit: int, life: timedelta) -> list[int]:
    """Claim up to `limit` due consultations for `life` (the database's clock) for one chunk
    run; commits. On PostgreSQL the rows are locked with SKIP LOCKED, so two claimers never
    take the same one; SQLite's single writer does the same. A claim ends when its work is
    recorded (record_clock_work), or runs out if the run died (renew_claims keeps a live
    run's)."""
    clock = database_now(session)
    query = _due(now, clock).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [i for i in session.exec(query) if i is not None]
    if ids:
        session.execute(
            update(Consultation).where(col(Consultation.id).in_(ids)).values(claimed_until=clock + life)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    session.commit()
    return ids


def renew_claims(*, session: Session, ids: list[int], life: timedelta) -> None:
    """A chunk run still working: its claims on the consultations it has not done yet run
    `life` from now (those done have no claim left). Commits."""
    session.execute(
        update(Consultation)
        .where(col(Consultation.id).in_(ids), col(Consultation.claimed_until).is_not(None))
        .values(claimed_until=database_now(session) + life)
        .execution_options(synchronize_session=False)
    )
    session.commit()

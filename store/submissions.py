"""Responses: intake (validated, deduplicated, only while open), publication, listing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import and_, func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from states import Action, Stage
from states.errors import Conflict, ConsultError, NotFound
from states.guards import accepting_responses
from states.timing import zone
from store import consultations as repo
from store import references, respondents
from store.attachments import stored_name
from store.consultations import plan_of
from store.models import Answer, SubmissionCreate
from store.statements import bound_value, first_row, insert_new, insert_rows
from store.tables import AuditEntry, Consultation, Submission


class NotAccepting(Conflict):
    """The consultation does not take responses now (not yet open, or closed)."""


class AlreadyResponded(Conflict):
    """This address already sent a different response to this consultation."""


class InvalidAnswer(ConsultError):
    pass


@dataclass(frozen=True, slots=True)
class Received:
    submission: Submission
    created: bool  # False: the very same response had already been stored
    link: str | None = None  # the private link's token, for the receipt only (its digest is stored)
    publish_after: str = "confirmation"  # the consultation's: what makes the response public


def public(S: Any = None) -> Any:
    """The one rule for what the public sees (pages, API, compilation, counts): confirmed
    (by its respondent or a moderator), not withheld, not withdrawn, and not kept for the
    secretariat by its respondent. `S`: the table's columns (default: the model's)."""
    S = S if S is not None else Submission.__table__.c  # type: ignore[attr-defined]
    return and_(S.published.is_(True), S.confirmed_at.is_not(None), S.withdrawn_at.is_(None),
                S.publication != "private")  # fmt: skip


def is_public(s: Submission) -> bool:
    """`public()` for one row already read."""
    return bool(s.published and s.confirmed_at is not None and s.withdrawn_at is None and s.publication != "private")


def status_of(s: Submission) -> str:
    """One word for staff: what keeps a response from the public, if anything."""
    if s.withdrawn_at is not None:
        return "withdrawn"
    if s.confirmed_at is None:
        return "unconfirmed"
    if not s.published:
        return "withheld"
    return "private" if s.publication == "private" else "published"


def shown_name(s: Any) -> tuple[str | None, str | None]:
    """(name, organisation) as the public may read them: none for an anonymous response."""
    return (None, None) if s.publication == "anonymous" else (s.name, s.organisation)


def content_hash(data: SubmissionCreate) -> str:
    """Of the validated response: its fields have a fixed order, so pydantic's own JSON
    (serialised in Rust) is canonical."""
    return hashlib.sha256(data.__pydantic_serializer__.to_json(data)).hexdigest()


NOTHING_SENT = "answers: answer at least one question, or attach the contribution as a PDF or DOCX file"


def check_answers(*, consultation: Consultation, data: SubmissionCreate, attached: bool = False) -> None:
    """Answers to questions that exist; none at all only when a file carries the contribution."""
    if not data.answers and not attached:
        raise InvalidAnswer(NOTHING_SENT)
    count = len(consultation.questions)
    for answer in data.answers:
        if answer.question > count:
            raise InvalidAnswer(f"answers: question {answer.question} does not exist (this consultation has {count})")


def submit(
    *, session: Session, consultation: Consultation, data: SubmissionCreate, now: datetime, channel: str,
    attachment_name: str | None = None, attachment_path: str | None = None,
) -> Received:  # fmt: skip
    """Store a response if the consultation accepts it now; the caller commits."""
    c = consultation
    if not accepting_responses(Stage(c.stage), plan_of(c), now):
        when = "has not opened yet" if c.stage in {Stage.DECIDED, Stage.LETTER_ISSUED, Stage.PROPOSED} else "is closed"
        if c.stage == Stage.OPEN and c.opens_at and now < c.opens_at:
            when = "has not opened yet"
        raise NotAccepting(f"consultation {c.slug!r} {when}: responses are not accepted (stage {c.stage})")
    check_answers(consultation=c, data=data, attached=attachment_path is not None)
    digest = content_hash(data)
    token, link_digest = respondents.new_link()
    values: dict[str, Any] = {
        "consultation_id": c.id, "reference": references.draw(session=session, count=1)[0],
        **data.model_dump(exclude={"answers"}), "answers": [a.model_dump() for a in data.answers],
        "attachment_name": attachment_name, "attachment_path": attachment_path,
        "channel": channel, "published": True, "content_hash": digest, "received_at": now,
        "confirmed_at": None, "confirmed_by": None, "withdrawn_at": None, "amended_at": None, "version": 1,
        "link_digest": link_digest,
    }  # fmt: skip
    # One statement on the usual path: the unique (consultation, e-mail) key decides, so two
    # requests racing with the same address cannot both be stored.
    new = first_row(connection=session.connection(), statement=_insert_new(), values=values)
    if new is not None:
        new_id = new[0]
        return Received(Submission(id=new_id, **values), created=True, link=token, publish_after=c.publish_after)
    existing = session.exec(
        select(Submission).where(Submission.consultation_id == c.id, Submission.email == data.email)
    ).one()
    if existing.content_hash == digest and existing.withdrawn_at is None:
        return Received(existing, created=False, publish_after=c.publish_after)
    if existing.confirmed_at is None or existing.withdrawn_at is not None:
        # Nobody has shown this address is theirs (or its respondent withdrew): the new
        # content replaces it and must be confirmed again.
        respondents.resend(session=session, row=existing, data=data, digest=digest, now=now)
        existing.attachment_name, existing.attachment_path = attachment_name, attachment_path
        existing.confirmed_at = existing.confirmed_by = existing.withdrawn_at = None
        existing.link_digest = link_digest
        return Received(existing, created=True, link=token, publish_after=c.publish_after)
    raise AlreadyResponded(
        f"a different response from {data.email} is already recorded for {c.slug!r}: "
        "amend it through the link in its receipt"
    )


def _insert_new():
    table = Submission.__table__  # type: ignore[attr-defined]
    columns = tuple(c.name for c in table.columns if c.name != "id")
    return insert_new(table, columns=columns, conflict=("consultation_id", "email"), returning="id")


def published(*, session: Session, consultation_id: int) -> list[Submission]:
    query = (
        select(Submission)
        .where(Submission.consultation_id == consultation_id, public())
        .order_by(col(Submission.received_at), col(Submission.id))
    )
    return list(session.exec(query))


def by_reference(*, session: Session, consultation_id: int, reference: str) -> Submission | None:
    query = select(Submission).where(Submission.consultation_id == consultation_id, Submission.reference == reference)
    return session.exec(query).first()


def all_for(*, session: Session, consultation_id: int) -> list[Submission]:
    query = select(Submission).where(Submission.consultation_id == consultation_id).order_by(col(Submission.id))
    return list(session.exec(query))


def responded_emails(*, session: Session, consultation_id: int) -> frozenset[str]:
    """Whom reminders skip: those who responded and confirmed (an unconfirmed response may
    be someone else's use of the address)."""
    query = select(Submission.email).where(
        Submission.consultation_id == consultation_id, col(Submission.confirmed_at).is_not(None),
        col(Submission.withdrawn_at).is_(None),
    )  # fmt: skip
    return frozenset(session.exec(query))


def moderate(
    *, session: Session, consultation: Consultation, reference: str, publish: bool, reason: str, actor: str,
    now: datetime,
) -> Submission:  # fmt: skip
    """Withhold a response from the public pages, or publish it again, for a reason kept in
    the consultation's audit log (who, when, why); staff still read it in full."""
    reason = (reason or "").strip()
    if not reason:
        raise ConsultError("give a reason: it is kept in the audit log with who withheld or published the response")
    if len(reason) > 500:
        raise ConsultError("the reason is at most 500 characters")
    row = by_reference(session=session, consultation_id=repo.key(consultation), reference=reference)
    if row is None:
        raise NotFound(f"{consultation.slug}: no response {reference!r}")
    if row.published == publish:
        raise ConsultError(f"response {reference} is already {'published' if publish else 'withheld'}")
    row.published = publish
    repo.record_action(session=session, consultation=consultation, actor=actor, now=now, reason=reason,
                       action=Action.PUBLISH_RESPONSE if publish else Action.WITHHOLD_RESPONSE,
                       details={"reference": reference, "name": row.name})  # fmt: skip
    return row


def moderation_history(*, session: Session, consultation_id: int, reference: str) -> list[AuditEntry]:
    """Who withheld or published this response, when and why."""
    actions = (Action.WITHHOLD_RESPONSE.value, Action.PUBLISH_RESPONSE.value)
    return [e for e in repo.audit_log(session=session, consultation_id=consultation_id)
            if e.trigger in actions and e.details.get("reference") == reference]  # fmt: skip


IMPORTABLE = frozenset({Stage.OPEN, Stage.CLOSED, Stage.COMPILED})  # until the compilation is published


@dataclass(frozen=True, slots=True)
class ImportedFile:
    """A contribution's file read for an import: the submitter's name, its kind and bytes."""

    name: str
    kind: str
    data: bytes


def import_many(
    *, session: Session, consultation: Consultation, rows: list[SubmissionCreate], now: datetime,
    files: dict[int, ImportedFile] | None = None, attachments: Path | None = None,
) -> tuple[int, int]:  # fmt: skip
    """A few responses received by mail or on paper, keyed in (the staff form): one chunk of
    an Importer. Returns (new, already there); the caller commits, or rolls back."""
    importer = Importer(session=session, consultation=consultation, now=now, attachments=attachments)
    files = files or {}
    try:
        importer.add([(n, data, files.get(n - 1)) for n, data in enumerate(rows, start=1)])
    except BaseException:
        importer.discard_files()
        raise
    return importer.created, importer.same


class Importer:
    """Responses received by mail or on paper, stored chunk by chunk in the caller's one
    transaction (all or nothing: the caller commits, or rolls back and calls
    `discard_files`). Accepted until the compilation is published (open, closed, or
    compiled as a draft: the processing window), checked like the form. A row's own
    `received_at` (ImportedResponse) is kept; it must not be after the deadline — these are
    contributions received on time.

    Memory stays flat whatever the file's size: each chunk's addresses are looked up in the
    database (an index), not held in a set of every address seen. A row already stored by
    this import (an id above the highest before it, channel "import") is the same address
    twice in the file; one stored before is either the same response (counted, skipped) or
    a different one (refused)."""

    def __init__(self, *, session: Session, consultation: Consultation, now: datetime,
                 attachments: Path | None = None) -> None:  # fmt: skip
        c = consultation
        if Stage(c.stage) not in IMPORTABLE:
            raise NotAccepting(
                f"responses can be imported until the compilation is published (open, closed or compiled); "
                f"{c.slug!r} is {c.stage}"
            )
        self.session, self.consultation, self.now, self.attachments = session, c, now, attachments
        self.created = self.same = 0
        self.written: list[Path] = []
        self._before = session.exec(select(func.max(Submission.id))).one() or 0
        table = Submission.__table__  # type: ignore[attr-defined]
        dialect = session.get_bind().dialect
        self._table, self._dialect = table, dialect
        self._stamped_now = bound_value(table.c.received_at, now, dialect)
        self._published = bound_value(table.c.published, True, dialect)
        self._confirmer = bound_value(table.c.confirmed_by, "import", dialect)

    def add(self, rows: list[tuple[int, SubmissionCreate, ImportedFile | None]]) -> None:
        """One chunk: (its number in the file, the response, its file if any) each."""
        c, session, table = self.consultation, self.session, self._table
        found = {row.email: row for row in _stored(session, c.id, [data.email for _, data, _ in rows])}
        seen: set[str] = set()
        new: list[tuple] = []
        to_write: list[tuple[str, bytes]] = []
        fresh = iter(_references(session, len(rows)))  # drawn for all: a number skipped is harmless
        for n, data, file in rows:
            earlier = found.get(data.email)
            this_import = earlier is not None and earlier.id > self._before and earlier.channel == "import"
            if data.email in seen or this_import:
                raise AlreadyResponded(f"response {n}: {data.email} appears twice in the file (nothing was imported)")
            seen.add(data.email)
            digest = content_hash(data)
            if earlier is not None:
                if earlier.content_hash != digest:
                    raise AlreadyResponded(f"response {n}: a different response from {data.email} is already recorded")
                self.same += 1
                continue
            received_at = self._stamped_now
            when: datetime | None = getattr(data, "received_at", None)
            if when is not None:
                _check_received(n, when, consultation=c, now=self.now)
                received_at = bound_value(table.c.received_at, when, self._dialect)
            name = path = None
            if file is not None:
                name, path = file.name[:200], stored_name(file.kind)
                to_write.append((path, file.data))
            new.append((c.id, next(fresh), data.name, data.organisation, data.category, data.country, data.email,
                        data.language, data.summary, _ANSWERS.dump_json(data.answers).decode(), "import",
                        self._published, digest, received_at, name, path, data.publication, received_at,
                        self._confirmer))  # fmt: skip
        self.written += _write_files(self.attachments, to_write)
        self._insert(new)
        self.created += len(new)

    def _insert(self, new: list[tuple]) -> None:
        session = self.session
        for attempt in range(1, REFERENCE_TRIES + 1):
            if attempt > 1:  # new references for the chunk (see below)
                fresh = iter(_references(session, len(new)))
                new = [(row[0], next(fresh), *row[2:]) for row in new]
            try:
                with session.begin_nested():  # a failed chunk leaves the transaction as it was
                    insert_rows(connection=session.connection(), table=self._table, columns=_IMPORT_COLUMNS,
                                rows=new)  # fmt: skip
                return
            except IntegrityError:
                cause = _collision(session=session, consultation_id=self.consultation.id, rows=new)
                if cause == "reference" and attempt < REFERENCE_TRIES:
                    # New references are unique by construction (store/references.py); one
                    # can still meet a random reference written before that: draw again.
                    continue
                if cause == "email":
                    raise AlreadyResponded("a response from one of these addresses arrived through the web during "
                                           "the import; nothing was imported, run it again") from None  # fmt: skip
                raise ConsultError(f"the import's response references collided {REFERENCE_TRIES} times with "
                                   "references already stored; nothing was imported") from None  # fmt: skip

    def discard_files(self) -> None:
        """The attachments this import wrote, removed (its transaction is rolled back)."""
        for stale in self.written:
            stale.unlink(missing_ok=True)
        self.written = []


REFERENCE_TRIES = 3


def _stored(session: Session, consultation_id: int | None, emails: list[str]) -> list[Any]:
    """(id, email, content_hash, channel) of the consultation's responses from these
    addresses: the whole list as one parameter (a JSON array on SQLite, an array on
    PostgreSQL), not thousands of bound values compiled for each chunk of an import."""
    columns = "id, email, content_hash, channel FROM submission WHERE consultation_id = :c AND email"
    if session.get_bind().dialect.name == "postgresql":
        sql = text(f"SELECT {columns} = ANY(:emails)").bindparams(emails=emails)
    else:
        sql = text(f"SELECT {columns} IN (SELECT value FROM json_each(:emails))").bindparams(emails=json.dumps(emails))
    return list(session.execute(sql.bindparams(c=consultation_id)))


def _collision(*, session: Session, consultation_id: int | None, rows: list[tuple]) -> str:
    """What an import's unique-key failure collided on: an address that answered through the
    web meanwhile ("email"), or a response reference already taken ("reference")."""
    emails = [row[6] for row in rows]
    for start in range(0, len(emails), 1000):
        taken = session.exec(select(Submission.id).where(
            Submission.consultation_id == consultation_id, col(Submission.email).in_(emails[start:start + 1000])
        ).limit(1)).first()  # fmt: skip
        if taken is not None:
            return "email"
    return "reference"


def _check_received(n: int, when: datetime, *, consultation: Consultation, now: datetime) -> None:
    c = consultation
    if when > now:
        raise InvalidAnswer(f"response {n}: received_at {when.isoformat()} is in the future (nothing was imported)")
    if c.deadline is not None and when > c.deadline:
        local = c.deadline.astimezone(zone(c.timezone))
        raise InvalidAnswer(
            f"response {n}: received_at {when.isoformat()} is after the deadline ({local:%Y-%m-%d %H:%M:%S %Z}); "
            "only contributions received on time are imported (nothing was imported)"
        )


def _write_files(folder: Path | None, files: list[tuple[str, bytes]]) -> list[Path]:
    if not files:
        return []
    if folder is None:
        raise ValueError("attachments to import need the attachments folder")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for name, data in files:
            (folder / name).write_bytes(data)
            written.append(folder / name)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise ConsultError(f"attachments: cannot write to {folder} ({exc.strerror}); nothing was imported") from None
    return written


_IMPORT_COLUMNS = ("consultation_id", "reference", "name", "organisation", "category", "country", "email", "language",
                   "summary", "answers", "channel", "published", "content_hash", "received_at", "attachment_name",
                   "attachment_path", "publication", "confirmed_at", "confirmed_by")  # fmt: skip
_ANSWERS = TypeAdapter(list[Answer])


def _references(session: Session, count: int) -> list[str]:
    return references.draw(session=session, count=count)

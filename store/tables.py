"""Table models. Inputs and outputs use the separate models in store.models, so a
request can never assign `id`, `stage` or `version` (no mass assignment)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from store.types import UTCDateTime


class Consultation(SQLModel, table=True):
    __tablename__ = "consultation"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=80, unique=True, index=True)
    title: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    questions: list[dict[str, str]] = Field(sa_column=Column(JSON, nullable=False))
    timezone: str = Field(max_length=64)
    decided_on: date | None = None
    letter_date: date | None = None
    opens_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    deadline: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    meeting_on: date | None = None
    meeting_place: str | None = Field(default=None, max_length=200)
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=254)
    min_open_days: int | None = None  # per-consultation override of the policy
    meeting_gap_days: int | None = None
    letter_number: str | None = Field(default=None, max_length=20, unique=True)
    letter_issued_on: date | None = None
    meeting_summary: str | None = Field(default=None, sa_column=Column(Text))
    reminder_offsets: list[int] | None = Field(default=None, sa_column=Column(JSON))  # override of the policy
    audience: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # store.models.Audience; None: all
    # The clock's bookkeeping (states/timers.py): what it did, and when it is next due.
    mail_held_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))  # staff held its mail
    last_reminder_days: int | None = None
    alerts_done: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    next_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, index=True))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))  # a chunk run works on it
    clock_failures: int = 0  # the clock's work on it failed this many times in a row (flows/work.py)
    clock_error: str | None = Field(default=None, sa_column=Column(Text))  # the last failure, for staff
    # Discarded before its letter (a test, a mistake): off every public page, its slug free
    # again (renamed `slug~id`), the original kept here and its audit log kept whole.
    discarded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    discarded_slug: str | None = Field(default=None, max_length=80)
    # What makes a response public: its respondent confirming the address ("confirmation")
    # or a moderator approving it ("moderation"): store.submissions.PUBLISH_AFTER.
    publish_after: str = Field(default="confirmation", max_length=12)
    stage: str = Field(max_length=20, index=True)
    version: int = Field(default=1)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class AuditEntry(SQLModel, table=True):
    """One stage change, or one recorded action that leaves the stage as it is (an edit, a
    response withheld or published: states.Action). Append-only: the database refuses
    UPDATE and DELETE on it."""

    __tablename__ = "audit_entry"
    __table_args__ = (UniqueConstraint("consultation_id", "seq", name="uq_audit_consultation_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id")
    seq: int
    from_stage: str | None = Field(default=None, max_length=20)
    to_stage: str = Field(max_length=20)
    trigger: str = Field(max_length=30)
    actor: str = Field(max_length=120)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ArchivedDocument(SQLModel, table=True):
    """A document as issued (the letter, an addendum, the published compilation, the
    report): which transition issued it, in which languages, and one SHA-256 over its
    files (the digest of their `sha256sum` listing, so it can be checked with that tool)."""

    __tablename__ = "document"
    __table_args__ = (UniqueConstraint("consultation_id", "kind", "seq", name="uq_document_kind_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    kind: str = Field(max_length=20)  # states.Document
    seq: int = 1  # addenda are numbered 1, 2, …; the others are issued once
    letter_number: str | None = Field(default=None, max_length=40)  # the letter it is, or belongs to
    issued_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    audit_seq: int
    languages: list[str] = Field(sa_column=Column(JSON, nullable=False))
    sha256: str = Field(max_length=64)


class ArchivedFile(SQLModel, table=True):
    """One file of an archived document, with its bytes: kept in the database so that the
    document and the transition that issued it commit (or not) together."""

    __tablename__ = "document_file"
    __table_args__ = (UniqueConstraint("document_id", "name", name="uq_document_file_name"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    name: str = Field(max_length=100)  # letter.ar.pdf, addendum-1.en.html, compilation.csv …
    lang: str | None = Field(default=None, max_length=2)
    media_type: str = Field(max_length=100)
    sha256: str = Field(max_length=64)
    size: int
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Stakeholder(SQLModel, table=True):
    """Someone invited to every consultation: a Member State's focal point, a company, a scholar."""

    __tablename__ = "stakeholder"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)  # stored lower-cased
    name: str = Field(max_length=200)
    organisation: str | None = Field(default=None, max_length=200)
    category: str = Field(max_length=20)
    country: str | None = Field(default=None, max_length=2)
    language: str = Field(default="en", max_length=2)
    lists: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    opted_out: bool = False
    bounced: bool = False
    bounce_reason: str | None = Field(default=None, sa_column=Column(Text))
    unsubscribe_token: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class OutboxMessage(SQLModel, table=True):
    """A mail, fully rendered, written in the transaction of the event that causes it.

    `idempotency_key` (consultation, recipient, purpose) is unique, so one intent is
    queued once; `message_id` derives from it, so a resend after a crash is the same mail.
    """

    __tablename__ = "outbox_message"
    # What a claim reads, each in its order (notifications/delivery.py); a message sent or
    # given up leaves them.
    __table_args__ = (
        Index("ix_outbox_pending", "next_attempt_at", "id", sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        Index("ix_outbox_sending", "lease_until", "id", sqlite_where=text("status = 'sending'"),
              postgresql_where=text("status = 'sending'")),
    )  # fmt: skip

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=300, unique=True)
    message_id: str = Field(max_length=200)
    consultation_id: int | None = Field(default=None, foreign_key="consultation.id", index=True)
    stakeholder_id: int | None = Field(default=None, foreign_key="stakeholder.id")
    purpose: str = Field(max_length=40)
    language: str = Field(max_length=2)
    recipient_email: str = Field(max_length=254)
    recipient_name: str | None = Field(default=None, max_length=200)
    subject: str = Field(sa_column=Column(Text, nullable=False))
    unsubscribe_url: str | None = Field(default=None, max_length=500)
    status: str = Field(default="pending", max_length=12)  # notifications/outbox.py Status
    # The deadline the message counts on (a reminder, an extension notice): if the
    # consultation's deadline is no longer this one when it is due, it is superseded.
    deadline_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class OutboxBody(SQLModel, table=True):
    """The MIME bytes of an outbox message, apart from its small, often-updated state row
    (SQLite rewrites a whole row on update: keeping the bytes here makes claiming and
    marking a message several times cheaper)."""

    __tablename__ = "outbox_body"

    outbox_id: int = Field(foreign_key="outbox_message.id", primary_key=True)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ClockLease(SQLModel, table=True):
    """Who runs the clock for this database: one holder at a time, until `expires_at`."""

    __tablename__ = "clock_lease"

    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(max_length=200)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class Submission(SQLModel, table=True):
    """A stakeholder's response. Staff may only withhold or publish it; its respondent may
    amend it (the replaced content is kept in SubmissionEvent) or withdraw it until the
    deadline, through the private link mailed to the address.

    One per e-mail address and consultation (a unique key): the same response sent twice
    is stored once. Public only when confirmed, not withheld, not withdrawn and not kept
    from publication by its respondent (store.submissions.PUBLIC).
    """

    __tablename__ = "submission"
    __table_args__ = (
        UniqueConstraint("consultation_id", "email", name="uq_submission_consultation_email"),
        Index("ix_submission_consultation_id_id", "consultation_id", "id"),  # the staff table pages by id
        Index("ix_submission_unconfirmed", "confirmed_at", "received_at"),  # the clock's expiry
    )

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    reference: str = Field(max_length=40, unique=True)  # shown to the submitter and in the compilation
    name: str = Field(max_length=200)
    organisation: str | None = Field(default=None, max_length=200)
    category: str = Field(max_length=20)
    country: str = Field(max_length=2)
    email: str = Field(max_length=254)
    language: str = Field(max_length=2)
    summary: str = Field(sa_column=Column(Text, nullable=False))
    answers: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    attachment_name: str | None = Field(default=None, max_length=200)  # the submitter's file name
    attachment_path: str | None = Field(default=None, max_length=200)  # generated, under data/attachments
    channel: str = Field(default="web", max_length=20)  # web | api | import
    published: bool = True  # False: withheld by a moderator
    content_hash: str = Field(max_length=64)
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    publication: str = Field(default="named", max_length=12)  # named | anonymous | private (the respondent's choice)
    confirmed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    confirmed_by: str | None = Field(default=None, max_length=120)  # "respondent", "import", or the moderator
    withdrawn_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    amended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    version: int = Field(default=1)
    link_digest: str | None = Field(
        default=None, max_length=64, unique=True, index=True
    )  # SHA-256 of the private link's token


class Installation(SQLModel, table=True):
    """One row: this database's random id, made by its migration (store/installation.py)."""

    __tablename__ = "installation"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=32)


class ClockBeat(SQLModel, table=True):
    """One row: when a tick last completed (real time), how often one should, and who ran
    it. Staff are told when it is overdue (store/heartbeat.py)."""

    __tablename__ = "clock_beat"

    id: int | None = Field(default=None, primary_key=True)
    completed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    interval_s: int
    by: str = Field(max_length=120)


class SubmissionEvent(SQLModel, table=True):
    """What happened to a response after it was stored — confirmed, amended (with the content
    it replaced), withdrawn — by whom. Its own log, not the consultation's audit: thousands
    of respondents acting at once must not queue on the consultation's optimistic lock."""

    __tablename__ = "submission_event"

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True)
    action: str = Field(max_length=30)  # states.Action
    actor: str = Field(max_length=120)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int  # the response's version after the action
    replaced: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # an amendment's previous content


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80, unique=True)
    password_hash: str = Field(max_length=200)  # argon2
    role: str = Field(default="editor", max_length=20)  # states.Role
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class StaffSession(SQLModel, table=True):
    """A staff login, held on the server: logging out or removing the user ends it, whatever
    copy of the cookie is still around. Only the token's SHA-256 is stored."""

    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(max_length=64, unique=True)
    staff_user_id: int = Field(foreign_key="staff_user.id", index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class PendingNotice(SQLModel, table=True):
    """A notice a transition owes the stakeholders, recorded in the transition's own
    transaction (a transactional outbox of notices). Fanning it out to one message per
    stakeholder happens after the commit (notifications/fanout.py): a letter to thousands
    of stakeholders never holds the request or the transaction that issued it, and a crash
    in between loses nothing, since the next tick fans out what is still unqueued."""

    __tablename__ = "pending_notice"
    __table_args__ = (Index("ix_pending_notice_unqueued", "queued_at"),)

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id")
    notice: str = Field(max_length=20)
    audit_seq: int  # the transition that caused it
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    queued_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    messages: int | None = None  # how many messages the fan-out queued


class RegistryEntry(SQLModel, table=True):
    """What staff did to the stakeholder registry (an import, a re-subscription), who and
    why. Append-only, like the consultations' audit log."""

    __tablename__ = "registry_entry"

    id: int | None = Field(default=None, primary_key=True)
    stakeholder_id: int | None = Field(default=None, foreign_key="stakeholder.id", index=True)
    action: str = Field(max_length=30)
    actor: str = Field(max_length=120)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))

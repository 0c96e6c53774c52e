"""Stage changes with their effects: the audit row (store) and the notices the lifecycle
table declares (outbox rows), in one transaction. Mail is sent later, after the commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from config import Settings
from notifications.notices import queue_receipt, queue_to_stakeholders
from notifications.render import long_instant
from states import Notice, Stage, Trigger, transition_for
from store import consultations as repo
from store import submissions
from store.models import SubmissionCreate
from store.submissions import Received
from store.tables import AuditEntry, Consultation


def advance(
    *, session: Session, consultation: Consultation, trigger: Trigger, actor: str, now: datetime,
    settings: Settings, **request: Any,
) -> AuditEntry:  # fmt: skip
    """`repo.change_stage` plus the outbox rows its transition's notice calls for."""
    c = consultation
    source = Stage(c.stage)
    old_deadline = c.deadline
    entry = repo.change_stage(
        session=session, consultation=c, trigger=trigger, actor=actor, now=now, policy=settings.policy, **request
    )
    transition = transition_for(source, trigger)
    notice = transition.notice if transition else None
    mail = settings.mail
    if notice is Notice.DEADLINE_EXTENDED and old_deadline is not None:
        queue_to_stakeholders(
            session=session, consultation=c, purpose=notice.value,
            key_purpose=f"extended:{c.deadline:%Y%m%dT%H%M%SZ}", now=now, mail=mail,
            extra=lambda lang: {"old_deadline": long_instant(old_deadline, lang, c.timezone)},
        )  # fmt: skip
    elif notice is Notice.CANCELLATION and c.letter_number:
        reason = request.get("reason") or ""
        queue_to_stakeholders(
            session=session, consultation=c, purpose=notice.value, extra=lambda lang: {"reason": reason},
            now=now, mail=mail,
        )  # fmt: skip
    elif notice in (Notice.INVITATION, Notice.COMPILATION):
        queue_to_stakeholders(session=session, consultation=c, purpose=notice.value, now=now, mail=mail)
    session.flush()
    return entry


def receive(
    *, session: Session, consultation: Consultation, data: SubmissionCreate, now: datetime, settings: Settings,
    channel: str, attachment_name: str | None = None, attachment_path: str | None = None,
) -> Received:  # fmt: skip
    """Store a response and queue its receipt, in one transaction (the caller commits)."""
    received = submissions.submit(
        session=session, consultation=consultation, data=data, now=now, channel=channel,
        attachment_name=attachment_name, attachment_path=attachment_path,
    )  # fmt: skip
    if received.created:
        s = received.submission
        queue_receipt(
            session=session, consultation=consultation, email=s.email, name=s.name, lang=s.language,
            reference=s.reference, received_at=now, now=now, mail=settings.mail,
        )  # fmt: skip
    return received

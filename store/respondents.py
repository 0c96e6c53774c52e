"""What a respondent does after sending: confirm the address, amend or withdraw the
response until the deadline — all through the private link mailed to that address — and
what a moderator does instead of the respondent when the consultation asks for it.

The link is a random token; only its SHA-256 is stored (like staff sessions), so a copy of
the database does not open anyone's response. It expires with the consultation's deadline
as it stands (an extension keeps it alive), not with a date baked into it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from states import Action, Stage
from states.errors import Conflict, ConsultError, NotFound
from states.guards import accepting_responses
from store import consultations as repo
from store.consultations import plan_of
from store.models import SubmissionCreate
from store.tables import Consultation, Submission, SubmissionEvent

RESPONDENT = "respondent"
# Confirming is possible until the compilation is drafted: a response sent on the last
# evening may be confirmed the next morning (its receipt, not its confirmation, counts).
CONFIRMABLE = frozenset({Stage.OPEN, Stage.CLOSED})
CONTENT = ("name", "organisation", "category", "country", "language", "summary", "answers", "publication",
           "attachment_name", "attachment_path", "content_hash", "received_at")  # fmt: skip


class LinkExpired(Conflict):
    """The private link no longer changes anything (deadline passed, or never confirmed in time)."""


def new_link() -> tuple[str, str]:
    """(token for the mail, digest for the database)."""
    token = secrets.token_urlsafe(24)
    return token, digest_of(token)


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Held:
    """A response reached by its private link, with what its respondent may do now."""

    submission: Submission
    consultation: Consultation
    may_change: bool  # amend or withdraw: until the deadline, unless withdrawn
    may_confirm: bool
    expired: bool  # unconfirmed past the expiry: it will be deleted


def by_link(*, session: Session, token: str, now: datetime, expire_days: int) -> Held:
    if not token or len(token) > 100:
        raise NotFound("no response for this link")
    row = session.exec(select(Submission).where(Submission.link_digest == digest_of(token))).first()
    if row is None:
        raise NotFound("no response for this link: it may have expired unconfirmed, or been mistyped")
    c = repo.get(session=session, ref=str(row.consultation_id))
    open_now = accepting_responses(Stage(c.stage), plan_of(c), now)
    expired = row.confirmed_at is None and now >= row.received_at + timedelta(days=expire_days)
    return Held(
        submission=row, consultation=c, may_change=open_now and row.withdrawn_at is None and not expired,
        may_confirm=(row.confirmed_at is None and c.publish_after == "confirmation" and not expired
                     and row.withdrawn_at is None and Stage(c.stage) in CONFIRMABLE),
        expired=expired,
    )  # fmt: skip


def confirm(*, session: Session, held: Held, now: datetime) -> Submission:
    """The respondent shows the address is theirs: the response may be published."""
    row = held.submission
    if row.confirmed_at is not None:
        return row  # a second click changes nothing
    if not held.may_confirm:
        raise LinkExpired(_why_not(held))
    row.confirmed_at, row.confirmed_by = now, RESPONDENT
    _log(session, row, Action.CONFIRM_RESPONSE, now)
    return row


def approve(*, session: Session, consultation: Consultation, reference: str, actor: str, now: datetime) -> Submission:
    """A moderator publishes an unconfirmed response: the consultation's policy, or a
    respondent who lost the mail and wrote to the secretariat."""
    row = _row(session, consultation, reference)
    if row.confirmed_at is not None:
        raise ConsultError(f"response {reference} is already confirmed")
    if row.withdrawn_at is not None:
        raise ConsultError(f"response {reference} was withdrawn by its respondent")
    row.confirmed_at, row.confirmed_by = now, actor
    _log(session, row, Action.APPROVE_RESPONSE, now, actor=actor)
    repo.record_action(session=session, consultation=consultation, actor=actor, now=now,
                       action=Action.APPROVE_RESPONSE, details={"reference": reference, "name": row.name})  # fmt: skip
    return row


def amend(*, session: Session, held: Held, data: SubmissionCreate, digest: str, now: datetime) -> Submission:
    """Replace the content; the previous one is kept as a version. The address cannot
    change (it is who responded), nor the attachment (kept as sent)."""
    row = held.submission
    if not held.may_change:
        raise LinkExpired(_why_not(held))
    if data.email != row.email:
        raise ConsultError("email: the address cannot change; withdraw this response and send a new one instead")
    if digest == row.content_hash:
        return row
    replaced = _replace(row, data, digest)
    row.amended_at = now
    _log(session, row, Action.AMEND_RESPONSE, now, replaced=replaced)
    return row


def resend(*, session: Session, row: Submission, data: SubmissionCreate, digest: str, now: datetime) -> Submission:
    """The same address sends again before confirming: the new content replaces the
    unconfirmed one (kept as a version) and counts from now, so whoever typed someone
    else's address cannot lock the real owner out."""
    replaced = _replace(row, data, digest)
    row.received_at = now
    _log(session, row, Action.AMEND_RESPONSE, now, replaced=replaced)
    return row


def withdraw(*, session: Session, held: Held, now: datetime) -> Submission:
    """Out of every public page and the compilation; staff still see it, marked withdrawn."""
    row = held.submission
    if not held.may_change:
        raise LinkExpired(_why_not(held))
    row.withdrawn_at = now
    _log(session, row, Action.WITHDRAW_RESPONSE, now)
    return row


def history(*, session: Session, submission_id: int) -> list[SubmissionEvent]:
    """The response's own log, oldest first: each amendment holds the content it replaced."""
    query = select(SubmissionEvent).where(SubmissionEvent.submission_id == submission_id)
    return list(session.exec(query.order_by(col(SubmissionEvent.id))))


def expire_unconfirmed(*, session: Session, now: datetime, expire_days: int) -> list[tuple[int, str, str | None]]:
    """Delete responses left unconfirmed past the expiry (confirmation policy only: under
    moderation they wait for a moderator). Returns (consultation id, reference, attachment
    path) of each, for the audit and the files; the caller commits, then removes files."""
    S = Submission
    cutoff = now - timedelta(days=expire_days)
    by_confirmation = select(Consultation.id).where(Consultation.publish_after == "confirmation")
    stale = session.exec(
        select(S.id, S.consultation_id, S.reference, S.attachment_path).where(
            col(S.confirmed_at).is_(None), col(S.received_at) < cutoff, col(S.consultation_id).in_(by_confirmation)
        )
    ).all()
    if not stale:
        return []
    ids = [i for i, *_ in stale]
    session.execute(delete(SubmissionEvent).where(col(SubmissionEvent.submission_id).in_(ids)))
    session.execute(delete(S).where(col(S.id).in_(ids)))
    gone: dict[int, list[str]] = {}
    for _, consultation_id, reference, _ in stale:
        gone.setdefault(consultation_id, []).append(reference)
    for consultation_id, references in gone.items():
        c = repo.get(session=session, ref=str(consultation_id))
        repo.record_action(session=session, consultation=c, actor="clock", now=now, action=Action.EXPIRE_RESPONSES,
                           details={"references": references, "days": expire_days})  # fmt: skip
    return [(cid, ref, path) for _, cid, ref, path in stale]


def _replace(row: Submission, data: SubmissionCreate, digest: str) -> dict[str, Any]:
    """Put the new content on the row; returns the content it replaced, for the log."""
    replaced = {name: getattr(row, name) for name in CONTENT}
    replaced["received_at"] = row.received_at.isoformat()
    values: dict[str, Any] = {**data.model_dump(exclude={"answers", "email"}),
                              "answers": [a.model_dump() for a in data.answers]}  # fmt: skip
    for name, value in values.items():
        setattr(row, name, value)
    row.content_hash, row.version = digest, row.version + 1
    return replaced


def _log(session: Session, row: Submission, action: Action, now: datetime, *, actor: str = RESPONDENT,
         replaced: dict[str, Any] | None = None) -> None:  # fmt: skip
    session.add(SubmissionEvent(submission_id=row.id or 0, action=action.value, actor=actor, at=now,
                                version=row.version, replaced=replaced))  # fmt: skip


def _row(session: Session, consultation: Consultation, reference: str) -> Submission:
    row = session.exec(
        select(Submission).where(Submission.consultation_id == repo.key(consultation),
                                 Submission.reference == reference)
    ).first()  # fmt: skip
    if row is None:
        raise NotFound(f"{consultation.slug}: no response {reference!r}")
    return row


def _why_not(held: Held) -> str:
    row = held.submission
    if row.withdrawn_at is not None:
        return "this response was withdrawn"
    if held.expired:
        return "this response was not confirmed in time"
    if held.consultation.publish_after == "moderation" and row.confirmed_at is None:
        return "this response is published after the secretariat reviews it"
    return "the deadline has passed: the response can no longer be changed"

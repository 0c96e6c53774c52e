"""What each purpose says and to whom: builds the wording's values from a consultation
and queues one message per recipient in the caller's transaction."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlmodel import Session, col, select

from config import MailSettings
from notifications import registry
from notifications.outbox import Outgoing, enqueue, mime
from notifications.render import RECEIPT_PERSONAL, Stencil, render, stencil
from states import Notice, Stage
from states.dates import long_date, long_instant, time_left
from states.errors import ConsultError
from states.languages import pick
from store.consultations import audit_log, key
from store.installation import installation_key
from store.tables import Consultation, Stakeholder, Submission


def _urls(c: Consultation, lang: str, mail: MailSettings) -> dict[str, str]:
    base = f"{mail.base_url}/consultations/{c.slug}"
    return {"consultation_url": f"{base}?lang={lang}", "respond_url": f"{base}/respond?lang={lang}"}


def consultation_values(c: Consultation, lang: str, mail: MailSettings) -> dict[str, Any]:
    """Everything the wording may name about a consultation, in `lang`."""
    return {
        "title": pick(c.title, lang),
        "letter_number": c.letter_number or "",
        "deadline": _deadline_text(c.deadline, lang, c.timezone) if c.deadline else "",
        "timezone": c.timezone,
        "meeting_date": long_date(c.meeting_on, lang) if c.meeting_on else "",
        "meeting_place": c.meeting_place or "",
        "contact_name": c.contact_name or "",
        "contact_email": c.contact_email or "",
        "stage": c.stage,
        "questions": [pick(q, lang) for q in c.questions],
        **_urls(c, lang, mail),
    }


# Every receipt names the deadline; Babel takes ~50 µs to write it out (measured).
_deadline_text = lru_cache(maxsize=256)(long_instant)


def _for_stakeholder(s: Stakeholder | registry.Recipient, mail: MailSettings) -> dict[str, Any]:
    return {"name": s.name, "unsubscribe_url": f"{mail.base_url}/unsubscribe/{s.unsubscribe_token}"}


Extra = Callable[[str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Wording:
    """What one notice says beyond the consultation itself, and how it is keyed."""

    purpose: str  # the catalogue's section
    key_purpose: str | None = None  # the idempotency key's purpose (default: `purpose`)
    extra: Extra | None = None  # values worded per language (a time span, a former deadline)
    deadline_at: datetime | None = None  # the deadline it counts on: superseded if that moves


def wording_for(c: Consultation, notice: str, details: dict[str, Any], now: datetime) -> Wording:
    """The wording of a stakeholders' notice, from what the transition (or the clock) recorded."""
    if notice == Notice.DEADLINE_EXTENDED:
        old, new = datetime.fromisoformat(details["from"]), datetime.fromisoformat(details["to"])
        return Wording(notice, f"extended:{new.astimezone(UTC):%Y%m%dT%H%M%SZ}",
                       lambda lang: {"old_deadline": long_instant(old, lang, c.timezone)}, deadline_at=new)  # fmt: skip
    if notice == Notice.CANCELLATION:
        reason = details.get("reason") or ""
        return Wording(notice, extra=lambda lang: {"reason": reason})
    if notice == "reminder":
        deadline = c.deadline
        assert deadline is not None
        left = max(deadline - now, timedelta(0))
        # Keyed by the deadline too: after an extension the reminders count down to the new one.
        return Wording(notice, f"reminder:{details['offset_days']}:{deadline.astimezone(UTC):%Y%m%dT%H%M%SZ}",
                       lambda lang: {"time_left": time_left(left, lang)}, deadline_at=deadline)  # fmt: skip
    return Wording(notice)


def messages_for(
    *, consultation: Consultation, recipients: Iterable[Stakeholder | registry.Recipient], wording: Wording,
    mail: MailSettings, overrides: dict[str, Any] | None = None,
) -> list[Outgoing]:  # fmt: skip
    """One message per recipient, in their language (`overrides`: values a preview fills in)."""
    out: list[Outgoing] = []
    per_language: dict[str, Stencil] = {}
    purpose = wording.purpose
    for s in recipients:
        if s.language not in per_language:
            values = consultation_values(consultation, s.language, mail)
            if purpose not in {"invitation", "reminder"}:
                values["questions"] = []
            per_language[s.language] = Stencil(purpose, s.language, {
                **values, **(wording.extra(s.language) if wording.extra else {}), **(overrides or {})})  # fmt: skip
        personal = _for_stakeholder(s, mail)
        out.append(
            Outgoing(
                consultation_id=consultation.id, stakeholder_id=s.id, purpose=wording.key_purpose or purpose,
                language=s.language, recipient_email=s.email, recipient_name=s.name,
                rendered=per_language[s.language].fill(personal),
                unsubscribe_url=personal["unsubscribe_url"], reply_to=consultation.contact_email,
                deadline_at=wording.deadline_at,
            )
        )  # fmt: skip
    return out


def queue_to_stakeholders(
    *, session: Session, consultation: Consultation, wording: Wording, now: datetime, mail: MailSettings,
    exclude_emails: frozenset[str] = frozenset(),
) -> int:  # fmt: skip
    """One message per reachable stakeholder, in their language; returns how many were new.
    Built and queued a batch of stakeholders at a time: memory follows the batch, not the
    registry (a million newcomers invited at once peaked at 4 GB built whole)."""
    audience = registry.audience_of(consultation)
    queued = 0
    for batch in registry.recipient_batches(session=session, audience=audience):
        recipients = [s for s in batch if s.email not in exclude_emails]
        out = messages_for(consultation=consultation, recipients=recipients, wording=wording, mail=mail)
        queued += enqueue(session=session, messages=out, now=now, sender=mail.sender)
    return queued  # (the session's identity map holds unchanged rows weakly: each batch is let go)


def queue_reminders(
    *, session: Session, consultation: Consultation, offset_days: int, now: datetime, mail: MailSettings,
    responded: frozenset[str] = frozenset(),
) -> int:  # fmt: skip
    """The reminder `offset_days` before the deadline; the clock decides when it is due."""
    wording = wording_for(consultation, "reminder", {"offset_days": offset_days}, now)
    return queue_to_stakeholders(session=session, consultation=consultation, wording=wording, now=now, mail=mail,
                                 exclude_emails=responded)  # fmt: skip


def queue_receipt(
    *, session: Session, consultation: Consultation, submission: Submission, link: str, now: datetime,
    mail: MailSettings, expire_days: int,
) -> int:  # fmt: skip
    """The receipt of a response, or of its amendment (one per version), with the private
    link to confirm, amend or withdraw it."""
    s, lang = submission, submission.language
    personal = {"name": s.name, "reference": s.reference, "received_at": long_instant(now, lang, consultation.timezone),
                "manage_url": f"{mail.base_url}/respond/manage/{link}"}  # fmt: skip
    values = {**consultation_values(consultation, lang, mail), "questions": [], "unsubscribe_url": None,
              "confirm": s.confirmed_at is None and consultation.publish_after == "confirmation",
              "moderated": s.confirmed_at is None and consultation.publish_after == "moderation",
              "private": s.publication == "private", "anonymous": s.publication == "anonymous",
              "amended": s.amended_at is not None, "expire_days": expire_days}  # fmt: skip
    purpose = f"receipt:{s.reference}" if s.version == 1 else f"receipt:{s.reference}:{s.version}"
    email, name = s.email, s.name
    message = Outgoing(
        consultation_id=consultation.id, stakeholder_id=None, purpose=purpose, language=lang,
        recipient_email=email, recipient_name=name,
        rendered=stencil("receipt", lang, values, RECEIPT_PERSONAL).fill(personal),
        reply_to=consultation.contact_email,
    )  # fmt: skip
    return enqueue(session=session, messages=[message], now=now, sender=mail.sender)


def queue_staff_alert(
    *,
    session: Session,
    consultation: Consultation,
    kind: str,
    now: datetime,
    mail: MailSettings,
    extra: dict[str, str] | None = None,
) -> int:
    """Alerts go to the consultation's contact, in the staff language."""
    if not consultation.contact_email:
        return 0
    lang = mail.staff_language
    values = {**consultation_values(consultation, lang, mail), "questions": [],
              "name": consultation.contact_name or consultation.contact_email, "unsubscribe_url": None,
              **(extra or {})}  # fmt: skip
    message = Outgoing(
        consultation_id=consultation.id, stakeholder_id=None, purpose=kind, language=lang,
        recipient_email=consultation.contact_email, recipient_name=consultation.contact_name,
        rendered=render(kind, lang, values),
    )  # fmt: skip
    return enqueue(session=session, messages=[message], now=now, sender=mail.sender)


PREVIEWABLE = (Notice.INVITATION.value, "reminder", Notice.DEADLINE_EXTENDED.value, Notice.CANCELLATION.value,
               Notice.COMPILATION.value)  # the stakeholders' notices, and the clock's reminder  # fmt: skip


def preview(
    *, session: Session, consultation: Consultation, notice: str, lang: str, now: datetime, mail: MailSettings,
    to: str | None = None, sample: bool = False,
) -> tuple[Outgoing, bytes]:  # fmt: skip
    """A stakeholders' notice as `to` (a registry address; default the first reachable
    stakeholder writing in `lang`, else — or with `sample` — a made-up one) would receive it at `now`:
    the same Outgoing and the same MIME bytes the outbox would queue."""
    c = consultation
    if notice not in PREVIEWABLE:
        raise ConsultError(f"unknown notice {notice!r}; previewable: {', '.join(PREVIEWABLE)}")
    if notice == "reminder" and c.deadline is None:
        raise ConsultError(f"{c.slug!r} has no deadline yet: no reminder to preview")
    details: dict[str, Any] = {}
    if notice == "reminder":
        details["offset_days"] = max((c.deadline - now).days, 1) if c.deadline else 1
    elif notice == Notice.DEADLINE_EXTENDED:
        extensions = [e for e in audit_log(session=session, consultation_id=key(c)) if e.trigger == "extend_deadline"]
        if not extensions:
            raise ConsultError(f"{c.slug!r}: no deadline extension recorded yet, so no extension notice to preview")
        details = extensions[-1].details
    elif notice == Notice.CANCELLATION:
        details["reason"] = "[the reason given when cancelling]"
    recipient = _recipient(session=session, lang=lang, to=to, now=now, sample=sample)
    wording = wording_for(c, notice, details, now)
    # Before the letter is issued its number is not known yet: the preview says where it goes.
    draft = {} if c.letter_number else {"letter_number": f"CL-{now.year % 100:02d}/… (draft)"}
    (message,) = messages_for(consultation=c, recipients=[recipient], wording=wording, mail=mail, overrides=draft)
    return message, mime(message, now=now, sender=mail.sender, installation=installation_key(session))[2]


def _recipient(*, session: Session, lang: str, to: str | None, now: datetime, sample: bool) -> Stakeholder:
    if to is not None:
        found = session.exec(select(Stakeholder).where(Stakeholder.email == to.strip().lower())).first()
        if found is None:
            raise ConsultError(f"{to!r} is not in the stakeholder registry")
        return found
    for s in [] if sample else registry.reachable(session=session):
        if s.language == lang:
            return s
    return Stakeholder(email="recipient@example.org", name="[Recipient's name]", category="member_state",
                       language=lang, unsubscribe_token="preview", created_at=now, updated_at=now)  # fmt: skip


def queue_test(
    *, session: Session, consultation: Consultation, notice: str, lang: str, to: str, now: datetime,
    mail: MailSettings,
) -> Outgoing:  # fmt: skip
    """A notice, as previewed, queued to one address of the staff's choosing, marked as a
    test. Never to the registry; its own key, so each test goes once."""
    from store.models import StakeholderCreate

    address = StakeholderCreate.model_validate({"email": to, "name": "x", "category": "other"}).email
    message, _ = preview(session=session, consultation=consultation, notice=notice, lang=lang, now=now, mail=mail,
                         sample=True)  # no real stakeholder's unsubscribe link in a test  # fmt: skip
    rendered = replace(message.rendered, subject=f"[TEST] {message.rendered.subject}")
    test = replace(message, stakeholder_id=None, recipient_email=address, recipient_name=None, rendered=rendered,
                   purpose=f"test:{notice}:{secrets.token_hex(4)}", unsubscribe_url=None, deadline_at=None)  # fmt: skip
    enqueue(session=session, messages=[test], now=now, sender=mail.sender)
    return test


UNDER_WAY = (Stage.LETTER_ISSUED.value, Stage.OPEN.value)


def invite_latecomers(*, session: Session, now: datetime, mail: MailSettings) -> int:
    """Invitations for stakeholders added after a letter went out, to each consultation
    still taking responses (or about to): the outbox key makes each go once, so those
    already invited are skipped whatever happens."""
    queued = 0
    for c in session.exec(select(Consultation).where(col(Consultation.stage).in_(UNDER_WAY))):
        queued += queue_to_stakeholders(session=session, consultation=c, wording=Wording("invitation"), now=now,
                                        mail=mail)  # fmt: skip
    return queued


LIVE = tuple(
    s.value
    for s in (
        Stage.DECIDED,
        Stage.LETTER_ISSUED,
        Stage.OPEN,
        Stage.CLOSED,
        Stage.COMPILED,
        Stage.PUBLISHED,
        Stage.MEETING_HELD,
    )
)  # the clock still owes them something


def queue_clock_stopped(*, session: Session, since: datetime, interval: int, by: str, now: datetime,
                        mail: MailSettings) -> int:  # fmt: skip
    """One alert per contact of the consultations the clock still owes something (their
    titles listed), once per stoppage: the purpose carries when the last tick completed,
    so another watchdog, or a restart, queues nothing new."""
    from sqlmodel import col, select

    from notifications.render import CLOCK_STOPPED

    query = select(Consultation).where(col(Consultation.stage).in_(LIVE), col(Consultation.discarded_at).is_(None),
                                       col(Consultation.contact_email).is_not(None))  # fmt: skip
    lang = mail.staff_language
    contacts: dict[str, tuple[str, list[str]]] = {}
    for c in session.exec(query):
        name, titles = contacts.setdefault(c.contact_email or "", (c.contact_name or c.contact_email or "", []))
        titles.append(f"{pick(c.title, lang)} ({c.letter_number or c.slug})")
    purpose = f"{CLOCK_STOPPED}:{since:%Y%m%dT%H%M%S}"
    messages = [
        Outgoing(consultation_id=None, stakeholder_id=None, purpose=purpose, language=lang, recipient_email=email,
                 recipient_name=name,
                 rendered=render(CLOCK_STOPPED, lang, {
                     "name": name, "since": long_instant(since, lang, "UTC", with_zone=True), "interval": interval,
                     "by": by, "titles": "; ".join(titles), "consultation_url": f"{mail.base_url}/staff",
                     "unsubscribe_url": None}))
        for email, (name, titles) in contacts.items()
    ]  # fmt: skip
    return enqueue(session=session, messages=messages, now=now, sender=mail.sender)

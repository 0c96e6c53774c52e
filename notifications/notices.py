"""What each purpose says and to whom: builds the wording's values from a consultation
and queues one message per recipient in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlmodel import Session

from config import MailSettings
from notifications import registry
from notifications.outbox import Outgoing, enqueue
from notifications.render import long_date, long_instant, render, time_left
from states.languages import pick
from store.tables import Consultation, Stakeholder


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


def _for_stakeholder(s: Stakeholder, mail: MailSettings) -> dict[str, Any]:
    return {"name": s.name, "unsubscribe_url": f"{mail.base_url}/unsubscribe/{s.unsubscribe_token}"}


Extra = Callable[[str], dict[str, Any]]


def queue_to_stakeholders(
    *, session: Session, consultation: Consultation, purpose: str, key_purpose: str | None = None,
    extra: Extra | None = None, now: datetime, mail: MailSettings, exclude_emails: frozenset[str] = frozenset(),
) -> int:  # fmt: skip
    """One message per reachable stakeholder, in their language; returns how many were new.

    `extra(lang)` adds values worded per language (a time span, a former deadline).
    """
    out: list[Outgoing] = []
    per_language: dict[str, dict[str, Any]] = {}
    for s in registry.reachable(session=session):
        if s.email in exclude_emails:
            continue
        if s.language not in per_language:
            values = consultation_values(consultation, s.language, mail)
            if purpose not in {"invitation", "reminder"}:
                values["questions"] = []
            per_language[s.language] = {**values, **(extra(s.language) if extra else {})}
        personal = _for_stakeholder(s, mail)
        out.append(
            Outgoing(
                consultation_id=consultation.id, stakeholder_id=s.id, purpose=key_purpose or purpose,
                language=s.language, recipient_email=s.email, recipient_name=s.name,
                rendered=render(purpose, s.language, {**per_language[s.language], **personal}),
                unsubscribe_url=personal["unsubscribe_url"],
            )
        )  # fmt: skip
    return enqueue(session=session, messages=out, now=now, sender=mail.sender)


def queue_reminders(
    *, session: Session, consultation: Consultation, offset_days: int, now: datetime, mail: MailSettings,
    responded: frozenset[str] = frozenset(),
) -> int:  # fmt: skip
    """The reminder `offset_days` before the deadline; the clock decides when it is due."""
    assert consultation.deadline is not None
    left = max(consultation.deadline - now, timedelta(0))
    return queue_to_stakeholders(
        session=session, consultation=consultation, purpose="reminder", key_purpose=f"reminder:{offset_days}",
        extra=lambda lang: {"time_left": time_left(left, lang)}, now=now, mail=mail, exclude_emails=responded,
    )  # fmt: skip


def queue_receipt(
    *, session: Session, consultation: Consultation, email: str, name: str, lang: str, reference: str,
    received_at: datetime, now: datetime, mail: MailSettings,
) -> int:  # fmt: skip
    values = {**consultation_values(consultation, lang, mail), "questions": [], "name": name,
              "reference": reference, "received_at": long_instant(received_at, lang, consultation.timezone),
              "unsubscribe_url": None}  # fmt: skip
    message = Outgoing(
        consultation_id=consultation.id, stakeholder_id=None, purpose=f"receipt:{reference}", language=lang,
        recipient_email=email, recipient_name=name, rendered=render("receipt", lang, values),
    )  # fmt: skip
    return enqueue(session=session, messages=[message], now=now, sender=mail.sender)


def queue_staff_alert(
    *, session: Session, consultation: Consultation, kind: str, now: datetime, mail: MailSettings
) -> int:
    """Alerts go to the consultation's contact, in the staff language."""
    if not consultation.contact_email:
        return 0
    lang = mail.staff_language
    values = {**consultation_values(consultation, lang, mail), "questions": [],
              "name": consultation.contact_name or consultation.contact_email, "unsubscribe_url": None}  # fmt: skip
    message = Outgoing(
        consultation_id=consultation.id, stakeholder_id=None, purpose=kind, language=lang,
        recipient_email=consultation.contact_email, recipient_name=consultation.contact_name,
        rendered=render(kind, lang, values),
    )  # fmt: skip
    return enqueue(session=session, messages=[message], now=now, sender=mail.sender)

"""The circular letter, modelled on CL-17/30 (shared/reference/): issuing unit, place and
date, addressees, reference, contact, subject, the council decision and its date, the
numbered questions, the deadline, the meeting the compilation goes to, the signature."""

from __future__ import annotations

from datetime import datetime

from config import Settings
from documents.wording import Words, environment, letter_date
from states.errors import ConsultError
from states.languages import pick
from states.timing import local_date
from store.tables import Consultation


def letter_html(c: Consultation, *, lang: str, settings: Settings, now: datetime) -> str:
    """The letter from the consultation as it is now: rendered once when it is issued (and
    archived, documents/archive.py), or as a draft (dated `now`, numbered "CL-YY/…") before."""
    if c.decided_on is None or c.deadline is None or c.meeting_on is None:
        raise ConsultError(f"{c.slug!r} has no council decision yet: the letter needs its dates")
    org = settings.organisation
    issued_on = c.letter_issued_on or c.letter_date or local_date(now, c.timezone)
    number = c.letter_number or f"CL-{issued_on.year % 100:02d}/… (draft)"
    return environment().get_template("letter.html").render(
        lang=lang, w=Words(lang), c=c, number=number, title=pick(c.title, lang),
        questions=[pick(q, lang) for q in c.questions], place=org.text("place", lang), group=org.text("group", lang),
        issued=letter_date(issued_on, lang), decided_on=letter_date(c.decided_on, lang),
        deadline=letter_date(local_date(c.deadline, c.timezone), lang), meeting_date=letter_date(c.meeting_on, lang),
        meeting_place=c.meeting_place or "", url=f"{settings.mail.base_url}/consultations/{c.slug}?lang={lang}",
        signatory=org.text("signatory", lang), signatory_title=org.text("signatory_title", lang),
    )  # fmt: skip


def addendum_html(c: Consultation, *, seq: int, lang: str, settings: Settings, now: datetime) -> str:
    """Addendum `seq` to the issued letter, dated `now`: it announces the deadline as it is
    now; the letter itself stays as it was sent."""
    if c.letter_number is None or c.letter_issued_on is None or c.deadline is None:
        raise ConsultError(f"{c.slug!r}: an addendum needs the issued letter it belongs to")
    org, w = settings.organisation, Words(lang)
    return environment().get_template("addendum.html").render(
        lang=lang, w=w, c=c, heading=w("addendum_ref", seq=seq, number=c.letter_number), number=c.letter_number,
        title=pick(c.title, lang), place=org.text("place", lang),
        issued=letter_date(local_date(now, c.timezone), lang), letter_date=letter_date(c.letter_issued_on, lang),
        deadline=letter_date(local_date(c.deadline, c.timezone), lang),
        url=f"{settings.mail.base_url}/consultations/{c.slug}?lang={lang}",
        signatory=org.text("signatory", lang), signatory_title=org.text("signatory_title", lang),
    )  # fmt: skip

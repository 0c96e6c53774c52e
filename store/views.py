"""Public, JSON-ready views of a consultation: what the API and `--json` show.

Never includes stakeholder e-mails; the contact e-mail is the secretariat's own, printed
on the circular letter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from states import Stage, allowed_triggers
from states.schedule import next_due
from store.consultations import plan_of
from store.tables import AuditEntry, Consultation


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def consultation_view(c: Consultation, *, now: datetime) -> dict[str, Any]:
    due = next_due(Stage(c.stage), plan_of(c))
    return {
        "id": c.id,
        "slug": c.slug,
        "stage": c.stage,
        "title": c.title,
        "questions": [{"number": n, "text": q} for n, q in enumerate(c.questions, start=1)],
        "timezone": c.timezone,
        "decided_on": _iso(c.decided_on),
        "letter_date": _iso(c.letter_date),
        "opens_at": _iso(c.opens_at),
        "deadline": _iso(c.deadline),
        "meeting_on": _iso(c.meeting_on),
        "meeting_place": c.meeting_place,
        "contact_name": c.contact_name,
        "contact_email": c.contact_email,
        "letter_number": c.letter_number,
        "letter_issued_on": _iso(c.letter_issued_on),
        "meeting_summary": c.meeting_summary,
        "allowed_triggers": [t.dashed for t in allowed_triggers(Stage(c.stage))],
        "next_due": None
        if due is None
        else {"trigger": due.trigger.dashed, "at": _iso(due.at), "overdue": due.overdue(now)},
        "version": c.version,
    }


def audit_view(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "from": e.from_stage,
        "to": e.to_stage,
        "trigger": e.trigger,
        "actor": e.actor,
        "at": _iso(e.at),
        "reason": e.reason,
        "details": e.details,
    }

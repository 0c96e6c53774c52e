"""Factories for tests, in one place: decisions, instants in Geneva, consultations in any stage."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time
from typing import Any

from sqlmodel import Session

from config import Policy, Settings
from documents.archive import Renderer
from notifications.fanout import fan_out_in, settle_as_history
from states import Request, Stage, Trigger
from states.timing import local_instant
from store import consultations as repo
from store import lifecycle
from store.decision_file import parse_decision
from store.models import ConsultationCreate
from store.tables import AuditEntry, Consultation

# This tool keeps the letter registry in most tests (the year's next number); the
# secretariat's registry, the default, is tested apart.
POLICY = Policy(letter_numbers="tool")
DOCUMENTS = Renderer(Settings(policy=POLICY))  # the documents a transition issues, really rendered
GENEVA = "Europe/Geneva"
STAFF = "staff:test"

OTT: dict[str, Any] = {
    "slug": "ott-2017",
    "decided_on": date(2017, 5, 25),
    "timezone": GENEVA,
    "letter_date": date(2017, 6, 14),
    "deadline": date(2017, 8, 19),
    "meeting_on": date(2017, 9, 18),
    "meeting_place": "Geneva, Switzerland",
    "contact_name": "Mr Preetam Maloor",
    "contact_email": "cwg-internet@itu.int",
    "title": {"en": "Public policy considerations for OTTs", "ar": "اعتبارات السياسات العامة المتعلقة بالخدمات OTT"},
    "questions": [{"en": f"Question {n}?", "ar": f"السؤال {n}؟"} for n in range(1, 6)],
}

_slugs = itertools.count(1)


def geneva(day: date, hh: int = 10, mm: int = 0) -> datetime:
    return local_instant(day, time(hh, mm), GENEVA)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def decision(**overrides: Any) -> ConsultationCreate:
    raw = {**OTT, **overrides}
    return parse_decision({k: v for k, v in raw.items() if v is not None}, policy=POLICY)


def unique_slug(prefix: str = "c") -> str:
    return f"{prefix}-{next(_slugs)}"


# How to bring a decided consultation (OTT dates) to each stage: trigger, when, request.
PATH: tuple[tuple[Trigger, datetime, dict[str, Any]], ...] = (
    (Trigger.ISSUE_LETTER, geneva(date(2017, 6, 14)), {}),
    (Trigger.OPEN_SUBMISSIONS, geneva(date(2017, 6, 14), 10, 5), {}),
    (Trigger.CLOSE_SUBMISSIONS, geneva(date(2017, 8, 20), 0, 1), {}),
    (Trigger.COMPILE, geneva(date(2017, 8, 20), 0, 2), {}),
    (Trigger.PUBLISH_COMPILATION, geneva(date(2017, 9, 11)), {}),
    (Trigger.HOLD_MEETING, geneva(date(2017, 9, 18), 17), {"meeting_summary": "Agreed summary."}),
    (Trigger.REPORT, geneva(date(2017, 10, 2)), {}),
)
REACHED_BY = {
    Stage.LETTER_ISSUED: 1, Stage.OPEN: 2, Stage.CLOSED: 3, Stage.COMPILED: 4, Stage.PUBLISHED: 5,
    Stage.MEETING_HELD: 6, Stage.REPORTED: 7,
}  # fmt: skip


def consultation_in(session: Session, stage: Stage, *, slug: str | None = None) -> Consultation:
    """A committed consultation in `stage`, reached through the real lifecycle."""
    slug = slug or unique_slug(stage.value.replace("_", "-"))
    proposed = stage is Stage.PROPOSED
    c = repo.create_consultation(
        session=session,
        data=decision(slug=slug),
        proposed=proposed,
        actor=STAFF,
        now=geneva(date(2017, 5, 25), 12),
        policy=POLICY,
    ).consultation
    if stage is Stage.CANCELLED:
        change_stage(
            session=session,
            consultation=c,
            trigger=Trigger.CANCEL,
            actor=STAFF,
            now=geneva(date(2017, 5, 26)),
            policy=POLICY,
            reason="test",
        )
    for trigger, now, request in PATH[: REACHED_BY.get(stage, 0)]:
        change_stage(session=session, consultation=c, trigger=trigger, actor=STAFF, now=now, policy=POLICY, **request)
    # A consultation set up in a stage is history: the notices of the way there are not owed.
    settle_as_history(session=session, consultation_id=repo.key(c), now=geneva(date(2017, 5, 25), 12))
    session.commit()
    assert c.stage == stage.value
    return c


def change_stage(
    *, session: Session, consultation: Consultation, trigger: Trigger, actor: str, now: datetime, policy: Policy,
    documents: Renderer = DOCUMENTS, **params: Any,
) -> AuditEntry:  # fmt: skip
    """The lifecycle service with the trigger's parameters as keywords (tests read better so)."""
    return lifecycle.fire(
        session=session, consultation=consultation, trigger=trigger, actor=actor, now=now, policy=policy,
        documents=documents, request=Request(**params),
    ).entry  # fmt: skip


def advance(
    *, session: Session, consultation: Consultation, trigger: Trigger, actor: str, now: datetime, settings: Settings,
    **params: Any,
) -> AuditEntry:  # fmt: skip
    """Fire, then fan the notice out in the same session, as a tick would right after."""
    entry = change_stage(session=session, consultation=consultation, trigger=trigger, actor=actor, now=now,
                         policy=settings.policy, **params)  # fmt: skip
    fan_out_in(session=session, now=now, mail=settings.mail)
    return entry

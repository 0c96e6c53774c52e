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


def submit_confirmed(*, session: Session, consultation: Consultation, data: Any, now: datetime, channel: str,
                     **attachment: Any) -> Any:  # fmt: skip
    """A response as the form or the API stores it, then confirmed by its respondent through
    the private link (store.respondents): what every test of public output starts from."""
    from store import submissions

    received = submissions.submit(session=session, consultation=consultation, data=data, now=now, channel=channel,
                                  **attachment)  # fmt: skip
    return confirm_received(session=session, received=received, now=now)


def confirm_received(*, session: Session, received: Any, now: datetime) -> Any:
    """Its respondent confirms a stored response by the private link (store.respondents)."""
    from store import respondents

    if received.link:
        held = respondents.by_link(session=session, token=received.link, now=now, expire_days=7)
        respondents.confirm(session=session, held=held, now=now)
    return received


def receipt_link(session: Session, email: str) -> str:
    """The private link in the newest receipt queued for `email`, read out of the MIME bytes
    as a mail client would (its text part decoded)."""
    import email as mail_parser
    import re
    from email import policy

    from sqlmodel import col, select

    from notifications.outbox import raw_of
    from store.tables import OutboxMessage

    query = select(OutboxMessage).where(OutboxMessage.recipient_email == email,
                                        col(OutboxMessage.purpose).startswith("receipt:"))  # fmt: skip
    message = session.exec(query.order_by(col(OutboxMessage.id).desc())).first()
    assert message is not None, f"no receipt queued for {email}"
    parsed = mail_parser.message_from_bytes(raw_of(session=session, message=message), policy=policy.default)
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(r"https?://\S+(/respond/manage/[A-Za-z0-9_-]+)", body.get_content())
    assert found, "the receipt carries no private link"
    return found.group(1)


def confirm_by_link(client: Any, session: Session, email: str) -> str:
    """Open the receipt's link and press Confirm, as the respondent does; returns the link."""
    path = receipt_link(session, email)
    assert client.get(path).status_code == 200
    answer = client.post(path, data={"action": "confirm"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text[-500:]
    return path

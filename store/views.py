"""Public, JSON-ready views: what the API answers (its OpenAPI response schemas) and what
`--json` prints — the same pydantic models, so the two cannot drift apart.

Never includes stakeholder e-mails; the contact e-mail is the secretariat's own, printed
on the circular letter. Instants are ISO 8601 in UTC with `+00:00`, as the CLI always wrote.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from states import Document, Stage, allowed_triggers
from states.clock import next_step
from store.consultations import plan_of
from store.counts import Counts
from store.submissions import shown_name, status_of
from store.tables import ArchivedDocument, ArchivedFile, AuditEntry, Consultation, Submission

Instant = Annotated[datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str)]


class View(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    def json_ready(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class Problem(View):
    """An error: one line a person can act on (or, for a refused body, one per field), and
    its kind (states/errors.py) where the domain gave one."""

    detail: str | list[dict[str, Any]] = Field(description="What went wrong; per field for a refused body.")
    kind: str | None = Field(default=None, description="bad_input, not_found, refused, conflict, busy, forbidden …")


class NextDue(View):
    trigger: str = Field(description="The trigger, dashed (issue-letter).")
    at: Instant | None = Field(description="When it falls due; null: whenever staff act.")
    overdue: bool


class Question(View):
    number: int
    text: dict[str, str] = Field(description="By language code.")


class ConsultationView(View):
    id: int
    slug: str
    stage: Stage
    title: dict[str, str]
    questions: list[Question]
    timezone: str
    decided_on: date | None
    letter_date: date | None
    opens_at: Instant | None
    deadline: Instant | None
    meeting_on: date | None
    meeting_place: str | None
    contact_name: str | None
    contact_email: str | None
    letter_number: str | None
    letter_issued_on: date | None
    meeting_summary: str | None
    allowed_triggers: list[str]
    next_due: NextDue | None
    version: int


class AuditView(View):
    seq: int
    from_stage: Stage | None = Field(alias="from")
    to_stage: Stage = Field(alias="to")
    trigger: str
    actor: str
    at: Instant
    reason: str | None
    details: dict[str, Any]


class ByChannel(View):
    online: int = Field(description="By the web form or the API.")
    other: int = Field(description="Imported: received by e-mail or on paper.")


class Responses(View):
    """One query's numbers (store/counts.py): the compilation, the pages and the report agree."""

    received: int
    published: int
    withheld: int
    unconfirmed: int = 0  # waiting for the respondent's confirmation or a moderator: counted apart
    withdrawn: int = 0
    private: int = 0  # for the secretariat only, by the respondent's choice
    by_channel: ByChannel


class DocumentFileView(View):
    name: str
    lang: str | None
    media_type: str
    size: int
    sha256: str
    path: str = Field(description="Where the web serves these archived bytes.")


class DocumentView(View):
    """A document as issued, archived with the transition that issued it."""

    kind: str = Field(description="letter, addendum, compilation or report.")
    seq: int
    number: str | None = Field(description="The letter's registry number; an addendum's is 'Addendum N to …'.")
    issued_at: Instant
    sha256: str = Field(description="SHA-256 of the files' `sha256sum` listing (sorted by name).")
    languages: list[str]
    files: list[DocumentFileView]


class ConsultationDetail(ConsultationView):
    responses: Responses
    documents: list[DocumentView]
    audit: list[AuditView]


class Created(ConsultationView):
    warnings: list[str]


class Fired(View):
    consultation: ConsultationView
    audit: AuditView


class ResponseView(View):
    """A published response, as anyone may read it: no name or organisation when its
    respondent chose to be published without them."""

    reference: str
    name: str | None
    organisation: str | None
    publication: str  # named | anonymous (private ones are never public)
    category: str
    country: str
    language: str
    summary: str
    answers: list[dict[str, Any]]
    has_attachment: bool
    received_at: Instant


class StaffResponseView(ResponseView):
    """A response as staff read it: withheld ones too, with the address and channel."""

    email: str
    channel: str
    published: bool  # False: withheld by a moderator
    status: str  # published | withheld | unconfirmed | withdrawn | private (store.submissions.status_of)
    version: int


class StaffResponses(View):
    total: int  # matching the filter
    next_before: int | None  # pass as `before` for the next page
    responses: list[StaffResponseView]


class Moderated(View):
    reference: str
    published: bool
    audit: AuditView


class Receipt(ResponseView):
    """The sender's own response: stored, and public only once confirmed by the link mailed
    to its address (or approved by a moderator, per the consultation's publish_after)."""

    created: bool
    status: str  # unconfirmed until then (store.submissions.status_of)
    publish_after: str  # confirmation | moderation


class Health(View):
    status: str
    now: Instant


def consultation_view(c: Consultation, *, now: datetime) -> ConsultationView:
    return ConsultationView(**_consultation_fields(c, now))


def _consultation_fields(c: Consultation, now: datetime) -> dict[str, Any]:
    stage = Stage(c.stage)
    due = next_step(stage, plan_of(c))
    assert c.id is not None
    return {
        "id": c.id, "slug": c.slug, "stage": stage, "title": c.title,
        "questions": [Question(number=n, text=q) for n, q in enumerate(c.questions, start=1)],
        "timezone": c.timezone, "decided_on": c.decided_on, "letter_date": c.letter_date, "opens_at": c.opens_at,
        "deadline": c.deadline, "meeting_on": c.meeting_on, "meeting_place": c.meeting_place,
        "contact_name": c.contact_name, "contact_email": c.contact_email, "letter_number": c.letter_number,
        "letter_issued_on": c.letter_issued_on, "meeting_summary": c.meeting_summary,
        "allowed_triggers": [t.dashed for t in allowed_triggers(stage)],
        "next_due": None if due is None else NextDue(trigger=due.trigger.dashed, at=due.at, overdue=due.overdue(now)),
        "version": c.version,
    }  # fmt: skip


def document_view(c: Consultation, doc: ArchivedDocument, files: list[ArchivedFile]) -> DocumentView:
    number = doc.letter_number
    if doc.kind == Document.ADDENDUM and number:
        number = f"Addendum {doc.seq} to {number}"
    elif doc.kind != Document.LETTER:
        number = None
    return DocumentView(
        kind=doc.kind, seq=doc.seq, number=number, issued_at=doc.issued_at, sha256=doc.sha256,
        languages=doc.languages,
        files=[DocumentFileView(name=f.name, lang=f.lang, media_type=f.media_type, size=f.size, sha256=f.sha256,
                                path=f"/consultations/{c.slug}/documents/{f.name}") for f in files],
    )  # fmt: skip


def detail_view(
    c: Consultation, audit: list[AuditEntry], counts: Counts, *, now: datetime,
    documents: list[tuple[ArchivedDocument, list[ArchivedFile]]],
) -> ConsultationDetail:  # fmt: skip
    responses = Responses(received=counts.received, published=counts.published, withheld=counts.withheld,
                          unconfirmed=counts.unconfirmed, withdrawn=counts.withdrawn, private=counts.private,
                          by_channel=ByChannel(online=counts.online, other=counts.other))  # fmt: skip
    return ConsultationDetail(**_consultation_fields(c, now), responses=responses,
                              documents=[document_view(c, d, f) for d, f in documents],
                              audit=[audit_view(e) for e in audit])  # fmt: skip


def created_view(c: Consultation, warnings: list[str], *, now: datetime) -> Created:
    return Created(**_consultation_fields(c, now), warnings=warnings)


def audit_view(e: AuditEntry) -> AuditView:
    return AuditView(
        seq=e.seq, from_stage=Stage(e.from_stage) if e.from_stage else None, to_stage=Stage(e.to_stage),
        trigger=e.trigger, actor=e.actor, at=e.at, reason=e.reason, details=e.details,
    )  # fmt: skip


def response_view(s: Submission) -> ResponseView:
    """What anyone may read: never the e-mail address, nor an anonymous response's name."""
    name, organisation = shown_name(s)
    return ResponseView(
        reference=s.reference, name=name, organisation=organisation, publication=s.publication,
        category=s.category, country=s.country,
        language=s.language, summary=s.summary, answers=s.answers, has_attachment=s.attachment_path is not None,
        received_at=s.received_at,
    )  # fmt: skip


def staff_response_view(s: Submission) -> StaffResponseView:
    public = response_view(s).model_dump() | {"name": s.name, "organisation": s.organisation}
    return StaffResponseView(**public, email=s.email, channel=s.channel, published=s.published,
                             status=status_of(s), version=s.version)  # fmt: skip

"""The JSON API (DESIGN §6). Staff routes take HTTP Basic credentials of a staff user,
or the staff session cookie with the X-CSRF-Token header."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from icalendar import Alarm, Calendar, Event
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlmodel import Session, select

from notifications.effects import advance
from states import Stage, Trigger, deadline_instant
from states.errors import ConsultError
from states.languages import pick
from store import consultations as repo
from store import submissions
from store.decision_file import parse_decision
from store.models import SubmissionCreate
from store.staff import verify_staff
from store.tables import Consultation
from store.views import audit_view, consultation_view
from web.app import session_for, web
from web.security import csrf_ok

router = APIRouter()
basic = HTTPBasic(auto_error=False)
DB = Annotated[Session, Depends(session_for)]


def staff_actor(
    request: Request, session: DB, credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)]
) -> str:
    if credentials is not None:
        user = verify_staff(session=session, name=credentials.username, password=credentials.password)
        if user is None:
            raise HTTPException(401, "wrong staff name or password", headers={"WWW-Authenticate": "Basic"})
        return f"staff:{user.name}"
    name = request.session.get("staff")
    if name and csrf_ok(request, request.headers.get("x-csrf-token")):
        return f"staff:{name}"
    raise HTTPException(401, "staff login required", headers={"WWW-Authenticate": "Basic"})


Staff = Annotated[str, Depends(staff_actor)]


@router.get("/healthz")
def healthz(request: Request, session: DB) -> dict[str, Any]:
    session.exec(select(Consultation.id).limit(1)).first()  # the database answers
    return {"status": "ok", "now": web(request).clock().isoformat()}


@router.get("/api/consultations")
def list_consultations(request: Request, session: DB, stage: str | None = None) -> list[dict[str, Any]]:
    wanted = None
    if stage is not None:
        try:
            wanted = Stage(stage.replace("-", "_"))
        except ValueError:
            raise HTTPException(
                422, f"unknown stage {stage!r}; stages are {', '.join(s.value for s in Stage)}"
            ) from None
    now = web(request).clock()
    return [consultation_view(c, now=now) for c in repo.list_consultations(session=session, stage=wanted)]


@router.post("/api/consultations", status_code=201)
def create_consultation(
    request: Request, session: DB, actor: Staff, decision: Annotated[dict[str, Any], Body()], proposed: bool = False
) -> dict[str, Any]:
    """Start a consultation from a council decision (the decision-file format, as JSON; dates as ISO strings)."""
    from datetime import date, datetime

    raw = dict(decision)
    for key in ("decided_on", "letter_date", "meeting_on"):
        if isinstance(raw.get(key), str):
            raw[key] = _parse(date.fromisoformat, raw[key], key)
    for key in ("opens_at", "deadline"):
        if isinstance(raw.get(key), str):
            text = raw[key]
            raw[key] = _parse(date.fromisoformat if len(text) == 10 else datetime.fromisoformat, text, key)
    settings = web(request).settings
    data = parse_decision(raw, policy=settings.policy, where="decision")
    created = repo.create_consultation(
        session=session, data=data, proposed=proposed, actor=actor, now=web(request).clock(), policy=settings.policy
    )
    session.commit()
    return {**consultation_view(created.consultation, now=web(request).clock()), "warnings": created.warnings}


def _parse(fn, text: str, key: str):
    try:
        return fn(text)
    except ValueError:
        raise ConsultError(f"decision: field {key!r}: {text!r} is not an ISO date") from None


@router.get("/api/consultations/{ref}")
def get_consultation(request: Request, session: DB, ref: str) -> dict[str, Any]:
    c = repo.get(session=session, ref=ref)
    audit = repo.audit_log(session=session, consultation_id=c.id)  # type: ignore[arg-type]
    return {**consultation_view(c, now=web(request).clock()), "audit": [audit_view(e) for e in audit]}


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = None
    letter_number: str | None = None
    meeting_summary: str | None = None
    new_deadline: str | None = None  # a date (end of day in the zone) or an ISO date-time


@router.post("/api/consultations/{ref}/transitions/{trigger}")
def fire_transition(
    request: Request, session: DB, actor: Staff, ref: str, trigger: str, body: TransitionRequest | None = None
) -> dict[str, Any]:
    body = body or TransitionRequest()
    c = repo.get(session=session, ref=ref)
    parsed = Trigger.parse(trigger)
    extra: dict[str, Any] = {k: v for k, v in body.model_dump(exclude={"new_deadline"}).items() if v is not None}
    if body.new_deadline:
        from datetime import date, datetime

        value = body.new_deadline
        when = _parse(date.fromisoformat if len(value) == 10 else datetime.fromisoformat, value, "new_deadline")
        extra["new_deadline"] = deadline_instant(when, c.timezone)
    entry = advance(
        session=session, consultation=c, trigger=parsed, actor=actor, now=web(request).clock(),
        settings=web(request).settings, **extra,
    )  # fmt: skip
    session.commit()
    return {"consultation": consultation_view(c, now=web(request).clock()), "audit": audit_view(entry)}


@router.post("/api/consultations/{ref}/submissions", status_code=201)
async def create_submission(
    request: Request, response: Response, ref: str, payload: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """A stakeholder's response (JSON). 201 once committed; the same response again: 200."""
    context = web(request)
    if not context.submissions_limit.allow(request.client.host if request.client else "?"):
        raise HTTPException(429, "too many submissions from this address; try again in a minute")
    try:
        data = SubmissionCreate.model_validate(payload)
    except ValidationError as exc:
        raise HTTPException(422, [_field_error(e) for e in exc.errors()]) from None
    received = await context.take_response(ref=ref, data=data, now=context.clock(), channel="api")
    if not received.created:
        response.status_code = 200
    return {**submissions.public_view(received.submission), "created": received.created}


def _field_error(error: dict[str, Any]) -> dict[str, Any]:
    field = ".".join(str(p) for p in error["loc"])
    message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"].removeprefix("Value error, ")
    return {"field": field, "message": message}


@router.get("/api/consultations/{ref}/submissions")
def list_submissions(session: DB, ref: str) -> list[dict[str, Any]]:
    c = repo.get(session=session, ref=ref)
    return [submissions.public_view(s) for s in submissions.published(session=session, consultation_id=c.id)]  # type: ignore[arg-type]


@router.get("/api/consultations/{ref}/calendar.ics")
def calendar(session: DB, ref: str, lang: str = "en") -> Response:
    c = repo.get(session=session, ref=ref)
    title = pick(c.title, lang)
    cal = Calendar()
    cal.add("prodid", "-//consult//consultation lifecycle engine//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", title)

    def event(uid: str, summary: str, start, end=None, alarm: bool = False) -> None:
        e = Event()
        e.add("uid", f"{c.slug}-{uid}@consult")
        e.add("summary", f"{summary}: {title}")
        e.add("dtstamp", c.updated_at)
        e.add("dtstart", start)
        if end is not None:
            e.add("dtend", end)
        if alarm:
            a = Alarm()
            a.add("action", "DISPLAY")
            a.add("description", f"{summary}: {title}")
            a.add("trigger", timedelta(days=-1))
            e.add_component(a)
        cal.add_component(e)

    if c.opens_at:
        event("opens", "Submissions open", c.opens_at)
    if c.deadline:
        event("deadline", "Deadline for responses", c.deadline, alarm=True)
    if c.meeting_on:
        event("meeting", f"Meeting ({c.meeting_place or ''})", c.meeting_on)
    return Response(cal.to_ical(), media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{c.slug}.ics"'})  # fmt: skip

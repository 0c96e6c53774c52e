"""The JSON API (DESIGN §6). Staff routes take HTTP Basic credentials of a staff user,
or the staff session cookie with the X-CSRF-Token header. Every answer has a response
model (store/views.py, shared with `--json`), so the OpenAPI schema describes it; errors
are mapped by kind in web/errors.py.

Routes that touch the database are plain `def` (FastAPI runs them in its thread pool), so
the event loop is never blocked; a transition's notices are fanned out to stakeholders in
the background, after the answer (notifications/fanout.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Body, Depends, HTTPException, Query, Request, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from icalendar import Alarm, Calendar, Event
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlmodel import select

from documents.compilation import refresh_files
from states import ConsultError, Stage, Trigger, parse_request
from states.contract import Role
from states.languages import pick
from states.machine import ensure_allowed
from states.table import TRANSITIONS
from store import consultations as repo
from store import documents as archive
from store import lifecycle, submissions
from store.counts import response_counts
from store.decision_file import parse_decision
from store.models import SubmissionCreate, Text
from store.response_search import ResponseFilter, search
from store.staff import find_staff, verify_staff
from store.tables import Consultation
from store.views import (
    ConsultationDetail,
    ConsultationView,
    Created,
    Fired,
    Health,
    Moderated,
    Problem,
    Receipt,
    ResponseView,
    StaffResponses,
    audit_view,
    consultation_view,
    created_view,
    detail_view,
    response_view,
    staff_response_view,
)
from web.access import Identity, ensure_may, identity, refuse
from web.context import DB, fan_out_later, web
from web.security import ARGON2_SLOTS, cross_site, csrf_ok


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    what = {
        400: "Malformed request.",
        401: "Staff credentials required.",
        403: "The staff role does not allow it.",
        404: "No such consultation or response.",
        409: "Not possible in the current state.",
        413: "Request body too large.",
        422: "A field is invalid, or a rule refused it.",
        429: "Too many requests: see Retry-After.",
        503: "The database is busy or the disk full: see Retry-After.",
    }
    return {code: {"model": Problem, "description": what[code]} for code in codes}


# Every status the API may answer is documented (schemathesis checks it, tests/test_api_schema.py).
PUBLIC = _problems(400, 404, 409, 413, 422, 429, 503)
STAFF = _problems(400, 401, 403, 404, 409, 413, 422, 429, 503)
router = APIRouter(responses=PUBLIC)
basic = HTTPBasic(auto_error=False)


def staff_identity(
    request: Request, session: DB, credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)]
) -> Identity:
    """A plain `def`: FastAPI runs it (and argon2's verification) off the event loop.

    HTTP Basic is for non-browser clients: a browser's cross-site request carrying it (a
    form on another site firing a trigger) is refused. Wrong passwords are throttled per
    name and per address before any check; argon2 runs at most twice at once, and a
    client's right credentials are remembered for a minute (by a keyed digest), so a
    script calling the API does not pay 64 MiB and 50 ms per call."""
    if credentials is not None:
        if cross_site(request):
            raise HTTPException(403, "HTTP Basic is for API clients: this request comes from another site")
        context = web(request)
        address = request.client.host if request.client else "?"
        given = credentials.username
        account = find_staff(session=session, name=given)  # a removed user or a new password: no cache hit
        if account is not None and context.basic_cache.get(account.name, credentials.password, account.password_hash):
            return Identity(account.name, Role(account.role))
        wait = context.login_throttle.wait(name=given, address=address)
        if wait:
            raise HTTPException(429, f"too many wrong passwords: try again in {wait} seconds",
                                headers={"Retry-After": str(wait)})  # fmt: skip
        with ARGON2_SLOTS:
            user = verify_staff(session=session, name=given, password=credentials.password)
        if user is None:
            context.login_throttle.failed(name=given, address=address)
            raise HTTPException(401, "wrong staff name or password", headers={"WWW-Authenticate": "Basic"})
        context.login_throttle.succeeded(name=given)
        context.basic_cache.put(user.name, credentials.password, user.password_hash)
        return Identity(user.name, Role(user.role))
    who = identity(request)
    if who is not None and csrf_ok(request, request.headers.get("x-csrf-token")):
        return who
    raise HTTPException(401, "staff login required", headers={"WWW-Authenticate": "Basic"})


class ApiNeeds:
    """An API route's least role (web/access.py): no credentials → 401, too low → 403."""

    def __init__(self, role: Role) -> None:
        self.role = role

    def __call__(self, request: Request, who: Annotated[Identity, Depends(staff_identity)]) -> Identity:
        if not who.may(self.role):
            raise refuse(who, self.role, f"{request.method} {request.url.path}")
        return who


@router.get("/healthz", response_model=Health)
def healthz(request: Request, session: DB) -> Health:
    session.exec(select(Consultation.id).limit(1)).first()  # the database answers
    return Health(status="ok", now=web(request).clock())


@router.get("/api/consultations", response_model=list[ConsultationView])
def list_consultations(request: Request, session: DB, stage: str | None = None) -> list[ConsultationView]:
    wanted = None
    if stage is not None:
        try:
            wanted = Stage(stage.replace("-", "_"))
        except ValueError:
            raise ConsultError(f"unknown stage {stage!r}; stages are {', '.join(s.value for s in Stage)}") from None
    now = web(request).clock()
    return [consultation_view(c, now=now) for c in repo.list_consultations(session=session, stage=wanted)]


@router.post("/api/consultations", status_code=201, response_model=Created, responses=STAFF)
def create_consultation(
    request: Request,
    session: DB,
    who: Annotated[Identity, Depends(ApiNeeds(Role.EDITOR))],
    decision: Annotated[dict[str, Any], Body()],
    proposed: bool = False,
) -> Created:
    """Start a consultation from a council decision (the decision-file format, as JSON; dates as ISO strings)."""
    raw = dict(decision)
    for key in ("decided_on", "letter_date", "meeting_on"):
        if isinstance(raw.get(key), str):
            raw[key] = _parse(date.fromisoformat, raw[key], key)
    for key in ("opens_at", "deadline"):
        if isinstance(raw.get(key), str):
            text = raw[key]
            raw[key] = _parse(date.fromisoformat if len(text) == 10 else datetime.fromisoformat, text, key)
    settings = web(request).settings
    data = parse_decision(raw, policy=settings.policy, where="decision", default_timezone=settings.timezone)
    created = repo.create_consultation(
        session=session,
        data=data,
        proposed=proposed,
        actor=who.actor,
        now=web(request).clock(),
        policy=settings.policy,
    )
    session.commit()
    return created_view(created.consultation, created.warnings, now=web(request).clock())


def _parse(fn, text: str, key: str):
    try:
        return fn(text)
    except ValueError:
        raise ConsultError(f"decision: field {key!r}: {text!r} is not an ISO date") from None


@router.get("/api/consultations/{ref}", response_model=ConsultationDetail)
def get_consultation(request: Request, session: DB, ref: str) -> ConsultationDetail:
    c = repo.get(session=session, ref=ref)
    audit = repo.audit_log(session=session, consultation_id=repo.key(c), public=True)
    counts = response_counts(session.connection(), repo.key(c))
    documents = archive.described(session=session, consultation_id=repo.key(c))
    return detail_view(c, audit, counts, now=web(request).clock(), documents=documents)


def _transition_request() -> type[BaseModel]:
    """The body a transition takes: every parameter of the table's rows, each optional
    here (the row being fired says which it takes and which it needs)."""
    fields: dict[str, Any] = {}
    for row in TRANSITIONS:
        for p in row.params:
            fields.setdefault(p.name, (str | None, Field(default=None, description=f"{row.trigger.dashed}: {p.help}")))
    return create_model("TransitionRequest", __config__=ConfigDict(extra="forbid"), **fields)


TransitionRequest = _transition_request()


@router.post("/api/consultations/{ref}/transitions/{trigger}", response_model=Fired, responses=STAFF)
def fire_transition(
    request: Request, session: DB, who: Annotated[Identity, Depends(ApiNeeds(Role.VIEWER))], ref: str, trigger: str,
    background: BackgroundTasks,
    body: TransitionRequest | None = None,  # type: ignore[valid-type]  # built from the table above
) -> Fired:  # fmt: skip
    context = web(request)
    c = repo.get(session=session, ref=ref)
    parsed = Trigger.parse(trigger)
    row = ensure_allowed(Stage(c.stage), parsed)
    ensure_may(who, row)  # the row says who may fire it
    params = parse_request(row, body.model_dump() if body is not None else {}, timezone=c.timezone)
    fired = lifecycle.fire(
        session=session, consultation=c, trigger=parsed, actor=who.actor, now=context.clock(),
        policy=context.settings.policy, documents=context.documents, request=params,
    )  # fmt: skip
    session.commit()
    if fired.notice is not None:
        fan_out_later(background, context)
    return Fired(consultation=consultation_view(c, now=context.clock()), audit=audit_view(fired.entry))


@router.post(
    "/api/consultations/{ref}/submissions", status_code=201, response_model=Receipt,
    responses={200: {"model": Receipt, "description": "The same response again: already received."}},
)  # fmt: skip
async def create_submission(request: Request, ref: str, payload: Annotated[dict[str, Any], Body()]) -> Response:
    """A stakeholder's response (JSON). 201 once committed; the same response again: 200.
    Async, but never blocking: validation is pure, and the write runs on the writer thread."""
    context = web(request)
    if not context.submissions_limit.allow(request.client.host if request.client else "?"):
        raise HTTPException(429, "too many submissions from this address; try again in a minute")
    try:
        data = SubmissionCreate.model_validate(payload)
    except ValidationError as exc:
        raise HTTPException(422, [_field_error(dict(e)) for e in exc.errors()]) from None
    if not data.answers:  # JSON carries no file: the answers are the contribution (the form may attach one)
        raise HTTPException(422, [{"field": "answers", "message": "answer at least one question"}])
    received = await context.take_response(ref=ref, data=data, now=context.clock(), channel="api")
    s = received.submission
    own = response_view(s).model_dump() | {"name": s.name, "organisation": s.organisation}
    receipt = Receipt(**own, created=received.created, status=submissions.status_of(s),
                      publish_after=received.publish_after)  # fmt: skip
    # Serialized here: returned as a model, FastAPI would dump, validate and dump it again
    # (response_model still documents it).
    return Response(receipt.model_dump_json(), status_code=201 if received.created else 200,
                    media_type="application/json")  # fmt: skip


def _field_error(error: dict[str, Any]) -> dict[str, Any]:
    field = ".".join(str(p) for p in error["loc"])
    message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"].removeprefix("Value error, ")
    return {"field": field, "message": message}


@router.get("/api/consultations/{ref}/submissions", response_model=list[ResponseView])
def list_submissions(session: DB, ref: str) -> list[ResponseView]:
    c = repo.get(session=session, ref=ref)
    return [response_view(s) for s in submissions.published(session=session, consultation_id=repo.key(c))]


@router.get("/api/consultations/{ref}/responses", response_model=StaffResponses, responses=STAFF)
def staff_responses(
    request: Request, session: DB, who: Annotated[Identity, Depends(ApiNeeds(Role.VIEWER))], ref: str,
    before: int | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> StaffResponses:  # fmt: skip
    """Every response, withheld ones too (staff): newest first, filtered like the staff
    table (q, category, country, language, channel, status, attachment), paged by `before`."""
    c = repo.get(session=session, ref=ref)
    wanted = ResponseFilter.of(dict(request.query_params))
    page = search(session=session, consultation_id=repo.key(c), wanted=wanted, before=before, limit=limit)
    return StaffResponses(total=page.total, next_before=page.next_before,
                          responses=[staff_response_view(s) for s in page.rows])  # fmt: skip


class ModerationRequest(Text):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500, description="kept in the audit log")


@router.post("/api/consultations/{ref}/responses/{reference}/{action}", response_model=Moderated, responses=STAFF)
def moderate_response(
    request: Request, session: DB, who: Annotated[Identity, Depends(ApiNeeds(Role.MODERATOR))], ref: str,
    reference: str, action: Literal["withhold", "publish"], body: ModerationRequest,
) -> Moderated:  # fmt: skip
    """Withhold a response from the public pages, or publish it again, for a reason (audited)."""
    c = repo.get(session=session, ref=ref)
    s = submissions.moderate(session=session, consultation=c, reference=reference, publish=action == "publish",
                             reason=body.reason, actor=who.actor, now=web(request).clock())  # fmt: skip
    session.commit()
    settings = web(request).settings  # the written compilation no longer holds what it did
    refresh_files(session.connection(), c, data_dir=settings.data_dir, base_url=settings.mail.base_url)
    entry = submissions.moderation_history(session=session, consultation_id=repo.key(c), reference=reference)[-1]
    return Moderated(reference=s.reference, published=s.published, audit=audit_view(entry))


@router.get(
    "/api/consultations/{ref}/calendar.ics", response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "The consultation's dates (iCalendar)."}},
)  # fmt: skip
def calendar(session: DB, ref: str, lang: str = "en") -> Response:
    c = repo.get(session=session, ref=ref)
    title = " ".join(pick(c.title, lang).split())  # one line: an iCalendar property cannot hold a break
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
        event("meeting", f"Meeting ({' '.join((c.meeting_place or '').split())})", c.meeting_on)
    return Response(cal.to_ical(), media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{c.slug}.ics"'})  # fmt: skip

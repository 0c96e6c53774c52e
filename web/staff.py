"""Staff pages: login, the board with the triggers each stage allows (from the lifecycle
table), starting a consultation from a council decision, extending a deadline, and
withholding or publishing a response. Every form carries a CSRF token."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from notifications.effects import advance
from states import Stage, Trigger, allowed_triggers, deadline_instant
from states.errors import ConsultError
from states.languages import LANGUAGES
from store import consultations as repo
from store import submissions
from store.decision_file import parse_decision
from store.staff import verify_staff
from web.app import session_for, status_for, web
from web.pages import card, render
from web.security import csrf_ok, csrf_token

router = APIRouter(prefix="/staff", include_in_schema=False)
DB = Annotated[Session, Depends(session_for)]
# Triggers the clock fires by itself are not offered as buttons, and extend-deadline has a form of its own.
MANUAL = {Trigger.ISSUE_LETTER, Trigger.DECIDE, Trigger.HOLD_MEETING, Trigger.REPORT, Trigger.CANCEL, Trigger.COMPILE}


def _login_redirect() -> RedirectResponse:
    return RedirectResponse("/staff/login", status_code=303)


async def _checked_form(request: Request) -> dict[str, str] | None:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return values if request.session.get("staff") and csrf_ok(request, values.get("csrf")) else None


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", csrf=csrf_token(request), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, session: DB) -> Response:
    form = await request.form()
    if not csrf_ok(request, str(form.get("csrf", ""))):
        return render(request, "login.html", status=403, csrf=csrf_token(request), error="form expired; try again")
    user = verify_staff(session=session, name=str(form.get("name", "")), password=str(form.get("password", "")))
    if user is None:
        return render(request, "login.html", status=401, csrf=csrf_token(request), error="wrong name or password")
    request.session.clear()
    request.session["staff"] = user.name
    csrf_token(request)
    return RedirectResponse("/staff", status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    if await _checked_form(request) is not None:
        request.session.clear()
    return RedirectResponse("/", status_code=303)


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, session: DB, message: str | None = None) -> Response:
    if not request.session.get("staff"):
        return _login_redirect()
    now = web(request).clock()
    rows = repo.list_consultations(session=session)
    columns = []
    for stage in Stage:
        cards = []
        for c in rows:
            if c.stage == stage.value:
                item = card(c, now)
                item["actions"] = [t for t in allowed_triggers(stage) if t in MANUAL]
                item["extend"] = Trigger.EXTEND_DEADLINE in allowed_triggers(stage)
                item["responses"] = submissions.all_for(session=session, consultation_id=c.id)  # type: ignore[arg-type]
                cards.append(item)
        columns.append((stage, cards))
    return render(request, "staff.html", columns=columns, now=now, csrf=csrf_token(request), message=message)


@router.post("/consultations/{ref}/fire/{trigger}", response_class=HTMLResponse)
async def fire(request: Request, session: DB, ref: str, trigger: str) -> Response:
    values = await _checked_form(request)
    if values is None:
        return _login_redirect()
    c = repo.get(session=session, ref=ref)
    extra: dict[str, Any] = {}
    if values.get("reason"):
        extra["reason"] = values["reason"]
    if values.get("letter_number"):
        extra["letter_number"] = values["letter_number"]
    if values.get("meeting_summary"):
        extra["meeting_summary"] = values["meeting_summary"]
    try:
        parsed = Trigger.parse(trigger)
        if parsed is Trigger.EXTEND_DEADLINE:
            day = values.get("new_deadline", "")
            extra["new_deadline"] = deadline_instant(_date(day, "new deadline"), c.timezone)
        advance(session=session, consultation=c, trigger=parsed, actor=f"staff:{request.session['staff']}",
                now=web(request).clock(), settings=web(request).settings, **extra)  # fmt: skip
        session.commit()
    except ConsultError as exc:
        session.rollback()
        page = dashboard(request, session, message=str(exc))
        page.status_code = status_for(exc)
        return page
    return RedirectResponse("/staff", status_code=303)


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ConsultError(f"{what}: {text!r} is not a date like 2017-08-19") from None


@router.post("/responses/{reference}/{action}", response_class=HTMLResponse)
async def publish(request: Request, session: DB, reference: str, action: str) -> Response:
    if await _checked_form(request) is None:
        return _login_redirect()
    if action not in {"publish", "withhold"}:
        return dashboard(request, session, message=f"unknown action {action!r}")
    submissions.set_published(session=session, reference=reference, published=action == "publish")
    session.commit()
    return RedirectResponse("/staff", status_code=303)


@router.get("/new", response_class=HTMLResponse)
def new_form(request: Request) -> Response:
    if not request.session.get("staff"):
        return _login_redirect()
    return render(request, "new.html", csrf=csrf_token(request), errors=[], values={}, langs=LANGUAGES)


@router.post("/new", response_class=HTMLResponse)
async def new(request: Request, session: DB) -> Response:
    values = await _checked_form(request)
    if values is None:
        return _login_redirect()
    raw: dict[str, Any] = {k: values[k].strip() for k in ("slug", "meeting_place", "contact_name", "contact_email",
                                                          "timezone") if values.get(k, "").strip()}  # fmt: skip
    raw["title"] = {
        lang: values.get(f"title_{lang}", "") for lang in LANGUAGES if values.get(f"title_{lang}", "").strip()
    }
    lines = {
        lang: [q.strip() for q in values.get(f"questions_{lang}", "").splitlines() if q.strip()] for lang in LANGUAGES
    }
    count = max((len(v) for v in lines.values()), default=0)
    raw["questions"] = [{lang: lines[lang][i] for lang in LANGUAGES if i < len(lines[lang])} for i in range(count)]
    settings, now = web(request).settings, web(request).clock()
    try:
        for key in ("decided_on", "letter_date", "deadline", "meeting_on"):
            if values.get(key, "").strip():
                raw[key] = _date(values[key], key.replace("_", " "))
        data = parse_decision(raw, policy=settings.policy, where="decision")
        actor = f"staff:{request.session['staff']}"
        created = repo.create_consultation(
            session=session, data=data, proposed=False, actor=actor, now=now, policy=settings.policy
        )
        session.commit()
    except ConsultError as exc:
        session.rollback()
        return render(request, "new.html", status=422, csrf=csrf_token(request), errors=[str(exc)], values=values,
                      langs=LANGUAGES)  # fmt: skip
    return RedirectResponse(f"/staff?message=created+{created.consultation.slug}", status_code=303)

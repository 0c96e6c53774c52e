"""Staff pages: login, the board with the triggers each stage allows (one form per row of
the lifecycle table the user's role may fire now, its fields the row's parameters),
starting a consultation from a council decision, editing it until the letter, and keying
in a contribution received by e-mail or on paper. Every form carries a CSRF token; every
route names the least role it needs (web/access.py). Responses, mail, the registry and
staff accounts have their own modules (web/staff_*.py).

The handlers read the form on the event loop and do everything else — the database,
argon2, rendering — in the thread pool, so no staff action stalls public requests; a
transition's notices are fanned out after the answer (notifications/fanout.py).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from documents.compilation import refresh_files
from notifications import registry
from states import ConsultError, Stage, Trigger, parse_request
from states.contract import Role
from states.languages import LANGUAGES, untranslated
from states.machine import ensure_allowed
from states.table import offered, staff_rows
from states.timing import local_instant, zone
from store import attachments, heartbeat, lifecycle
from store import consultations as repo
from store.counts import response_counts
from store.decision_file import decision_of, merged, parse_decision
from store.models import ImportedResponse, first_error
from store.staff import end_session, start_session, verify_staff
from store.submissions import ImportedFile, check_answers, import_many
from store.tables import Consultation
from store.vocab import CATEGORIES
from web.access import Editor, Identity, Moderator, Viewer, ensure_may
from web.context import DB, card, checked_form, fan_out_later, render, response_payload, web, writing_session
from web.errors import status_for
from web.security import ARGON2_SLOTS, csrf_ok, csrf_token

router = APIRouter(prefix="/staff", include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", csrf=csrf_token(request), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await request.form()
    if not csrf_ok(request, str(form.get("csrf", ""))):
        return render(request, "login.html", status=403, csrf=csrf_token(request), error="form expired; try again")

    context = web(request)
    given, password = str(form.get("name", "")).replace("\x00", ""), str(form.get("password", ""))
    address = request.client.host if request.client else "?"
    wait = context.login_throttle.wait(name=given, address=address)
    if wait:
        return render(request, "login.html", status=429, csrf=csrf_token(request), headers={"Retry-After": str(wait)},
                      error=f"too many wrong passwords: try again in {wait} seconds")  # fmt: skip

    def check() -> tuple[str, str] | None:  # argon2 costs ~50 ms of CPU and 64 MiB: never on the event loop
        with writing_session(request) as session, ARGON2_SLOTS:
            user = verify_staff(session=session, name=given, password=password)
            if user is None:
                return None
            token = start_session(session=session, user=user, now=context.clock())
            session.commit()
            return user.name, token

    found = await run_in_threadpool(check)
    if found is None:
        context.login_throttle.failed(name=given, address=address)
        return render(request, "login.html", status=401, csrf=csrf_token(request), error="wrong name or password")
    context.login_throttle.succeeded(name=given)
    request.session.clear()
    request.session["staff"], request.session["sid"] = found
    csrf_token(request)
    return RedirectResponse("/staff", status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form()
    if request.session.get("staff") and csrf_ok(request, str(form.get("csrf", ""))):
        token = request.session.get("sid") or ""

        def end() -> None:  # held on the server: a copy of the cookie is worth nothing now
            with writing_session(request) as session:
                end_session(session=session, token=token)
                session.commit()

        await run_in_threadpool(end)
        request.session.clear()
    return RedirectResponse("/", status_code=303)


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, session: DB, who: Viewer, done: str | None = None) -> Response:
    return _board(request, session, who, done=done)


def _board(request: Request, session: Session, who: Identity, *, message: str | None = None,
           done: str | None = None, status: int = 200) -> HTMLResponse:  # fmt: skip
    context = web(request)
    now = context.clock()
    policy = context.settings.policy
    rows = repo.list_consultations(session=session)
    columns = []
    for stage in Stage:
        cards = []
        for c in rows:
            if c.stage == stage.value:
                item = card(c, now)
                facts = repo.facts_of(c, policy=policy)
                # Only what this user's role may fire, and not before its moment; deciding a
                # proposal records the council's decision (a file, or editing it), not a button.
                item["rows"] = [r for r in staff_rows(stage)
                                if not r.creates and who.may_fire(r) and offered(r, facts, now)]  # fmt: skip
                item["counts"] = response_counts(session.connection(), repo.key(c))  # the compilation's own numbers
                item["editable"] = c.stage in repo.BEFORE_LETTER and who.may(Role.EDITOR)
                if stage in (Stage.PROPOSED, Stage.DECIDED):  # who the letter will go to, before it does
                    item["recipients"] = registry.count_reachable(session=session, audience=registry.audience_of(c))
                    item["untranslated"] = untranslated(c.title, c.questions)
                cards.append(item)
        columns.append((stage, cards))
    return render(request, "staff.html", status=status, columns=columns, now=now, csrf=csrf_token(request),
                  message=message, done=done, warnings=context.warnings, who=who, Role=Role,
                  failing=[c for c in rows if c.clock_error], clock_stale=heartbeat.stale(session=session))  # fmt: skip


@router.post("/consultations/{ref}/fire/{trigger}", response_class=HTMLResponse)
async def fire(request: Request, ref: str, trigger: str, background: BackgroundTasks, who: Viewer) -> Response:
    values = await checked_form(request)
    context = web(request)

    def work() -> Response:
        with writing_session(request) as session:
            try:
                c = repo.get(session=session, ref=ref)
                parsed = Trigger.parse(trigger)
                row = ensure_allowed(Stage(c.stage), parsed)
                ensure_may(who, row)  # the table's row says who may fire it
                given = {p.name: values.get(p.name) for p in row.params}
                params = parse_request(row, given, timezone=c.timezone)
                fired = lifecycle.fire(session=session, consultation=c, trigger=parsed, actor=who.actor,
                                       now=context.clock(), policy=context.settings.policy,
                                       documents=context.documents, request=params)  # fmt: skip
                session.commit()
            except ConsultError as exc:
                session.rollback()
                return _board(request, session, who, message=str(exc), status=status_for(exc))
        if fired.notice is not None:
            fan_out_later(background, context)
        return RedirectResponse(f"/staff?done={quote_plus(f'{ref}: {parsed.dashed} done')}", status_code=303)

    return await run_in_threadpool(work)


def _instant_or_date(text: str, what: str) -> date | datetime:
    text = text.strip()
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise ConsultError(f"{what}: {text!r} is not a date like 2017-08-19 (or a date-time like "
                           "2017-08-19T18:00+02:00)") from None  # fmt: skip


FORM_TEXT = ("slug", "meeting_place", "contact_name", "contact_email", "timezone")
FORM_DATES = ("decided_on", "letter_date", "deadline", "meeting_on")


def _decision_from_form(values: dict[str, str]) -> dict[str, Any]:
    """The decision form's fields as a decision file's. Questions are one per line and per
    language, lined up by position (a blank line keeps a question's place in a language
    it lacks); every field of the form is given, an empty one as None (cleared)."""
    raw: dict[str, Any] = {k: (values.get(k) or "").strip() or None for k in FORM_TEXT if k in values}
    if any(f"title_{lang}" in values for lang in LANGUAGES):
        raw["title"] = {lang: values[f"title_{lang}"].strip() for lang in LANGUAGES
                        if values.get(f"title_{lang}", "").strip()}  # fmt: skip
    if any(f"questions_{lang}" in values for lang in LANGUAGES):
        lines = {lang: values.get(f"questions_{lang}", "").rstrip().splitlines() for lang in LANGUAGES}
        count = max((len(v) for v in lines.values()), default=0)
        questions = [{lang: lines[lang][i].strip() for lang in LANGUAGES
                      if i < len(lines[lang]) and lines[lang][i].strip()} for i in range(count)]  # fmt: skip
        raw["questions"] = [q for q in questions if q]
    for key in FORM_DATES:
        if key in values:
            text = values[key].strip()
            raw[key] = _instant_or_date(text, key.replace("_", " ")) if text else None
    return raw


def _form_of(c: Consultation) -> dict[str, str]:
    """A consultation as the decision form's fields, to edit."""
    values = {k: str(getattr(c, k) or "") for k in FORM_TEXT}
    for lang in LANGUAGES:
        values[f"title_{lang}"] = c.title.get(lang, "")
        values[f"questions_{lang}"] = "\n".join(q.get(lang, "") for q in c.questions).rstrip()
    for key in ("decided_on", "letter_date", "meeting_on"):
        values[key] = str(getattr(c, key) or "")
    if c.deadline:
        local = c.deadline.astimezone(zone(c.timezone))
        end_of_day = (local.hour, local.minute, local.second) == (23, 59, 59)
        values["deadline"] = local.date().isoformat() if end_of_day else local.isoformat(timespec="minutes")
    values["version"] = str(c.version)
    return values


def _decision_page(request: Request, *, values: dict[str, str], errors: list[str], editing: Consultation | None = None,
                   status: int = 200) -> HTMLResponse:  # fmt: skip
    return render(request, "new.html", status=status, csrf=csrf_token(request), errors=errors, values=values,
                  langs=LANGUAGES, editing=editing)  # fmt: skip


@router.get("/new", response_class=HTMLResponse)
def new_form(request: Request, who: Editor) -> Response:
    return _decision_page(request, values={}, errors=[])


@router.post("/new", response_class=HTMLResponse)
async def new(request: Request, who: Editor) -> Response:
    values = await checked_form(request)
    settings, now = web(request).settings, web(request).clock()

    def work() -> Response:
        with writing_session(request) as session:
            try:
                raw = {k: v for k, v in _decision_from_form(values).items() if v not in (None, {}, [])}
                data = parse_decision(raw, policy=settings.policy, where="decision", default_timezone=settings.timezone)
                created = repo.create_consultation(
                    session=session, data=data, proposed=False, actor=who.actor, now=now, policy=settings.policy
                )
                session.commit()
            except ConsultError as exc:
                session.rollback()
                return _decision_page(request, values=values, errors=[str(exc)], status=status_for(exc))
        return RedirectResponse(f"/staff?done=created+{created.consultation.slug}", status_code=303)

    return await run_in_threadpool(work)


@router.get("/consultations/{ref}/edit", response_class=HTMLResponse)
def edit_form(request: Request, session: DB, ref: str, who: Editor) -> Response:
    """Until the letter: fix a typo in a question, move a date, add a language."""
    c = repo.get(session=session, ref=ref)
    if c.stage not in repo.BEFORE_LETTER:
        raise repo.ConflictError(f"{c.slug!r} is {c.stage}: after the letter only triggers change it "
                                 "(extend-deadline, cancel)")  # fmt: skip
    return _decision_page(request, values=_form_of(c), errors=[], editing=c)


@router.post("/consultations/{ref}/edit", response_class=HTMLResponse)
async def edit(request: Request, ref: str, who: Editor) -> Response:
    values = await checked_form(request)
    settings, now = web(request).settings, web(request).clock()

    def work() -> Response:
        with writing_session(request) as session:
            c = repo.get(session=session, ref=ref)
            try:
                # Fields the request leaves out keep their value (a script may post one field).
                given = _decision_from_form({**_form_of(c), **values, "slug": c.slug})
                raw = merged(decision_of(c), given)
                data = parse_decision(raw, policy=settings.policy, where="edit", default_timezone=c.timezone)
                version = int(values["version"]) if values.get("version", "").isdigit() else None
                changed = repo.edit_consultation(session=session, consultation=c, data=data, actor=who.actor, now=now,
                                                 policy=settings.policy, version=version)  # fmt: skip
                session.commit()
            except ConsultError as exc:
                session.rollback()
                return _decision_page(request, values=values, errors=[str(exc)], editing=c, status=status_for(exc))
        what = f"{c.slug}: changed {', '.join(changed)}" if changed else f"{c.slug}: nothing changed"
        return RedirectResponse(f"/staff?done={quote_plus(what)}", status_code=303)

    return await run_in_threadpool(work)


def _contribution_page(request: Request, c: Consultation, *, values: dict[str, str], errors: list[str],
                       status: int = 200) -> HTMLResponse:  # fmt: skip
    deadline = c.deadline.astimezone(zone(c.timezone)).strftime("%Y-%m-%d %H:%M %Z") if c.deadline else "—"
    return render(request, "contribution.html", status=status, c=c, values=values, errors=errors,
                  categories=CATEGORIES, csrf=csrf_token(request), deadline=deadline)  # fmt: skip


@router.get("/consultations/{ref}/contributions/new", response_class=HTMLResponse)
def contribution_form(request: Request, session: DB, ref: str, who: Moderator) -> Response:
    """Key in one contribution that came by e-mail or on paper (a file of them: `consult responses import`)."""
    return _contribution_page(request, repo.get(session=session, ref=ref), values={}, errors=[])


@router.post("/consultations/{ref}/contributions", response_class=HTMLResponse)
async def add_contribution(request: Request, ref: str, who: Moderator) -> Response:
    values = await checked_form(request)
    upload = (await request.form()).get("attachment")  # the same form, cached: its file too
    blob = await upload.read(attachments.MAX_BYTES + 1) if isinstance(upload, UploadFile) and upload.filename else None
    file_name = Path(upload.filename).name if isinstance(upload, UploadFile) and upload.filename else ""
    context = web(request)
    now = context.clock()

    def work() -> Response:
        with writing_session(request) as session:
            c = repo.get(session=session, ref=ref)
            try:
                data = _imported(values, c)
                files = {}
                if blob is not None:
                    files[0] = ImportedFile(file_name, attachments.checked(blob), blob)
                check_answers(consultation=c, data=data, attached=bool(files))
                new, _ = import_many(session=session, consultation=c, rows=[data], now=now, files=files,
                                     attachments=context.attachments)  # fmt: skip
                session.commit()
                settings = context.settings
                refresh_files(session.connection(), c, data_dir=settings.data_dir, base_url=settings.mail.base_url)
            except ConsultError as exc:
                session.rollback()
                return _contribution_page(request, c, values=values, errors=[str(exc)], status=status_for(exc))
        what = "added" if new else "already recorded, unchanged"
        return RedirectResponse(f"/staff?done=contribution+from+{quote_plus(data.name)}+{what.replace(' ', '+')}",
                                status_code=303)  # fmt: skip

    return await run_in_threadpool(work)


def _imported(values: dict[str, str], c: Consultation) -> ImportedResponse:
    """The form's fields as an import row: the time received is wall-clock time in the
    consultation's zone (DST gaps and repeats refused, states/timing.py)."""
    raw = values.get("received_at", "").strip()
    try:
        local = datetime.fromisoformat(raw)
    except ValueError:
        raise ConsultError(f"received on: {raw!r} is not a date and time like 2017-12-20T15:12") from None
    received_at = local_instant(local.date(), local.time(), c.timezone)
    try:
        return ImportedResponse.model_validate(
            {**response_payload(values, len(c.questions)), "received_at": received_at}
        )
    except ValidationError as exc:
        raise first_error(exc) from None

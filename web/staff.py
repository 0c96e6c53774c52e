"""Staff pages: login, the board with the triggers each stage allows (one form per row of
the lifecycle table, its fields the row's parameters), starting a consultation from a
council decision, keying in a contribution received by e-mail or on paper, and
withholding or publishing a response. Every form carries a CSRF
token.

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

from notifications import outbox, registry
from notifications.mime import parse
from notifications.notices import PREVIEWABLE, preview, queue_test
from states import ConsultError, Stage, Trigger, parse_request
from states.languages import LANGUAGES
from states.machine import ensure_allowed
from states.table import staff_rows
from states.timing import local_instant, zone
from store import attachments, lifecycle, submissions
from store import consultations as repo
from store.counts import response_counts
from store.decision_file import parse_decision
from store.models import Audience, ImportedResponse, first_error
from store.staff import end_session, start_session, verify_staff
from store.submissions import ImportedFile, check_answers, import_many
from store.tables import Consultation
from store.vocab import CATEGORIES
from web.context import DB, card, fan_out_later, render, web
from web.errors import status_for
from web.security import ARGON2_SLOTS, csrf_ok, csrf_token

router = APIRouter(prefix="/staff", include_in_schema=False)


def _login_redirect() -> RedirectResponse:
    return RedirectResponse("/staff/login", status_code=303)


async def _checked_form(request: Request) -> dict[str, str] | None:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return values if request.session.get("staff") and csrf_ok(request, values.get("csrf")) else None


def _session(request: Request) -> Session:
    return Session(web(request).engine, expire_on_commit=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", csrf=csrf_token(request), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await request.form()
    if not csrf_ok(request, str(form.get("csrf", ""))):
        return render(request, "login.html", status=403, csrf=csrf_token(request), error="form expired; try again")

    context = web(request)
    given, password = str(form.get("name", "")), str(form.get("password", ""))
    address = request.client.host if request.client else "?"
    wait = context.login_throttle.wait(name=given, address=address)
    if wait:
        return render(request, "login.html", status=429, csrf=csrf_token(request), headers={"Retry-After": str(wait)},
                      error=f"too many wrong passwords: try again in {wait} seconds")  # fmt: skip

    def check() -> tuple[str, str] | None:  # argon2 costs ~50 ms of CPU and 64 MiB: never on the event loop
        with _session(request) as session, ARGON2_SLOTS:
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
    if await _checked_form(request) is not None:
        token = request.session.get("sid") or ""

        def end() -> None:  # held on the server: a copy of the cookie is worth nothing now
            with _session(request) as session:
                end_session(session=session, token=token)
                session.commit()

        await run_in_threadpool(end)
        request.session.clear()
    return RedirectResponse("/", status_code=303)


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, session: DB, message: str | None = None, done: str | None = None) -> Response:
    if not request.session.get("staff"):
        return _login_redirect()
    return _board(request, session, message=message, done=done)


def _board(request: Request, session: Session, *, message: str | None = None, done: str | None = None,
           status: int = 200) -> HTMLResponse:  # fmt: skip
    now = web(request).clock()
    rows = repo.list_consultations(session=session)
    columns = []
    for stage in Stage:
        cards = []
        for c in rows:
            if c.stage == stage.value:
                item = card(c, now)
                # Deciding a proposal records the council's decision (a file or the decision form), not a button.
                item["rows"] = [r for r in staff_rows(stage) if not r.creates]
                item["responses"] = submissions.all_for(session=session, consultation_id=repo.key(c))
                item["counts"] = response_counts(session.connection(), repo.key(c))  # the compilation's own numbers
                if stage in (Stage.PROPOSED, Stage.DECIDED):  # who the letter will go to, before it does
                    item["recipients"] = len(registry.reachable(session=session, audience=registry.audience_of(c)))
                cards.append(item)
        columns.append((stage, cards))
    return render(request, "staff.html", status=status, columns=columns, now=now, csrf=csrf_token(request),
                  message=message, done=done, warnings=web(request).warnings)  # fmt: skip


@router.post("/consultations/{ref}/fire/{trigger}", response_class=HTMLResponse)
async def fire(request: Request, ref: str, trigger: str, background: BackgroundTasks) -> Response:
    values = await _checked_form(request)
    if values is None:
        return _login_redirect()
    context = web(request)
    actor = f"staff:{request.session['staff']}"

    def work() -> Response:
        with _session(request) as session:
            try:
                c = repo.get(session=session, ref=ref)
                parsed = Trigger.parse(trigger)
                row = ensure_allowed(Stage(c.stage), parsed)
                given = {p.name: values.get(p.name) for p in row.params}
                params = parse_request(row, given, timezone=c.timezone)
                fired = lifecycle.fire(session=session, consultation=c, trigger=parsed, actor=actor,
                                       now=context.clock(), policy=context.settings.policy,
                                       documents=context.documents, request=params)  # fmt: skip
                session.commit()
            except ConsultError as exc:
                session.rollback()
                return _board(request, session, message=str(exc), status=status_for(exc))
        if fired.notice is not None:
            fan_out_later(background, context)
        return RedirectResponse("/staff", status_code=303)

    return await run_in_threadpool(work)


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ConsultError(f"{what}: {text!r} is not a date like 2017-08-19") from None


@router.post("/responses/{reference}/{action}", response_class=HTMLResponse)
async def publish(request: Request, reference: str, action: str) -> Response:
    if await _checked_form(request) is None:
        return _login_redirect()

    def work() -> Response:
        with _session(request) as session:
            if action not in {"publish", "withhold"}:
                return _board(request, session, message=f"unknown action {action!r}", status=404)
            submissions.set_published(session=session, reference=reference, published=action == "publish")
            session.commit()
        return RedirectResponse("/staff", status_code=303)

    return await run_in_threadpool(work)


@router.get("/new", response_class=HTMLResponse)
def new_form(request: Request) -> Response:
    if not request.session.get("staff"):
        return _login_redirect()
    return render(request, "new.html", csrf=csrf_token(request), errors=[], values={}, langs=LANGUAGES)


@router.post("/new", response_class=HTMLResponse)
async def new(request: Request) -> Response:
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
    actor = f"staff:{request.session['staff']}"

    def work() -> Response:
        with _session(request) as session:
            try:
                for key in ("decided_on", "letter_date", "deadline", "meeting_on"):
                    if values.get(key, "").strip():
                        raw[key] = _date(values[key], key.replace("_", " "))
                data = parse_decision(raw, policy=settings.policy, where="decision", default_timezone=settings.timezone)
                created = repo.create_consultation(
                    session=session, data=data, proposed=False, actor=actor, now=now, policy=settings.policy
                )
                session.commit()
            except ConsultError as exc:
                session.rollback()
                return render(request, "new.html", status=status_for(exc), csrf=csrf_token(request), errors=[str(exc)],
                              values=values, langs=LANGUAGES)  # fmt: skip
        return RedirectResponse(f"/staff?done=created+{created.consultation.slug}", status_code=303)

    return await run_in_threadpool(work)


def _contribution_page(request: Request, c: Consultation, *, values: dict[str, str], errors: list[str],
                       status: int = 200) -> HTMLResponse:  # fmt: skip
    deadline = c.deadline.astimezone(zone(c.timezone)).strftime("%Y-%m-%d %H:%M %Z") if c.deadline else "—"
    return render(request, "contribution.html", status=status, c=c, values=values, errors=errors,
                  categories=CATEGORIES, csrf=csrf_token(request), deadline=deadline)  # fmt: skip


@router.get("/consultations/{ref}/contributions/new", response_class=HTMLResponse)
def contribution_form(request: Request, session: DB, ref: str) -> Response:
    """Key in one contribution that came by e-mail or on paper (a file of them: `consult responses import`)."""
    if not request.session.get("staff"):
        return _login_redirect()
    return _contribution_page(request, repo.get(session=session, ref=ref), values={}, errors=[])


@router.post("/consultations/{ref}/contributions", response_class=HTMLResponse)
async def add_contribution(request: Request, ref: str) -> Response:
    values = await _checked_form(request)
    if values is None:
        return _login_redirect()
    upload = (await request.form()).get("attachment")  # the same form, cached: its file too
    blob = await upload.read(attachments.MAX_BYTES + 1) if isinstance(upload, UploadFile) and upload.filename else None
    file_name = Path(upload.filename).name if isinstance(upload, UploadFile) and upload.filename else ""
    context = web(request)
    now = context.clock()

    def work() -> Response:
        with _session(request) as session:
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
    answers = [{"question": n, "text": values[f"answer_{n}"]} for n in range(1, len(c.questions) + 1)
               if values.get(f"answer_{n}", "").strip()]  # fmt: skip
    fields = {k: values[k] for k in ("name", "organisation", "category", "country", "email", "language", "summary")
              if values.get(k, "").strip()}  # fmt: skip
    try:
        return ImportedResponse.model_validate({**fields, "answers": answers, "received_at": received_at})
    except ValidationError as exc:
        raise first_error(exc) from None


def _mail_page(request: Request, session: Session, c: Consultation, *, message: str | None = None,
               done: str | None = None, status: int = 200) -> HTMLResponse:  # fmt: skip
    key = repo.key(c)
    audience = registry.audience_of(c)
    return render(request, "mail.html", status=status, c=c, csrf=csrf_token(request), message=message, done=done,
                  audience=audience.describe() if audience else "every reachable stakeholder of the registry",
                  chosen=audience or Audience(), categories=CATEGORIES,
                  warnings=web(request).warnings, statuses=[s.value for s in outbox.Status],
                  by_notice=outbox.by_notice(session=session, consultation_id=key),
                  failed=outbox.messages(session=session, consultation_id=key, status="failed", limit=50),
                  superseded=outbox.messages(session=session, consultation_id=key, status="superseded", limit=20),
                  reachable=len(registry.reachable(session=session, audience=audience)),
                  notices=PREVIEWABLE)  # fmt: skip


@router.get("/consultations/{ref}/mail", response_class=HTMLResponse)
def mail_page(request: Request, session: DB, ref: str, done: str | None = None) -> Response:
    """A consultation's outbox: delivery per notice, failures with the SMTP answer, hold and
    resume, retry, previews in every language and a test send."""
    if not request.session.get("staff"):
        return _login_redirect()
    return _mail_page(request, session, repo.get(session=session, ref=ref), done=done)


@router.get("/consultations/{ref}/mail/preview/{notice}", response_class=HTMLResponse)
def mail_preview(request: Request, session: DB, ref: str, notice: str, lang: str = "en") -> Response:
    if not request.session.get("staff"):
        return _login_redirect()
    c = repo.get(session=session, ref=ref)
    wanted = lang if lang in LANGUAGES else "en"
    try:
        _, raw = preview(session=session, consultation=c, notice=notice, lang=wanted, now=web(request).clock(),
                         mail=web(request).settings.mail)  # fmt: skip
    except ConsultError as exc:
        return render(request, "mail_preview.html", status=status_for(exc), c=c, notice=notice, preview_lang=wanted,
                      message=str(exc))  # fmt: skip
    parsed = parse(raw)
    names = ("From", "To", "Reply-To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "Content-Language")
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and html is not None
    return render(request, "mail_preview.html", c=c, notice=notice, preview_lang=wanted, message=None,
                  mail_headers=[(n, str(parsed[n])) for n in names if parsed[n]], text=text.get_content(),
                  html=html.get_content())  # fmt: skip


@router.post("/consultations/{ref}/mail/{action}", response_class=HTMLResponse)
async def mail_action(request: Request, ref: str, action: str) -> Response:
    values = await _checked_form(request)
    if values is None:
        return _login_redirect()
    whole_form = await request.form()  # the same, cached: repeated fields (categories) need it whole
    context = web(request)
    now = context.clock()

    def work() -> Response:
        with _session(request) as session:
            c = repo.get(session=session, ref=ref)
            try:
                if action == "retry":
                    done = f"{outbox.retry_failed(session=session, consultation_id=repo.key(c), now=now)} failed " \
                           "message(s) will be tried again"  # fmt: skip
                elif action == "hold":
                    outbox.hold(session=session, consultation=c, now=now)
                    done = "mail held: nothing of this consultation goes out until resumed"
                elif action == "resume":
                    done = f"mail resumed: {outbox.resume(session=session, consultation=c, now=now)} message(s) waiting"
                elif action == "recipients":
                    chosen = [v for v in whole_form.getlist("category") if isinstance(v, str)]
                    wanted = Audience(categories=tuple(chosen),
                                      countries=tuple(_split(values.get("countries", ""))),
                                      lists=tuple(_split(values.get("lists", ""))))  # fmt: skip
                    repo.set_audience(session=session, consultation=c, audience=wanted, now=now)
                    count = len(registry.reachable(session=session, audience=registry.audience_of(c)))
                    done = f"recipients set: {wanted.describe()} — {count} now"
                elif action == "test":
                    sent = queue_test(session=session, consultation=c, notice=values.get("notice", ""),
                                      lang=values.get("language", "en"), to=values.get("to", ""), now=now,
                                      mail=context.settings.mail)  # fmt: skip
                    done = f"test queued to {sent.recipient_email}: {sent.rendered.subject}"
                else:
                    return _mail_page(request, session, c, message=f"unknown action {action!r}", status=404)
                session.commit()
            except (ConsultError, ValidationError) as exc:
                session.rollback()
                text = str(first_error(exc)) if isinstance(exc, ValidationError) else str(exc)
                return _mail_page(request, session, c, message=text, status=422)
        return RedirectResponse(f"/staff/consultations/{c.slug}/mail?done={quote_plus(done)}", status_code=303)

    return await run_in_threadpool(work)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]

"""Staff mail pages: a consultation's outbox (delivery per notice, failures with the SMTP
answer), hold and resume, retry, the recipients before the letter, previews in every
language and a test send. Reading is for every role; acting is for editors."""

from __future__ import annotations

from urllib.parse import quote_plus

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from notifications import outbox, registry
from notifications.mime import parse
from notifications.notices import PREVIEWABLE, preview, queue_test
from states import ConsultError
from states.contract import Role
from states.languages import LANGUAGES
from store import consultations as repo
from store.models import Audience, first_error
from store.tables import Consultation
from store.vocab import CATEGORIES
from web.access import Editor, Identity, Viewer
from web.context import DB, checked_form, render, web, writing_session
from web.errors import status_for
from web.security import csrf_token

router = APIRouter(prefix="/staff", include_in_schema=False)


def _mail_page(request: Request, session: Session, c: Consultation, who: Identity, *, message: str | None = None,
               done: str | None = None, status: int = 200) -> HTMLResponse:  # fmt: skip
    key = repo.key(c)
    audience = registry.audience_of(c)
    return render(request, "mail.html", status=status, c=c, csrf=csrf_token(request), message=message, done=done,
                  audience=audience.describe() if audience else "every reachable stakeholder of the registry",
                  chosen=audience or Audience(), categories=CATEGORIES,
                  warnings=web(request).warnings, who=who, Role=Role, statuses=[s.value for s in outbox.Status],
                  by_notice=outbox.by_notice(session=session, consultation_id=key),
                  failed=outbox.messages(session=session, consultation_id=key, status="failed", limit=50),
                  superseded=outbox.messages(session=session, consultation_id=key, status="superseded", limit=20),
                  reachable=registry.count_reachable(session=session, audience=audience),
                  notices=PREVIEWABLE)  # fmt: skip


@router.get("/consultations/{ref}/mail", response_class=HTMLResponse)
def mail_page(request: Request, session: DB, ref: str, who: Viewer, done: str | None = None) -> Response:
    """A consultation's outbox: delivery per notice, failures with the SMTP answer, hold and
    resume, retry, previews in every language and a test send."""
    return _mail_page(request, session, repo.get(session=session, ref=ref), who, done=done)


@router.get("/consultations/{ref}/mail/preview/{notice}", response_class=HTMLResponse)
def mail_preview(request: Request, session: DB, ref: str, notice: str, who: Viewer, lang: str = "en") -> Response:
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
async def mail_action(request: Request, ref: str, action: str, who: Editor) -> Response:
    values = await checked_form(request)
    whole_form = await request.form()  # the same, cached: repeated fields (categories) need it whole
    context = web(request)
    now = context.clock()

    def work() -> Response:
        with writing_session(request) as session:
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
                    repo.set_audience(session=session, consultation=c, audience=wanted, now=now, actor=who.actor)
                    count = registry.count_reachable(session=session, audience=registry.audience_of(c))
                    done = f"recipients set: {wanted.describe()} — {count} now"
                elif action == "test":
                    sent = queue_test(session=session, consultation=c, notice=values.get("notice", ""),
                                      lang=values.get("language", "en"), to=values.get("to", ""), now=now,
                                      mail=context.settings.mail)  # fmt: skip
                    done = f"test queued to {sent.recipient_email}: {sent.rendered.subject}"
                else:
                    return _mail_page(request, session, c, who, message=f"unknown action {action!r}", status=404)
                session.commit()
            except (ConsultError, ValidationError) as exc:
                session.rollback()
                text = str(first_error(exc)) if isinstance(exc, ValidationError) else str(exc)
                return _mail_page(request, session, c, who, message=text, status=422)
        return RedirectResponse(f"/staff/consultations/{c.slug}/mail?done={quote_plus(done)}", status_code=303)

    return await run_in_threadpool(work)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]

"""The respondent's private page, reached by the link in the receipt: see the response as
stored, confirm it (so it may be published), amend or withdraw it until the deadline.

Confirming is a button on the page, never the link itself: mail scanners open links
(every "safe links" service does), and a GET that confirmed would confirm for them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from notifications.notices import queue_receipt
from states.errors import ConsultError
from store import respondents, submissions
from store.models import SubmissionCreate
from store.vocab import CATEGORIES
from web import i18n
from web.context import render, response_payload, web, writing_session
from web.errors import status_for

router = APIRouter(include_in_schema=False)
DONE = ("confirmed", "amended", "withdrawn")


def _page(request: Request, held: respondents.Held, *, errors: list[tuple[str, str]] | None = None,
          values: dict[str, str] | None = None, status: int = 200, done: str = "") -> HTMLResponse:  # fmt: skip
    s = held.submission
    stored = {"name": s.name, "organisation": s.organisation or "", "category": s.category, "country": s.country,
              "email": s.email, "language": s.language, "summary": s.summary, "publication": s.publication,
              **{f"answer_{a['question']}": a.get("text", "") for a in s.answers}}  # fmt: skip
    errors = errors or []
    return render(request, "manage.html", status=status, c=held.consultation, s=s, held=held,
                  state=submissions.status_of(s), values=values or stored, errors=errors,
                  invalid=[f for f, _ in errors if f], categories=CATEGORIES, done=done if done in DONE else "",
                  headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})  # fmt: skip


@router.get("/respond/manage/{token}", response_class=HTMLResponse)
def manage_page(request: Request, token: str, done: str = "") -> HTMLResponse:
    context = web(request)
    with writing_session(request) as session:
        held = respondents.by_link(session=session, token=token, now=context.clock(),
                                   expire_days=context.settings.policy.unconfirmed_expire_days)  # fmt: skip
        return _page(request, held, done=done)


@router.post("/respond/manage/{token}", response_class=HTMLResponse)
async def manage(request: Request, token: str) -> Response:
    context = web(request)
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    action = values.get("action", "")
    now, settings = context.clock(), context.settings
    lang = i18n.negotiate(request)
    t = i18n.words(lang)

    def work() -> Response:
        with writing_session(request) as session:
            held = respondents.by_link(session=session, token=token, now=now,
                                       expire_days=settings.policy.unconfirmed_expire_days)  # fmt: skip
            try:
                if action == "confirm":
                    respondents.confirm(session=session, held=held, now=now)
                elif action == "withdraw":
                    respondents.withdraw(session=session, held=held, now=now)
                elif action == "amend":
                    payload = response_payload(values, len(held.consultation.questions))
                    try:
                        data = SubmissionCreate.model_validate({**payload, "email": held.submission.email})
                    except ValidationError as exc:
                        return _page(request, held, errors=i18n.form_errors([dict(e) for e in exc.errors()], lang),
                                     values=values, status=422)  # fmt: skip
                    submissions.check_answers(consultation=held.consultation, data=data,
                                              attached=held.submission.attachment_path is not None)  # fmt: skip
                    before = held.submission.version
                    row = respondents.amend(session=session, held=held, data=data,
                                            digest=submissions.content_hash(data), now=now)  # fmt: skip
                    if row.version != before:
                        queue_receipt(session=session, consultation=held.consultation, submission=row, link=token,
                                      now=now, mail=settings.mail,
                                      expire_days=settings.policy.unconfirmed_expire_days)  # fmt: skip
                else:
                    raise ConsultError(f"no action {action!r}: confirm, amend or withdraw")
                session.commit()
            except submissions.InvalidAnswer:
                session.rollback()
                return _page(request, held, errors=[("answer_1", t["err_answer"])], values=values, status=422)
            except ConsultError as exc:
                session.rollback()
                message = t["manage_closed"] if isinstance(exc, respondents.LinkExpired) else str(exc)
                return _page(request, held, errors=[("", message)], values=values, status=status_for(exc))
        done = {"confirm": "confirmed", "amend": "amended", "withdraw": "withdrawn"}[action]
        return RedirectResponse(f"/respond/manage/{token}?lang={lang}&done={done}", status_code=303)

    return await run_in_threadpool(work)

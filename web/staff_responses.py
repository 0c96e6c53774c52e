"""Staff pages for a consultation's responses: the table (search, filters, paging by id),
invited against responded by category and country, each response in full (withheld ones
too) with its moderation history, withholding and publishing for a reason, and the
exports (CSV with a BOM, XLSX). Reading is for every role; moderating for moderators."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote_plus

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from documents.compilation import refresh_files
from documents.response_export import csv_chunks, write_xlsx
from notifications import registry
from states import ConsultError
from states.contract import Role
from states.errors import NotFound
from states.languages import LANGUAGES
from store import consultations as repo
from store import respondents, submissions
from store.response_search import ATTACHMENT, STATUSES, ResponseFilter, breakdown, search, stream
from store.tables import Consultation
from store.vocab import CATEGORIES
from web.access import Identity, Moderator, Viewer
from web.context import DB, checked_form, render, web, writing_session
from web.errors import status_for
from web.security import csrf_token

router = APIRouter(prefix="/staff/consultations/{ref}/responses", include_in_schema=False)
CHANNELS = ("online", "web", "api", "import")


def _filter(request: Request) -> ResponseFilter:
    return ResponseFilter.of(dict(request.query_params))


@router.get("", response_class=HTMLResponse)
def table(request: Request, session: DB, ref: str, who: Viewer, before: int | None = None,
          done: str | None = None) -> Response:  # fmt: skip
    c = repo.get(session=session, ref=ref)
    wanted = _filter(request)
    page = search(session=session, consultation_id=repo.key(c), wanted=wanted, before=before)
    before_letter = c.stage in repo.BEFORE_LETTER
    invited = (
        registry.count_reachable_by_group(session=session, audience=registry.audience_of(c)) if before_letter else None
    )
    counts = breakdown(session=session, consultation_id=repo.key(c), invited_before_letter=invited)
    return render(request, "staff_responses.html", c=c, page=page, wanted=wanted, counts=counts, who=who, Role=Role,
                  categories=CATEGORIES, languages_all=LANGUAGES, channels=CHANNELS, statuses=STATUSES,
                  attachment_choices=ATTACHMENT, status_of=submissions.status_of, query=wanted.query_string(),
                  done=done, first_page=before is None)  # fmt: skip


def _export_name(c: Consultation, ext: str) -> str:
    return f"{c.slug}-responses.{ext}"


@router.get(".csv")
def export_csv(request: Request, ref: str, who: Viewer) -> Response:
    """Every matching response, streamed: a session of its own for as long as it takes."""
    wanted = _filter(request)
    engine = web(request).engine
    with Session(engine) as session:
        c = repo.get(session=session, ref=ref)

    def body():
        with Session(engine) as session:
            yield from csv_chunks(c, stream(session=session, consultation_id=repo.key(c), wanted=wanted))

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_export_name(c, "csv")}"'},
    )


@router.get(".xlsx")
def export_xlsx(request: Request, ref: str, who: Viewer) -> Response:
    wanted = _filter(request)
    with Session(web(request).engine) as session:
        c = repo.get(session=session, ref=ref)
        fd, name = tempfile.mkstemp(suffix=".xlsx")  # removed once sent
        os.close(fd)
        path = Path(name)
        write_xlsx(c, stream(session=session, consultation_id=repo.key(c), wanted=wanted), path)
    return FileResponse(
        path,
        filename=_export_name(c, "xlsx"),
        background=BackgroundTask(path.unlink),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _response_page(request: Request, session: Session, c: Consultation, reference: str, who: Identity, *,
                   message: str | None = None, status: int = 200) -> HTMLResponse:  # fmt: skip
    s = submissions.by_reference(session=session, consultation_id=repo.key(c), reference=reference)
    if s is None:
        raise NotFound(f"{c.slug}: no response {reference!r}")
    history = submissions.moderation_history(session=session, consultation_id=repo.key(c), reference=reference)
    events = respondents.history(session=session, submission_id=s.id)  # type: ignore[arg-type]
    answers = {int(a["question"]): a.get("text", "") for a in s.answers}
    return render(request, "staff_response.html", status=status, c=c, s=s, history=history, answers=answers,
                  events=events, state=submissions.status_of(s), who=who, Role=Role, csrf=csrf_token(request),
                  message=message)  # fmt: skip


@router.get("/{reference}", response_class=HTMLResponse)
def one(request: Request, session: DB, ref: str, reference: str, who: Viewer) -> Response:
    return _response_page(request, session, repo.get(session=session, ref=ref), reference, who)


@router.post("/{reference}/{action}", response_class=HTMLResponse)
async def moderate(request: Request, ref: str, reference: str, action: str, who: Moderator) -> Response:
    values = await checked_form(request)
    now = web(request).clock()

    def work() -> Response:
        with writing_session(request) as session:
            c = repo.get(session=session, ref=ref)
            if action not in {"publish", "withhold", "approve"}:
                raise NotFound(f"no action {action!r}: withhold, publish or approve")
            try:
                if action == "approve":
                    respondents.approve(session=session, consultation=c, reference=reference, actor=who.actor,
                                        now=now)  # fmt: skip
                else:
                    submissions.moderate(session=session, consultation=c, reference=reference,
                                         publish=action == "publish", reason=values.get("reason", ""),
                                         actor=who.actor, now=now)  # fmt: skip
                session.commit()
            except ConsultError as exc:
                session.rollback()
                return _response_page(request, session, c, reference, who, message=str(exc), status=status_for(exc))
            settings = web(request).settings  # the written compilation no longer holds what it did
            refresh_files(session.connection(), c, data_dir=settings.data_dir, base_url=settings.mail.base_url)
        done = f"{reference} {dict(publish='published', withhold='withheld', approve='approved')[action]}"
        return RedirectResponse(f"/staff/consultations/{c.slug}/responses?done={quote_plus(done)}", status_code=303)

    return await run_in_threadpool(work)

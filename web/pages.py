"""Public pages: the board, a consultation with its timeline, the response form,
published responses, unsubscribe. Every page in the reader's language."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from notifications.registry import opt_out
from states import Stage
from states.errors import ConsultError, NotFound
from store import consultations as repo
from store import submissions
from store.counts import response_counts
from store.models import SubmissionCreate
from store.tables import Consultation
from store.vocab import CATEGORIES
from web import i18n
from web.context import DB, card, render, web
from web.errors import status_for
from web.timeline import svg

router = APIRouter(include_in_schema=False)
MAX_ATTACHMENT = 10 * 1024 * 1024
HAS_COMPILATION = frozenset({Stage.PUBLISHED, Stage.MEETING_HELD, Stage.REPORTED})  # public once published
HAS_REPORT = frozenset({Stage.MEETING_HELD, Stage.REPORTED})


@router.get("/", response_class=HTMLResponse)
def board(request: Request, session: DB) -> HTMLResponse:
    now = web(request).clock()
    rows = repo.list_consultations(session=session)
    columns = [(stage, [card(c, now) for c in rows if c.stage == stage.value]) for stage in Stage]
    return render(request, "board.html", columns=columns, now=now)


@router.get("/consultations/{ref}", response_class=HTMLResponse)
def detail(request: Request, session: DB, ref: str) -> HTMLResponse:
    now = web(request).clock()
    c = repo.get(session=session, ref=ref)
    audit = repo.audit_log(session=session, consultation_id=repo.key(c))
    lang = i18n.negotiate(request)
    picture = svg(c, audit, now=now, labels=i18n.words(lang))
    counts = response_counts(session.connection(), repo.key(c))
    return render(request, "detail.html", x=card(c, now), audit=audit, timeline=picture, now=now,
                  open=submissions.accepting_responses(Stage(c.stage), repo.plan_of(c), now),
                  count=counts.published, has_compilation=c.stage in HAS_COMPILATION,
                  has_report=c.stage in HAS_REPORT)  # fmt: skip


@router.get("/consultations/{ref}/respond", response_class=HTMLResponse)
def respond_form(request: Request, session: DB, ref: str) -> HTMLResponse:
    c = repo.get(session=session, ref=ref)
    now = web(request).clock()
    return render(request, "respond.html", c=c, errors=[], values={}, categories=CATEGORIES,
                  open=submissions.accepting_responses(Stage(c.stage), repo.plan_of(c), now))  # fmt: skip


def _sniff(data: bytes) -> str | None:
    """The attachment's real type from its first bytes, whatever its name says."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04") and b"word/" in data[:65536] and b"[Content_Types].xml" in data[:65536]:
        return "docx"
    return None


@router.post("/consultations/{ref}/respond", response_class=HTMLResponse)
async def respond(request: Request, ref: str) -> HTMLResponse:
    """Async for the upload; the database is read in the thread pool and written on the
    writer thread, so the event loop never waits on it."""
    context = web(request)

    def read() -> Consultation:
        with Session(context.engine) as session:
            return repo.snapshot(session=session, ref=ref)

    c = await run_in_threadpool(read)
    now = context.clock()
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    accepting = submissions.accepting_responses(Stage(c.stage), repo.plan_of(c), now)

    def again(errors: list[str], status: int) -> HTMLResponse:
        return render(request, "respond.html", status=status, c=c, errors=errors, values=values,
                      categories=CATEGORIES, open=accepting)  # fmt: skip

    if not context.submissions_limit.allow(request.client.host if request.client else "?"):
        return again(["too many submissions from this address; try again in a minute"], 429)
    answers = [
        {"question": n, "text": values.get(f"answer_{n}", "")}
        for n in range(1, len(c.questions) + 1)
        if values.get(f"answer_{n}", "").strip()
    ]
    payload = {k: values.get(k) or None for k in ("name", "organisation", "category", "country", "email", "language",
                                                  "summary")}  # fmt: skip
    payload = {k: v for k, v in payload.items() if v is not None}
    try:
        data = SubmissionCreate.model_validate({**payload, "answers": answers})
    except ValidationError as exc:
        return again(
            [f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()], 422
        )
    upload = form.get("attachment")
    stored_name = original = None
    if isinstance(upload, UploadFile) and upload.filename:
        blob = await upload.read(MAX_ATTACHMENT + 1)
        kind = _sniff(blob)
        if len(blob) > MAX_ATTACHMENT:
            return again(["attachment: larger than 10 MB"], 413)
        if kind is None:
            return again(["attachment: not a PDF or DOCX file (checked by its content)"], 422)
        folder: Path = context.attachments
        folder.mkdir(parents=True, exist_ok=True)
        stored_name, original = f"{secrets.token_hex(16)}.{kind}", Path(upload.filename).name[:200]
    try:
        received = await context.take_response(
            ref=ref, data=data, now=now, channel="web", attachment_name=original,
            attachment=(stored_name, blob) if stored_name else None,
        )  # fmt: skip
    except ConsultError as exc:
        return again([str(exc)], status_for(exc))
    return render(request, "received.html", status=201 if received.created else 200, c=c, s=received.submission,
                  created=received.created)  # fmt: skip


@router.get("/consultations/{ref}/responses", response_class=HTMLResponse)
def responses(request: Request, session: DB, ref: str) -> HTMLResponse:
    c = repo.get(session=session, ref=ref)
    rows = submissions.published(session=session, consultation_id=repo.key(c))
    return render(request, "responses.html", c=c, rows=rows)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    return render(request, "unsubscribe.html", token=token, done=False)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(
    request: Request, session: DB, token: str, one_click: Annotated[str | None, Form(alias="List-Unsubscribe")] = None
) -> Response:
    """One-click (RFC 8058) or from the page: either way the address stops receiving mail."""
    opt_out(session=session, token=token, now=web(request).clock())
    session.commit()
    return render(request, "unsubscribe.html", token=token, done=True)


@router.get("/consultations/{ref}/letter")
def letter(request: Request, session: DB, ref: str, format: str = "html") -> Response:
    """The circular letter in the reader's language, as a page or a PDF."""
    from documents.letter import letter_html

    c = repo.get(session=session, ref=ref)
    html = letter_html(c, lang=i18n.negotiate(request), settings=web(request).settings, now=web(request).clock())
    if format == "pdf":
        from documents.pdf import write_pdf

        return Response(write_pdf(html), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{c.slug}-letter.pdf"'})  # fmt: skip
    return HTMLResponse(html)


COMPILATION_TYPES = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8",
                     "json": "application/json"}  # fmt: skip


@router.get("/consultations/{ref}/compilation")
def compilation_file(request: Request, session: DB, ref: str, format: str = "html") -> Response:
    """The compilation, once compiled: spooled to disk as it is written, then streamed."""
    import tempfile

    from fastapi.responses import StreamingResponse

    from documents import compilation

    c = repo.get(session=session, ref=ref)
    if format not in COMPILATION_TYPES:
        raise ConsultError(f"format {format!r}: the compilation is served as {', '.join(COMPILATION_TYPES)}")
    draft_for_staff = c.stage == Stage.COMPILED.value and request.session.get("staff")
    if c.stage not in HAS_COMPILATION and not draft_for_staff:
        raise NotFound(f"{c.slug}: no compilation published yet (stage {c.stage})")
    spool = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+", encoding="utf-8")  # noqa: SIM115 (closed by chunks)
    conn = session.connection()
    if format == "html":
        compilation.write_html(conn, c, spool, lang=i18n.negotiate(request))
    elif format == "csv":
        compilation.write_csv(conn, c, spool)
    else:
        compilation.write_json(conn, c, spool)
    spool.seek(0)

    def chunks():
        with spool:
            while block := spool.read(1 << 16):
                yield block

    return StreamingResponse(chunks(), media_type=COMPILATION_TYPES[format])


@router.get("/consultations/{ref}/report")
def report(request: Request, session: DB, ref: str, format: str = "html") -> Response:
    """The chairman's report, once the meeting is held, as a page, a PDF or a DOCX."""
    from documents.report import build, report_docx, report_html

    c = repo.get(session=session, ref=ref)
    if format not in {"html", "pdf", "docx"}:
        raise ConsultError(f"format {format!r}: the report is served as html, pdf or docx")
    if c.stage not in HAS_REPORT:
        raise NotFound(f"{c.slug}: no report yet (stage {c.stage})")
    built = build(session, c, lang=i18n.negotiate(request), settings=web(request).settings)
    if format == "docx":
        media = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        return Response(report_docx(built), media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{c.slug}-report.docx"'})  # fmt: skip
    html = report_html(built)
    if format == "pdf":
        from documents.pdf import write_pdf

        return Response(write_pdf(html), media_type="application/pdf")
    return HTMLResponse(html)

"""Public pages: the board, a consultation with its timeline, the response form,
published responses, unsubscribe. Every page in the reader's language."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from documents.archive import find
from notifications.registry import opt_out
from states import Document, Stage
from states.errors import ConsultError, NotFound
from store import attachments, submissions
from store import consultations as repo
from store import documents as kept
from store.counts import response_counts
from store.models import SubmissionCreate
from store.tables import ArchivedFile, Consultation
from store.vocab import CATEGORIES
from web import i18n
from web.context import DB, card, render, response_payload, web
from web.errors import status_for
from web.timeline import svg

router = APIRouter(include_in_schema=False)
HAS_COMPILATION = frozenset({Stage.PUBLISHED, Stage.MEETING_HELD, Stage.REPORTED})  # public once published
HAS_REPORT = frozenset({Stage.MEETING_HELD, Stage.REPORTED})


COMING = (Stage.LETTER_ISSUED, Stage.DECIDED)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: DB, q: str = "") -> HTMLResponse:
    """What a visitor wants: what is open now (with its deadline and countdown), what is
    coming, and a search over every consultation's title and letter number."""
    now = web(request).clock()
    rows = repo.list_consultations(session=session)
    open_now = sorted((c for c in rows if c.stage == Stage.OPEN.value), key=lambda c: c.deadline or now)
    coming = sorted((c for c in rows if c.stage in COMING), key=lambda c: c.opens_at or c.deadline or now)
    wanted = " ".join(q.split())[:200].casefold()
    found = [c for c in rows if wanted and _matches(c, wanted)] if wanted else None
    return render(request, "home.html", open_now=[card(c, now) for c in open_now],
                  coming=[card(c, now) for c in coming], q=q[:200], now=now,
                  found=[card(c, now) for c in found] if found is not None else None)  # fmt: skip


def _matches(c: Consultation, wanted: str) -> bool:
    texts = [*c.title.values(), c.slug, c.letter_number or ""]
    return any(wanted in t.casefold() for t in texts)


@router.get("/board", response_class=HTMLResponse)
def board(request: Request, session: DB) -> HTMLResponse:
    """Every consultation by stage, read-only (the staff board, without its actions)."""
    now = web(request).clock()
    rows = repo.list_consultations(session=session)
    columns = [(stage, [card(c, now) for c in rows if c.stage == stage.value]) for stage in Stage]
    return render(request, "board.html", columns=columns, now=now)


@router.get("/consultations/{ref}", response_class=HTMLResponse)
def detail(request: Request, session: DB, ref: str) -> HTMLResponse:
    now = web(request).clock()
    c = repo.get(session=session, ref=ref)
    audit = repo.audit_log(session=session, consultation_id=repo.key(c), public=True)
    lang = i18n.negotiate(request)
    picture = svg(c, audit, now=now, labels=i18n.words(lang))
    counts = response_counts(session.connection(), repo.key(c))
    documents = [(doc, _by_language(files)) for doc, files in kept.described(session=session,
                                                                            consultation_id=repo.key(c))]  # fmt: skip
    return render(request, "detail.html", x=card(c, now), audit=audit, timeline=picture, now=now, documents=documents,
                  open=submissions.accepting_responses(Stage(c.stage), repo.plan_of(c), now),
                  count=counts.published, has_compilation=c.stage in HAS_COMPILATION,
                  has_report=c.stage in HAS_REPORT)  # fmt: skip


def _by_language(files: list[ArchivedFile]) -> list[tuple[str | None, list[ArchivedFile]]]:
    """A document's files grouped by language (as issued), then the language-less ones (CSV, JSON)."""
    groups: dict[str | None, list[ArchivedFile]] = {}
    for f in files:
        groups.setdefault(f.lang, []).append(f)
    return sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))


@router.get("/consultations/{ref}/respond", response_class=HTMLResponse)
def respond_form(request: Request, session: DB, ref: str) -> HTMLResponse:
    c = repo.get(session=session, ref=ref)
    now = web(request).clock()
    return render(request, "respond.html", c=c, errors=[], values={}, categories=CATEGORIES, invalid=[],
                  open=submissions.accepting_responses(Stage(c.stage), repo.plan_of(c), now))  # fmt: skip


@router.post("/consultations/{ref}/respond", response_class=HTMLResponse)
async def respond(request: Request, ref: str) -> HTMLResponse:
    """Async for the upload; the database is read in the thread pool and written on the
    response writers (web/app.py), so the event loop never waits on it."""
    context = web(request)

    def read() -> Consultation:
        with Session(context.engine) as session:
            return repo.snapshot(session=session, ref=ref)

    c = await run_in_threadpool(read)
    now = context.clock()
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    accepting = submissions.accepting_responses(Stage(c.stage), repo.plan_of(c), now)

    lang = i18n.negotiate(request)
    t = i18n.words(lang)

    def again(errors: list[tuple[str, str]], status: int) -> HTMLResponse:
        """The form again, with each error in the reader's language, tied to its field."""
        return render(request, "respond.html", status=status, c=c, errors=errors, values=values,
                      categories=CATEGORIES, open=accepting, invalid=[f for f, _ in errors if f])  # fmt: skip

    if not context.submissions_limit.allow(request.client.host if request.client else "?"):
        return again([("", t["err_rate"])], 429)
    try:
        data = SubmissionCreate.model_validate(response_payload(values, len(c.questions)))
    except ValidationError as exc:
        return again(i18n.form_errors([dict(e) for e in exc.errors()], lang), 422)
    upload = form.get("attachment")
    stored_name = original = None
    if isinstance(upload, UploadFile) and upload.filename:
        blob = await upload.read(attachments.MAX_BYTES + 1)
        try:
            kind = attachments.checked(blob)
        except attachments.BadAttachment:
            too_big = len(blob) > attachments.MAX_BYTES
            return again([("attachment", t["err_file_size" if too_big else "err_file_type"])], 413 if too_big else 422)
        folder: Path = context.attachments
        folder.mkdir(parents=True, exist_ok=True)
        stored_name, original = attachments.stored_name(kind), Path(upload.filename).name[:200]
    try:
        received = await context.take_response(
            ref=ref, data=data, now=now, channel="web", attachment_name=original,
            attachment=(stored_name, blob) if stored_name else None,
        )  # fmt: skip
    except ConsultError as exc:
        return again([_said(exc, t)], status_for(exc))
    return render(request, "received.html", status=201 if received.created else 200, c=c, s=received.submission,
                  created=received.created)  # fmt: skip


def _said(exc: ConsultError, t: dict[str, str]) -> tuple[str, str]:
    """A refusal of the intake in the reader's language (the field it concerns, if any)."""
    if isinstance(exc, submissions.NotAccepting):
        return ("", t["not_open"])
    if isinstance(exc, submissions.AlreadyResponded):
        return ("email", t["err_already"])
    if isinstance(exc, submissions.InvalidAnswer):
        return ("answer_1", t["err_answer"])
    return ("", str(exc))  # anything else: the domain's own line


@router.get("/consultations/{ref}/responses", response_class=HTMLResponse)
def responses(request: Request, session: DB, ref: str) -> HTMLResponse:
    c = repo.get(session=session, ref=ref)
    rows = submissions.published(session=session, consultation_id=repo.key(c))
    return render(request, "responses.html", c=c, rows=rows)


@router.get("/consultations/{ref}/responses/{reference}/attachment")
def attachment(request: Request, session: DB, ref: str, reference: str) -> Response:
    """A contribution's attached file, as sent: public once the response is published,
    and for staff always (moderation reads withheld ones too)."""
    c = repo.get(session=session, ref=ref)
    row = submissions.by_reference(session=session, consultation_id=repo.key(c), reference=reference)
    if row is None or (not submissions.is_public(row) and not request.session.get("staff")):
        raise NotFound(f"{c.slug}: no published response {reference!r}")
    if not row.attachment_path:
        raise NotFound(f"{c.slug}: response {reference} has no attachment")
    kind = Path(row.attachment_path).suffix.lstrip(".")
    path = web(request).attachments / row.attachment_path
    if not path.is_file():
        raise NotFound(f"{c.slug}: the attachment of {reference} is missing from the data folder")
    return FileResponse(path, media_type=attachments.MEDIA_TYPES.get(kind, "application/octet-stream"),
                        filename=attachments.download_name(
                            None if row.publication == "anonymous" else row.attachment_name, reference, kind),
                        headers={"X-Content-Type-Options": "nosniff"})  # fmt: skip


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


def archived(f: ArchivedFile, c: Consultation) -> Response:
    """Archived bytes as issued, with their digest (RFC 9530) so a reader can check them."""
    digest = base64.b64encode(bytes.fromhex(f.sha256)).decode()
    return Response(f.content, media_type=f.media_type, headers={
        "Content-Disposition": f'inline; filename="{c.slug}-{f.name}"', "ETag": f'"{f.sha256}"',
        "Repr-Digest": f"sha-256=:{digest}:", "X-Content-Type-Options": "nosniff",
        "Cache-Control": "public, max-age=86400, immutable",
    })  # fmt: skip


@router.get("/consultations/{ref}/documents/{name}")
def document_file(session: DB, ref: str, name: str) -> Response:
    """Any file of an issued document (`consult show --json` lists them under documents)."""
    c = repo.get(session=session, ref=ref)
    found = kept.file_named(session=session, consultation_id=repo.key(c), name=name)
    if found is None:
        raise NotFound(f"{c.slug}: no issued document file {name!r}")
    return archived(found, c)


@router.get("/consultations/{ref}/letter")
def letter(request: Request, session: DB, ref: str, format: str = "html") -> Response:
    """The circular letter in the reader's language, as a page or a PDF: as issued (the
    archived bytes) once it is, a draft before."""
    from documents.letter import letter_html

    c = repo.get(session=session, ref=ref)
    if format not in {"html", "pdf"}:
        raise ConsultError(f"format {format!r}: the letter is served as html or pdf")
    issued = find(session=session, consultation=c, kind=Document.LETTER, extension=format,
                  lang=i18n.negotiate(request))  # fmt: skip
    if issued is not None:
        return archived(issued, c)
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
    published = find(session=session, consultation=c, kind=Document.COMPILATION, extension=format,
                     lang=i18n.negotiate(request) if format == "html" else None)  # fmt: skip
    if published is not None:
        return archived(published, c)
    spool = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+", encoding="utf-8")  # noqa: SIM115 (closed by chunks)
    conn = session.connection()
    if format == "html":
        compilation.write_html(conn, c, spool, lang=i18n.negotiate(request), base_url="")
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
    if format != "docx":  # the DOCX is for staff to edit further: made afresh each time
        submitted = find(session=session, consultation=c, kind=Document.REPORT, extension=format,
                         lang=i18n.negotiate(request))  # fmt: skip
        if submitted is not None:
            return archived(submitted, c)
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

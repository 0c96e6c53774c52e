"""What each issued document is made of, rendered at the moment it is issued, inside the
transition's transaction (store/lifecycle.py keeps it): the letter and each addendum in
every language the consultation is written in, HTML and PDF; the published compilation
as HTML in those languages, CSV and JSON; the chairman's report as HTML and PDF.

From then on the archived bytes are what the CLI and the web serve: a document already
sent never changes because the consultation did (an extension issues an addendum).
PDFs are rendered from the very HTML archived beside them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from config import Settings
from states import Document
from states.languages import LANGUAGES
from store import documents as kept
from store.consultations import key
from store.documents import File
from store.tables import ArchivedFile, Consultation

HTML = "text/html; charset=utf-8"
PDF = "application/pdf"


def issued_languages(c: Consultation) -> list[str]:
    """The languages the consultation is written in (its title's), in the organisation's
    order; the documents are issued in each of them."""
    return [lang for lang in LANGUAGES if lang in c.title] or ["en"]


def file_name(kind: Document, seq: int, lang: str | None, extension: str) -> str:
    stem = f"{kind.value}-{seq}" if kind is Document.ADDENDUM else kind.value
    return f"{stem}.{lang}.{extension}" if lang else f"{stem}.{extension}"


def find(
    *, session: Session, consultation: Consultation, kind: Document, extension: str, lang: str | None = None,
    seq: int = 1,
) -> ArchivedFile | None:  # fmt: skip
    """The archived file of an issued document: in `lang` if it was issued in it, else in
    English, else in its first language; None while the document is not issued."""
    doc = kept.issued(session=session, consultation_id=key(consultation), kind=kind, seq=seq)
    if doc is None:
        return None
    wanted = [lang, "en", *doc.languages] if lang else [None]
    for choice in wanted:
        if choice is None or choice in doc.languages:
            found = kept.file_named(session=session, consultation_id=key(consultation),
                                    name=file_name(kind, seq, choice, extension))  # fmt: skip
            if found is not None:
                return found
    return None


@dataclass(frozen=True, slots=True)
class Renderer:
    """The store's `Renderer`: built once from the settings, passed to the lifecycle service."""

    settings: Settings

    def __call__(
        self, *, session: Session, consultation: Consultation, kind: Document, seq: int, now: datetime
    ) -> list[File]:
        c, settings = consultation, self.settings
        if kind is Document.COMPILATION:
            return _compilation(session, c, settings)
        files: list[File] = []
        for lang in issued_languages(c):
            html = _html(session, c, kind=kind, seq=seq, lang=lang, settings=settings, now=now)
            files.append(File(file_name(kind, seq, lang, "html"), lang, HTML, html.encode()))
            files.append(File(file_name(kind, seq, lang, "pdf"), lang, PDF, _pdf(html)))
        return files


def _html(session: Session, c: Consultation, *, kind: Document, seq: int, lang: str, settings: Settings,
          now: datetime) -> str:  # fmt: skip
    from documents import letter, report

    if kind is Document.LETTER:
        return letter.letter_html(c, lang=lang, settings=settings, now=now)
    if kind is Document.ADDENDUM:
        return letter.addendum_html(c, seq=seq, lang=lang, settings=settings, now=now)
    return report.report_html(report.build(session, c, lang=lang, settings=settings))


def _pdf(html: str) -> bytes:
    from documents.pdf import write_pdf

    return write_pdf(html)


def _compilation(session: Session, c: Consultation, settings: Settings) -> list[File]:
    """The compilation as published. Held in memory while it is archived: fine for the
    thousands of contributions a council consultation draws (see BENCHMARKS.md)."""
    from documents import compilation

    conn, base = session.connection(), settings.mail.base_url
    files = []
    for lang in issued_languages(c):
        html = compilation.html_string(conn, c, lang=lang, base_url=base)
        files.append(File(file_name(Document.COMPILATION, 1, lang, "html"), lang, HTML, html.encode()))
    for extension, media_type, write in (("csv", "text/csv; charset=utf-8", compilation.write_csv),
                                         ("json", "application/json", compilation.write_json)):  # fmt: skip
        buffer = io.StringIO(newline="")
        write(conn, c, buffer)
        files.append(File(file_name(Document.COMPILATION, 1, None, extension), None, media_type,
                          buffer.getvalue().encode()))  # fmt: skip
    return files

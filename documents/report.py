"""The meeting summary and the chairman's report to council, modelled on the reference
report (shared/reference/): summary, action required, references, introduction,
activities with dates and counts of responses by category, conclusions, and an annex
with the meeting summary. HTML and PDF for reading, DOCX for staff to edit further."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from config import Settings
from documents.wording import Words, environment, letter_date
from states.errors import ConsultError
from states.languages import RTL_LANGUAGES, pick
from states.timing import local_date
from store.consultations import key
from store.counts import response_counts
from store.tables import Consultation
from store.vocab import CATEGORIES


@dataclass(frozen=True)
class Report:
    lang: str
    heading: str
    title: str
    sections: Sequence[tuple[str, Sequence[str]]]  # (heading, paragraphs)
    counts: Sequence[tuple[str, int]]  # (category label, responses), total last
    annex_heading: str
    annex: str
    signature: list[str]


def build(session: Session, c: Consultation, *, lang: str, settings: Settings) -> Report:
    if not c.meeting_summary:
        raise ConsultError(f"{c.slug!r}: the report needs the meeting summary (record it with hold-meeting)")
    w, org = Words(lang), settings.organisation
    title, group = pick(c.title, lang), org.text("group", lang)
    tally = response_counts(session.connection(), key(c))  # the compilation's own numbers: published only
    counts, total = tally.published_by_category, tally.published
    day = lambda d: letter_date(d, lang) if d else "—"  # noqa: E731
    opened = day(local_date(c.opens_at, c.timezone) if c.opens_at else None)
    deadline = day(local_date(c.deadline, c.timezone) if c.deadline else None)
    values = {"title": title, "count": total, "online": tally.published_online,
              "other": total - tally.published_online, "opened": opened, "deadline": deadline,
              "meeting_date": day(c.meeting_on), "meeting_place": c.meeting_place or "",
              "decided_on": day(c.decided_on), "letter": c.letter_number or "",
              "letter_date": day(c.letter_issued_on or c.letter_date)}  # fmt: skip
    sections: list[tuple[str, Sequence[str]]] = [
        (w("report_summary"), [w("report_summary_text", **values)]),
        (w("action"), [w("action_text")]),
        (w("references"), [org.text("references", lang)]),
        (w("introduction"), [w("introduction_text", **values)]),
        (w("activities"), [w("activities_text", **values)]),
    ]
    table = [(w(f"category_{cat}"), counts.get(cat, 0)) for cat in CATEGORIES] + [(w("total"), total)]
    return Report(
        lang=lang, heading=w("report_title", group=group), title=title,
        sections=[*sections, ("", [w("meeting_text", **values)]), (w("conclusions"), [w("conclusions_text")])],
        counts=table, annex_heading=w("annex"), annex=c.meeting_summary,
        signature=[w("chairman"), org.text("chairman", lang)],
    )  # fmt: skip


def report_html(report: Report) -> str:
    return environment().get_template("report.html").render(r=report, lang=report.lang)


def report_docx(report: Report) -> bytes:
    """A Word document staff can edit further, right-to-left for Arabic."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement

    doc = Document()
    rtl = report.lang in RTL_LANGUAGES

    def paragraph(text: str, style: str | None = None) -> None:
        p = doc.add_paragraph(str(text), style=style)
        if rtl:
            p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            p._p.get_or_add_pPr().append(OxmlElement("w:bidi"))  # right-to-left paragraph

    doc.add_heading(str(report.heading), level=0)
    paragraph(report.title, "Subtitle")
    for heading, paragraphs in report.sections:
        if heading:
            doc.add_heading(str(heading), level=1)
        for text in paragraphs:
            paragraph(text)
        if heading == report.sections[4][0]:  # the counts go with the activities
            table = doc.add_table(rows=0, cols=2)
            for label, n in report.counts:
                cells = table.add_row().cells
                cells[0].text, cells[1].text = str(label), str(n)
    for line in report.signature:
        paragraph(line)
    doc.add_page_break()
    doc.add_heading(str(report.annex_heading), level=1)
    for line in report.annex.splitlines():
        paragraph(line)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()

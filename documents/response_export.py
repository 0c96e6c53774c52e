"""Staff exports of a consultation's responses — everything, withheld ones included —
as CSV and XLSX, written row by row from a stream of rows (100,000 responses never sit
in memory at once).

The CSV starts with a UTF-8 byte-order mark: without it Excel reads UTF-8 as the
machine's ANSI code page and Arabic, Chinese and Russian come out garbled. CSV cells a
spreadsheet would run as formulas are neutralised (documents/compilation.py); XLSX cells
are typed as strings, which Excel never runs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import xlsxwriter  # type: ignore[import-untyped]

from documents.compilation import safe_cell
from states.languages import pick
from states.timing import zone
from store.submissions import status_of
from store.tables import Consultation, Submission

BOM = "\ufeff"


def header(c: Consultation) -> list[str]:
    questions = [f"Q{n}: {pick(q, 'en')}"[:120] for n, q in enumerate(c.questions, start=1)]
    return ["reference", "received (UTC)", f"received ({c.timezone})", "name", "organisation", "category", "country",
            "e-mail", "language", "channel", "status", "publication", "version", "attachment", "summary",
            *questions]  # fmt: skip


def row(c: Consultation, s: Submission) -> list[str]:
    answers = {int(a["question"]): a.get("text", "") for a in s.answers}
    local = s.received_at.astimezone(zone(c.timezone)).strftime("%Y-%m-%d %H:%M:%S")
    return [s.reference, _utc(s.received_at), local, s.name, s.organisation or "", s.category, s.country, s.email,
            s.language, s.channel, status_of(s), s.publication, str(s.version), s.attachment_name or "", s.summary,
            *(answers.get(n, "") for n in range(1, len(c.questions) + 1))]  # fmt: skip


def _utc(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_chunks(c: Consultation, rows: Iterable[Submission], every: int = 500) -> Iterator[bytes]:
    """The CSV as UTF-8 byte chunks (with the BOM first), for a streamed download."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(BOM)
    writer.writerow(header(c))
    for n, s in enumerate(rows, start=1):
        writer.writerow([safe_cell(v) for v in row(c, s)])
        if n % every == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def write_xlsx(c: Consultation, rows: Iterable[Submission], path: Path) -> None:
    """One sheet, a header row, frozen panes; written in constant memory (XlsxWriter
    flushes each row as it goes, so rows must come in order — they do)."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                           "strings_to_urls": False})  # fmt: skip
    sheet = book.add_worksheet("responses")
    bold = book.add_format({"bold": True})
    sheet.freeze_panes(1, 0)
    for col, name in enumerate(header(c)):
        sheet.write_string(0, col, name, bold)
    for r, s in enumerate(rows, start=1):
        for col, value in enumerate(row(c, s)):
            sheet.write_string(r, col, value[:32767])  # a string cell is never run; 32,767 is Excel's limit
    book.close()

"""The compilation of all published responses, written as a stream: rows come from a
server-side cursor in batches and go straight to the output, so memory does not grow
with the number of responses (bench/). Contribution numbers are stable: the rank of each
response in the order received."""

from __future__ import annotations

import csv
import io
import json
import secrets
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, case, func, select

from documents.wording import Words, environment, letter_date
from states.languages import pick
from states.timing import local_date
from store.consultations import key
from store.counts import response_counts
from store.submissions import public
from store.tables import Consultation, Submission

BATCH = 1000
S = Submission.__table__.c  # type: ignore[attr-defined]
NUMBER = func.row_number().over(order_by=(S.received_at, S.id)).label("n")
_ANONYMOUS = S.publication == "anonymous"  # the respondent asked: no name, no organisation
COLUMNS = (S.reference, case((_ANONYMOUS, None), else_=S.name).label("name"),
           case((_ANONYMOUS, None), else_=S.organisation).label("organisation"), S.category, S.country, S.language,
           S.summary, S.answers, S.received_at, S.attachment_name, S.attachment_path)  # fmt: skip


class Meter:
    """Rows written out of all the passes a compilation makes over its responses (HTML reads
    them once for the index, once for the summaries and once per question): a progress
    line for a million responses that takes minutes."""

    def __init__(self, total: int, report: Callable[[int, int], None]) -> None:
        self.total, self.done, self.report = total, 0, report

    def add(self, rows: int) -> None:
        self.done += rows
        self.report(self.done, self.total)


def passes(c: Consultation) -> int:
    """How many times write_files reads the responses: CSV, JSON, and each HTML's passes."""
    return 2 + len(c.title) * (2 + len(c.questions))


def _rows(conn: Connection, consultation_id: int, *, order: tuple = (), meter: Meter | None = None) -> Iterator[Any]:
    """The public responses (store.submissions.public), each as last amended."""
    numbered = select(NUMBER, *COLUMNS).where(S.consultation_id == consultation_id, public(S)).subquery()
    query = select(numbered).order_by(*(numbered.c[k] for k in order), numbered.c.n)
    # Per statement: `Connection.execution_options` would switch the caller's whole
    # connection to server-side cursors (PostgreSQL then refuses its next UPDATE).
    result = conn.execute(query, execution_options={"stream_results": True, "yield_per": BATCH})
    if meter is None:
        yield from result
        return
    n = 0
    for n, row in enumerate(result, start=1):
        yield row
        if n % BATCH == 0:
            meter.add(BATCH)
    meter.add(n % BATCH)


def count(conn: Connection, consultation_id: int) -> int:
    """The contributions the compilation holds: the published ones (store/counts.py)."""
    return response_counts(conn, consultation_id).published


def _answer(row: Any, question: int) -> str | None:
    for a in row.answers:
        if a.get("question") == question:
            return a.get("text")
    return None


def bundled_name(row: Any) -> str | None:
    """The attachment's name in the ZIP (and in the CSV and JSON that point to it)."""
    if not row.attachment_path:
        return None
    return f"{row.n:05d}-{row.reference}{Path(row.attachment_path).suffix}"


def write_html(
    conn: Connection, c: Consultation, out: IO[str], *, lang: str, base_url: str | None = None,
    meter: Meter | None = None,
) -> None:  # fmt: skip
    """`base_url` links each attachment to the web ("" for links relative to the site)."""
    head, sections, tail = _html_sections(conn, c, lang=lang, base_url=base_url, meter=meter)
    out.write(head)
    for opening, _, entries, closing in sections:
        out.write(opening)
        for entry in entries:
            out.write(entry)
        out.write(closing)
    out.write(tail)


Section = tuple[str, str, Iterator[str], str]  # (its heading and opening, a part's opening when it goes
# on from the part before, its entries, its closing)


def _html_sections(
    conn: Connection, c: Consultation, *, lang: str, base_url: str | None, meter: Meter | None = None,
    cover: bool = True,
) -> tuple[str, list[Section], str]:  # fmt: skip
    """The compilation's HTML as its head (with the cover page, or without), its sections
    (the index; each contribution's own summary; the answers to each question) with their
    entries streamed, and its tail."""
    env, w = environment(), Words(lang)
    title = pick(c.title, lang)
    deadline = letter_date(local_date(c.deadline, c.timezone), lang) if c.deadline else ""
    macros: Any = env.get_template("compilation.html").module  # the template's macros, by name
    head = macros.head(lang=lang, title=title, w=w, number=c.letter_number or "", cover=cover,
                       received=w("received", count=count(conn, key(c)), deadline=deadline))  # fmt: skip

    def index() -> Iterator[str]:
        for row in _rows(conn, key(c), order=("category", "country"), meter=meter):
            yield macros.index_row(row=row, w=w)

    def summaries() -> Iterator[str]:
        for row in _rows(conn, key(c), meter=meter):
            link = None if base_url is None or not row.attachment_path else (
                f"{base_url}/consultations/{c.slug}/responses/{row.reference}/attachment")  # fmt: skip
            yield macros.summary(row=row, w=w, link=link)

    def answers(n: int) -> Iterator[str]:
        for row in _rows(conn, key(c), meter=meter):
            text = _answer(row, n)
            if text:
                yield macros.answer(row=row, w=w, text=text)

    sections: list[Section] = [(macros.index_open(w=w), macros.index_open(w=w, heading=False), index(),
                                macros.index_close()), (macros.summaries_open(w=w), "", summaries(), "")]  # fmt: skip
    for n, question in enumerate(c.questions, start=1):
        sections.append((macros.question(w=w, n=n, text=pick(question, lang)), "", answers(n), ""))
    return head, sections, macros.tail()


PART = 1000  # entries per printed part: WeasyPrint's layout of a part, not of the whole, is in memory


def html_parts(conn: Connection, c: Consultation, *, lang: str, base_url: str | None = None,
               size: int = PART) -> Iterator[str]:  # fmt: skip
    """The compilation as whole HTML documents of at most `size` entries each, in order,
    each a whole document, a section's heading in its first: WeasyPrint lays a document out in
    memory whole (272 MB for 1,000 contributions, growing with each), so a PDF of 10,000
    is printed a part at a time and the parts joined (documents/pdf.py write_pdf_parts).
    Each part starts on a new page."""
    first, sections, tail = _html_sections(conn, c, lang=lang, base_url=base_url)
    head = _html_sections(conn, c, lang=lang, base_url=base_url, cover=False)[0]  # the cover once, first
    parts = 0

    def part(opening: str, batch: list[str], closing: str) -> str:
        # str(): the macros give Markup, and Markup + str would escape the str
        return "".join(str(piece) for piece in (head if parts else first, opening, *batch, closing, tail))

    for opening, going_on, entries, closing in sections:
        batch: list[str] = []
        printed = False
        for entry in entries:
            batch.append(entry)
            if len(batch) == size:
                yield part(going_on if printed else opening, batch, closing)
                batch, printed, parts = [], True, parts + 1
        if batch or not printed:
            yield part(going_on if printed else opening, batch, closing)
            parts += 1


CSV_HEAD = ["contribution", "reference", "name", "organisation", "category", "country", "language", "received_at",
            "summary", "attachment", "attachment_file"]  # fmt: skip


def safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is
    written with a leading apostrophe: shown as typed, never evaluated (OWASP)."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


FORMULA_STARTS = frozenset("=+-@\t\r")


def write_csv(conn: Connection, c: Consultation, out: IO[str], *, meter: Meter | None = None) -> None:
    """UTF-8 with a byte-order mark: without it Excel reads Arabic and Chinese as cp1252.
    An anonymous contribution has an empty name and organisation."""
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_HEAD + [f"answer_{n}" for n in range(1, len(c.questions) + 1)])
    for row in _rows(conn, key(c), meter=meter):
        cells = (row.n, row.reference, row.name, row.organisation or "", row.category, row.country, row.language,
                 _iso(row.received_at), row.summary, row.attachment_name or "", bundled_name(row) or "",
                 *[_answer(row, n) or "" for n in range(1, len(c.questions) + 1)])  # fmt: skip
        writer.writerow([safe_cell(v) for v in cells])


def write_json(conn: Connection, c: Consultation, out: IO[str], *, meter: Meter | None = None) -> None:
    head = {"consultation": c.slug, "letter_number": c.letter_number, "title": c.title, "questions": c.questions}
    out.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "responses": [\n')
    for i, row in enumerate(_rows(conn, key(c), meter=meter)):
        item = {"contribution": row.n, "reference": row.reference, "name": row.name, "organisation": row.organisation,
                "anonymous": row.name is None,
                "category": row.category, "country": row.country, "language": row.language,
                "received_at": _iso(row.received_at), "summary": row.summary, "answers": row.answers,
                "attachment": {"name": row.attachment_name, "file": bundled_name(row)} if row.attachment_path
                else None}  # fmt: skip
        out.write(("," if i else "") + json.dumps(item, ensure_ascii=False) + "\n")
    out.write("]}\n")


def write_zip(conn: Connection, c: Consultation, target: Path, *, attachments: Path) -> int:
    """The attachments, named by contribution number and reference."""
    written = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for row in _rows(conn, key(c)):
            name = bundled_name(row)
            if name:
                archive.write(attachments / row.attachment_path, name)
                written += 1
    return written


def html_string(conn: Connection, c: Consultation, *, lang: str, base_url: str | None = None) -> str:
    buffer = io.StringIO()
    write_html(conn, c, buffer, lang=lang, base_url=base_url)
    return buffer.getvalue()


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def files_folder(data_dir: Path, c: Consultation) -> Path:
    return data_dir / "compilations" / c.slug


def write_files(
    conn: Connection, c: Consultation, *, data_dir: Path, base_url: str | None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:  # fmt: skip
    """The compilation as files in data/compilations/<slug>/ (HTML in each language it has
    a title in, CSV and JSON), each written to a temporary name and renamed over the old:
    a reader never sees half a file. Written when the consultation is compiled, and again
    whenever what they hold changes (a response withheld, published or imported).
    `progress(rows written, rows to write)`, over all the files."""
    folder = files_folder(data_dir, c)
    folder.mkdir(parents=True, exist_ok=True)
    meter = Meter(count(conn, key(c)) * passes(c), progress) if progress else None
    if meter:
        meter.add(0)
    targets: list[tuple[str, Any]] = [("compilation.csv", lambda f: write_csv(conn, c, f, meter=meter)),
                                      ("compilation.json", lambda f: write_json(conn, c, f, meter=meter))]  # fmt: skip
    for lang in c.title:
        targets.append((f"compilation.{lang}.html", lambda f, lang=lang: write_html(
            conn, c, f, lang=lang, base_url=base_url, meter=meter)))  # fmt: skip
    for name, write in targets:
        partial = folder / f".{name}.{secrets.token_hex(4)}.partial"  # two writers at once never share one
        with partial.open("w", encoding="utf-8", newline="") as f:
            write(f)
        partial.replace(folder / name)
    (folder / COMPLETE).touch()  # last: a folder without it was cut short, and is written again
    return folder


COMPLETE = ".complete"


def files_complete(data_dir: Path, c: Consultation) -> bool:
    """Whether the compilation's files were all written (the clock re-writes them if not:
    a run that died after committing the compilation left none, or half)."""
    return (files_folder(data_dir, c) / COMPLETE).exists()


def refresh_files(conn: Connection, c: Consultation, *, data_dir: Path, base_url: str | None) -> bool:
    """After a committed change to what written files hold (a response withheld, published,
    imported): write them again, if the consultation has any. True if it did."""
    if not files_folder(data_dir, c).exists():
        return False
    write_files(conn, c, data_dir=data_dir, base_url=base_url)
    return True

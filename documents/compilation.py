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
from collections.abc import Iterator
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


def _rows(conn: Connection, consultation_id: int, *, order: tuple = ()) -> Iterator[Any]:
    """The public responses (store.submissions.public), each as last amended."""
    numbered = select(NUMBER, *COLUMNS).where(S.consultation_id == consultation_id, public(S)).subquery()
    query = select(numbered).order_by(*(numbered.c[k] for k in order), numbered.c.n)
    # Per statement: `Connection.execution_options` would switch the caller's whole
    # connection to server-side cursors (PostgreSQL then refuses its next UPDATE).
    result = conn.execute(query, execution_options={"stream_results": True, "yield_per": BATCH})
    yield from result


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


def write_html(conn: Connection, c: Consultation, out: IO[str], *, lang: str, base_url: str | None = None) -> None:
    """`base_url` links each attachment to the web ("" for links relative to the site)."""
    env, w = environment(), Words(lang)
    title = pick(c.title, lang)
    deadline = letter_date(local_date(c.deadline, c.timezone), lang) if c.deadline else ""
    macros: Any = env.get_template("compilation.html").module  # the template's macros, by name
    out.write(macros.head(lang=lang, title=title, w=w, number=c.letter_number or "",
                          received=w("received", count=count(conn, key(c)), deadline=deadline)))  # fmt: skip
    out.write(macros.index_open(w=w))
    for row in _rows(conn, key(c), order=("category", "country")):
        out.write(macros.index_row(row=row, w=w))
    out.write(macros.index_close())
    out.write(macros.summaries_open(w=w))  # each contribution's own summary, then the answers by question
    for row in _rows(conn, key(c)):
        link = None if base_url is None or not row.attachment_path else (
            f"{base_url}/consultations/{c.slug}/responses/{row.reference}/attachment")  # fmt: skip
        out.write(macros.summary(row=row, w=w, link=link))
    for n, question in enumerate(c.questions, start=1):
        out.write(macros.question(w=w, n=n, text=pick(question, lang)))
        for row in _rows(conn, key(c)):
            text = _answer(row, n)
            if text:
                out.write(macros.answer(row=row, w=w, text=text))
    out.write(macros.tail())


CSV_HEAD = ["contribution", "reference", "name", "organisation", "category", "country", "language", "received_at",
            "summary", "attachment", "attachment_file"]  # fmt: skip


def safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is
    written with a leading apostrophe: shown as typed, never evaluated (OWASP)."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


FORMULA_STARTS = frozenset("=+-@\t\r")


def write_csv(conn: Connection, c: Consultation, out: IO[str]) -> None:
    """UTF-8 with a byte-order mark: without it Excel reads Arabic and Chinese as cp1252.
    An anonymous contribution has an empty name and organisation."""
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_HEAD + [f"answer_{n}" for n in range(1, len(c.questions) + 1)])
    for row in _rows(conn, key(c)):
        cells = (row.n, row.reference, row.name, row.organisation or "", row.category, row.country, row.language,
                 _iso(row.received_at), row.summary, row.attachment_name or "", bundled_name(row) or "",
                 *[_answer(row, n) or "" for n in range(1, len(c.questions) + 1)])  # fmt: skip
        writer.writerow([safe_cell(v) for v in cells])


def write_json(conn: Connection, c: Consultation, out: IO[str]) -> None:
    head = {"consultation": c.slug, "letter_number": c.letter_number, "title": c.title, "questions": c.questions}
    out.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "responses": [\n')
    for i, row in enumerate(_rows(conn, key(c))):
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


def write_files(conn: Connection, c: Consultation, *, data_dir: Path, base_url: str | None) -> Path:
    """The compilation as files in data/compilations/<slug>/ (HTML in each language it has
    a title in, CSV and JSON), each written to a temporary name and renamed over the old:
    a reader never sees half a file. Written when the consultation is compiled, and again
    whenever what they hold changes (a response withheld, published or imported)."""
    folder = files_folder(data_dir, c)
    folder.mkdir(parents=True, exist_ok=True)
    targets: list[tuple[str, Any]] = [("compilation.csv", lambda f: write_csv(conn, c, f)),
                                      ("compilation.json", lambda f: write_json(conn, c, f))]  # fmt: skip
    for lang in c.title:
        targets.append((f"compilation.{lang}.html", lambda f, lang=lang: write_html(conn, c, f, lang=lang,
                                                                                     base_url=base_url)))  # fmt: skip
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

"""A file of responses received by other channels (.jsonl or .csv) → stored, all or nothing.

Each record is validated like the form (`ImportedResponse`: the form's fields, plus
`received_at` and `attachment`, a PDF or DOCX named relative to the import file); the
first bad one stops the import with its line number, and nothing is kept. JSON lines are
validated straight from their text (pydantic parses and checks in one pass, in Rust).

The file is streamed: read, validated and inserted a chunk at a time inside one
transaction, so memory stays flat however large the file (a docket of millions of
comments), and a bad record at line 9,000,000 still leaves nothing behind.
"""

from __future__ import annotations

import csv
import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from sqlmodel import Session

from states.errors import ConsultError
from store.attachments import BadAttachment, read_file
from store.models import ImportedResponse, first_error
from store.submissions import ImportedFile, Importer, check_answers
from store.tables import Consultation

CHUNK = 5000  # responses validated and inserted at a time: memory is bounded by this, not by the file
Progress = Callable[[int, int], None]  # (responses so far, bytes read so far)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Validating and inserting a chunk allocates tens of thousands of objects that all live
    until its insert; the cyclic collector walked them again and again (~40 % of the
    validation time, measured on whole files; the insert's row tuples too). Paused per
    chunk only: between chunks it runs, so whatever cycles the database layer leaves are
    collected as the import goes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_responses(path: Path) -> list[ImportedResponse]:
    """Every response in the file, validated; ConsultError names the file and line.
    (For a look at a small file: the import itself streams, `iter_responses`.)"""
    with _open(path) as f:
        return [data for _, _, data in iter_responses(path, f)]


def _open(path: Path) -> IO[bytes]:
    if path.suffix not in {".jsonl", ".csv"}:
        raise ConsultError(f"{path}: use a .jsonl or .csv file")
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise ConsultError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConsultError(f"{path}: cannot read: {exc.strerror}") from None


def _lines(path: Path, f: IO[bytes], position: list[int]) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line, decoded one at a time so that a byte that is not
    UTF-8 is reported on its own line; `position[0]`: bytes read so far."""
    for number, raw in enumerate(f, start=1):
        position[0] += len(raw)
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise ConsultError(f"{path}:{number}: not UTF-8 text (byte {exc.start + 1} of the line); save the file "
                               "as UTF-8 (nothing was imported)") from None  # fmt: skip
        yield number, line


def iter_responses(path: Path, f: IO[bytes], position: list[int] | None = None) -> Iterator[tuple[int, int, Any]]:
    """(line number, bytes read, validated response) for each record, one at a time."""
    position = position if position is not None else [0]
    lines = _lines(path, f, position)
    if path.suffix == ".jsonl":
        for number, line in lines:
            if line.strip():
                yield number, position[0], _valid(path, number, line, ImportedResponse.model_validate_json)
        return
    numbered: dict[str, int] = {"line": 0}

    def text() -> Iterable[str]:
        for number, line in lines:
            numbered["line"] = number
            yield line

    reader = csv.DictReader(text())
    try:
        for record in reader:
            yield reader.line_num, position[0], _valid(path, reader.line_num, _from_csv(record),
                                                       ImportedResponse.model_validate)  # fmt: skip
    except csv.Error as exc:
        raise ConsultError(f"{path}:{numbered['line']}: not readable as CSV: {exc} (nothing was imported)") from None


def _from_csv(record: dict[str, Any]) -> dict[str, Any]:
    """answer_1, answer_2, … columns become the answers; empty cells are absent values."""

    def is_answer(key: str | None) -> bool:
        return key is not None and key.startswith("answer_") and key[7:].isdigit()

    answers = [{"question": int(k[7:]), "text": v} for k, v in record.items() if is_answer(k) and v]
    fields = {k: v for k, v in record.items() if k and not is_answer(k) and v not in (None, "")}
    return {**fields, "answers": answers}  # any other column is refused as an unknown field


def _valid(path: Path, line: int, record: Any, validate) -> ImportedResponse:
    try:
        return validate(record)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise ConsultError(f"{path}:{line}: not JSON: {exc.errors()[0]['msg']} (nothing was imported)") from None
        raise ConsultError(f"{path}:{line}: {first_error(exc)} (nothing was imported)") from None


def import_file(
    *, session: Session, consultation: Consultation, path: Path, now: datetime, attachments: Path | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:  # fmt: skip
    """Stream the file into the consultation's responses (their files under `attachments`),
    a chunk at a time in the session's transaction; returns (new, already there). The
    caller commits; on any error the transaction is rolled back and the files written
    removed, so nothing of the file is kept."""
    importer: Importer | None = None
    try:
        importer = Importer(session=session, consultation=consultation, now=now, attachments=attachments)
        with _open(path) as f:
            records = enumerate(iter_responses(path, f), start=1)
            while True:
                with _gc_paused():
                    chunk = list(islice(records, CHUNK))
                    rows = [(n, data, _checked(path, n, data, consultation)) for n, (_, _, data) in chunk]
                if not chunk:
                    break
                try:
                    with _gc_paused():
                        importer.add(rows)
                except ConsultError as exc:  # keep its kind (a conflict stays a conflict); name the file
                    exc.args = (f"{path}: {exc}",)
                    raise
                if progress is not None:
                    progress(chunk[-1][0], chunk[-1][1][1])
    except BaseException:
        session.rollback()
        if importer is not None:
            importer.discard_files()
        raise
    return importer.created, importer.same


def _checked(path: Path, n: int, data: ImportedResponse, consultation: Consultation) -> ImportedFile | None:
    """The response's answers checked against the consultation's questions, and its file read."""
    try:
        file = None
        if data.attachment is not None:
            kind, blob = read_file(path.parent / data.attachment)
            file = ImportedFile(Path(data.attachment).name, kind, blob)
        check_answers(consultation=consultation, data=data, attached=data.attachment is not None)
        return file
    except BadAttachment as exc:
        raise ConsultError(f"{path}: response {n}: {exc} (nothing was imported)") from None
    except ConsultError as exc:
        raise ConsultError(f"{path}: response {n}: {exc} (nothing was imported)") from None

"""A file of responses received by other channels (.jsonl or .csv) → stored, all or nothing.

Each record is validated like the form (`ImportedResponse`: the form's fields, plus
`received_at` and `attachment`, a PDF or DOCX named relative to the import file); the
first bad one stops the import with its line number, before anything is written. JSON
lines are validated straight from their text (pydantic parses and checks in one pass, in
Rust).
"""

from __future__ import annotations

import csv
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from states.errors import ConsultError
from store.attachments import BadAttachment, read_file
from store.models import ImportedResponse, first_error
from store.submissions import ImportedFile, check_answers, import_many
from store.tables import Consultation


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Validating tens of thousands of responses allocates millions of objects that all
    live until the insert; the cyclic collector walked them again and again, ~40 % of the
    validation time (measured). Nothing here creates reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_responses(path: Path) -> list[ImportedResponse]:
    """Every response in the file, validated; ConsultError names the file and line."""
    if path.suffix not in {".jsonl", ".csv"}:
        raise ConsultError(f"{path}: use a .jsonl or .csv file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConsultError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConsultError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConsultError(f"{path}:{line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8 "
                           "(nothing was imported)") from None  # fmt: skip
    if path.suffix == ".jsonl":
        return [_valid(path, n, line, ImportedResponse.model_validate_json)
                for n, line in enumerate(text.splitlines(), start=1) if line.strip()]  # fmt: skip
    reader = csv.DictReader(text.splitlines())
    try:
        return [_valid(path, reader.line_num, _from_csv(record), ImportedResponse.model_validate)
                for record in reader]  # fmt: skip
    except csv.Error as exc:
        raise ConsultError(f"{path}:{reader.line_num}: not readable as CSV: {exc} (nothing was imported)") from None


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
    *, session: Session, consultation: Consultation, path: Path, now: datetime, attachments: Path | None = None
) -> tuple[int, int]:
    """Validate the whole file and read the files it names, then store its new responses
    (their files under `attachments`); returns (new, already there). The caller commits."""
    with _gc_paused():
        rows = read_responses(path)
        files: dict[int, ImportedFile] = {}
        for n, data in enumerate(rows, start=1):
            try:
                if data.attachment is not None:
                    kind, blob = read_file(path.parent / data.attachment)
                    files[n - 1] = ImportedFile(Path(data.attachment).name, kind, blob)
                check_answers(consultation=consultation, data=data, attached=data.attachment is not None)
            except BadAttachment as exc:
                raise ConsultError(f"{path}: response {n}: {exc} (nothing was imported)") from None
            except ConsultError as exc:
                raise ConsultError(f"{path}: response {n}: {exc} (nothing was imported)") from None
        try:
            counts = import_many(session=session, consultation=consultation, rows=list(rows), now=now, files=files,
                                 attachments=attachments)  # fmt: skip
        except ConsultError as exc:  # keep its kind (a conflict stays a conflict); name the file
            exc.args = (f"{path}: {exc}",)
            raise
        del rows  # freed by reference counting now, not walked by the collector once it is back
    return counts

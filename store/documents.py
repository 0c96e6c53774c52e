"""The archive of documents as issued: stored with the transition that issued them, read
back byte for byte. Rendering them is documents/archive.py's; this module only keeps them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import func
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from states import Document
from store.consultations import key
from store.tables import ArchivedDocument, ArchivedFile, Consultation


@dataclass(frozen=True, slots=True)
class File:
    """A rendered file, before it is archived."""

    name: str
    lang: str | None
    media_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class Renderer(Protocol):
    """Renders the files of a document from the consultation as it is at that moment
    (documents/archive.py); passed in, because rendering sits above the store."""

    def __call__(
        self, *, session: Session, consultation: Consultation, kind: Document, seq: int, now: datetime
    ) -> list[File]: ...


def listing(files: Sequence[File | ArchivedFile]) -> str:
    """The `sha256sum` listing of the files, sorted by name: `sha256sum -c` checks a copy."""
    return "".join(f"{f.sha256}  {f.name}\n" for f in sorted(files, key=lambda f: f.name))


def digest(files: Sequence[File | ArchivedFile]) -> str:
    """The document's one SHA-256: of its listing, which names every file's own."""
    return hashlib.sha256(listing(files).encode()).hexdigest()


def next_seq(*, session: Session, consultation_id: int, kind: Document) -> int:
    query = select(func.max(ArchivedDocument.seq)).where(
        ArchivedDocument.consultation_id == consultation_id, ArchivedDocument.kind == kind.value
    )
    return (session.exec(query).one() or 0) + 1


def archive(
    *, session: Session, consultation: Consultation, kind: Document, seq: int, files: Sequence[File],
    issued_at: datetime, audit_seq: int,
) -> ArchivedDocument:  # fmt: skip
    """Keep a document's files in the caller's transaction."""
    doc = ArchivedDocument(
        consultation_id=key(consultation), kind=kind.value, seq=seq, letter_number=consultation.letter_number,
        issued_at=issued_at, audit_seq=audit_seq, sha256=digest(files),
        languages=sorted({f.lang for f in files if f.lang}, key=_language_order),
    )  # fmt: skip
    session.add(doc)
    session.flush()
    assert doc.id is not None
    for f in files:
        session.add(ArchivedFile(document_id=doc.id, name=f.name, lang=f.lang, media_type=f.media_type,
                                 sha256=f.sha256, size=len(f.content), content=f.content))  # fmt: skip
    return doc


def _language_order(lang: str) -> int:
    from states.languages import LANGUAGES

    return LANGUAGES.index(lang) if lang in LANGUAGES else len(LANGUAGES)


def documents_of(*, session: Session, consultation_id: int) -> list[ArchivedDocument]:
    query = (
        select(ArchivedDocument)
        .where(ArchivedDocument.consultation_id == consultation_id)
        .order_by(col(ArchivedDocument.issued_at), col(ArchivedDocument.id))
    )
    return list(session.exec(query))


def described(*, session: Session, consultation_id: int) -> list[tuple[ArchivedDocument, list[ArchivedFile]]]:
    """Each document with its files' descriptions, in the order they were issued."""
    found = []
    for doc in documents_of(session=session, consultation_id=consultation_id):
        assert doc.id is not None
        found.append((doc, files_of(session=session, document_id=doc.id)))
    return found


def files_of(*, session: Session, document_id: int) -> list[ArchivedFile]:
    """The files' descriptions, without their bytes (deferred: never loaded here)."""
    query = (
        select(ArchivedFile)
        .where(ArchivedFile.document_id == document_id)
        .order_by(col(ArchivedFile.name))
        .options(defer(ArchivedFile.content))  # type: ignore[arg-type]
    )
    return list(session.exec(query))


def file_named(*, session: Session, consultation_id: int, name: str) -> ArchivedFile | None:
    """A file by its name (names are unique within a consultation: they carry kind and number)."""
    query = (
        select(ArchivedFile)
        .join(ArchivedDocument, col(ArchivedDocument.id) == ArchivedFile.document_id)
        .where(ArchivedDocument.consultation_id == consultation_id, ArchivedFile.name == name)
    )
    return session.exec(query).first()


def issued(*, session: Session, consultation_id: int, kind: Document, seq: int = 1) -> ArchivedDocument | None:
    query = select(ArchivedDocument).where(
        ArchivedDocument.consultation_id == consultation_id,
        ArchivedDocument.kind == kind.value,
        ArchivedDocument.seq == seq,
    )
    return session.exec(query).first()

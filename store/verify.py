"""`consult verify`: the record checked against itself. Every consultation's stage must be
what its audit log replays to; every archived document's files must still hash to what was
recorded when it was issued (in the file row, the document's digest and the audit row of
the transition that issued it); every attachment named by a response must be on disk."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, col, select

from store import consultations as repo
from store import documents as kept
from store.tables import ArchivedFile, AuditEntry, Consultation, Submission


@dataclass
class Verified:
    consultations: int = 0
    documents: int = 0
    files: int = 0
    attachments: int = 0
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        checked = (f"{self.consultations} consultation(s), {self.documents} document(s) in {self.files} file(s), "
                   f"{self.attachments} attachment(s) checked")  # fmt: skip
        if not self.problems:
            return f"ok: {checked}"
        return "\n".join([*self.problems, f"{len(self.problems)} problem(s); {checked}"])


def verify(*, session: Session, attachments: Path) -> Verified:
    result = Verified()
    for c in session.exec(select(Consultation).order_by(col(Consultation.id))):
        result.consultations += 1
        replayed = repo.replayed_stage(session=session, consultation_id=repo.key(c))
        if replayed is None or replayed.value != c.stage:
            result.problems.append(f"{c.slug}: stage {c.stage}, but its audit log replays to {replayed}")
        for problem in _documents(session, c, result):
            result.problems.append(f"{c.slug}: {problem}")
    for reference, path in session.exec(
        select(Submission.reference, Submission.attachment_path).where(col(Submission.attachment_path).is_not(None))
    ):
        result.attachments += 1
        if path and not (attachments / path).is_file():
            result.problems.append(f"response {reference}: its attachment {path} is missing from {attachments}")
    return result


def _documents(session: Session, c: Consultation, result: Verified) -> Iterator[str]:
    for doc, files in kept.described(session=session, consultation_id=repo.key(c)):
        result.documents += 1
        label = f"{doc.kind} {doc.seq}"
        for f in files:
            result.files += 1
            content = session.exec(select(ArchivedFile.content).where(ArchivedFile.id == f.id)).one()
            if hashlib.sha256(content).hexdigest() != f.sha256 or len(content) != f.size:
                yield f"{label}: {f.name} no longer matches its SHA-256 recorded when issued"
        if kept.digest(files) != doc.sha256:
            yield f"{label}: its files' listing no longer matches the document's SHA-256"
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.consultation_id == c.id, AuditEntry.seq == doc.audit_seq)
        ).first()
        recorded = (entry.details.get("document") or {}).get("sha256") if entry else None
        if recorded != doc.sha256:
            yield f"{label}: the audit row that issued it records {recorded}, not {doc.sha256}"

"""A contribution's attached file (PDF or DOCX), from the form or an import: checked by
its content, not its name, and kept under data/attachments/ with a generated name (the
submitter's own name is stored apart and only ever used as a download name)."""

from __future__ import annotations

import secrets
from pathlib import Path

from states.errors import ConsultError

MAX_BYTES = 10 * 1024 * 1024
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


class BadAttachment(ConsultError):
    """Not a PDF or DOCX, too large, or unreadable."""


def sniff(data: bytes) -> str | None:
    """The attachment's real type from its first bytes, whatever its name says."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04") and b"word/" in data[:65536] and b"[Content_Types].xml" in data[:65536]:
        return "docx"
    return None


def checked(data: bytes, *, what: str = "attachment") -> str:
    """The kind of an acceptable attachment; BadAttachment says why it is not."""
    if len(data) > MAX_BYTES:
        raise BadAttachment(f"{what}: larger than {MAX_BYTES // (1024 * 1024)} MB")
    kind = sniff(data)
    if kind is None:
        raise BadAttachment(f"{what}: not a PDF or DOCX file (checked by its content)")
    return kind


def stored_name(kind: str) -> str:
    return f"{secrets.token_hex(16)}.{kind}"


def read_file(path: Path) -> tuple[str, bytes]:
    """(kind, bytes) of a file named in an import; refused as the form would refuse it."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise BadAttachment(f"attachment {path}: larger than {MAX_BYTES // (1024 * 1024)} MB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadAttachment(f"attachment {path}: no such file") from None
    except IsADirectoryError:
        raise BadAttachment(f"attachment {path}: a folder, not a file") from None
    except PermissionError:
        raise BadAttachment(f"attachment {path}: not readable (permission denied)") from None
    return checked(data, what=f"attachment {path}"), data


def download_name(name: str | None, reference: str, kind: str) -> str:
    """The submitter's file name if it has the right suffix, else one made from the reference."""
    if name and name.lower().endswith(f".{kind}"):
        return name
    return f"{reference}.{kind}"

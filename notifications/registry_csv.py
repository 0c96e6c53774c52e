"""Reading a stakeholder file as Excel and other tools write it.

Excel's "CSV" is UTF-8 with a BOM ("CSV UTF-8"), UTF-16 with tabs ("Unicode text"), or
the machine's ANSI code page — cp1252 in Western Europe — with commas or, where the
decimal separator is a comma (fr, es, ru …), semicolons. The encoding is decided by
rules, not guessed: a BOM says it; else UTF-8 if the bytes are valid UTF-8 (cp1252 text
with accents almost never is); else cp1252. The delimiter is the one of `,;\\t` that
splits the header line most. Headers are matched by their usual names in the six
languages (`E-mail`, `Email address`, `Nom`, `Courriel` …). A file that is not text at
all (a workbook, a PDF) is one clear line, never a traceback.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from pathlib import Path
from typing import IO, TextIO

from states.errors import ConsultError

REQUIRED = ("name", "email", "category")
OPTIONAL = ("organisation", "country", "language", "lists")

ALIASES: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "full name",
        "contact name",
        "contact",
        "nom",
        "nom complet",
        "nombre",
        "имя",
        "фио",
        "姓名",
        "名称",
        "الاسم",
    ),
    "email": (
        "email",
        "e-mail",
        "e mail",
        "email address",
        "e-mail address",
        "mail",
        "courriel",
        "adresse e-mail",
        "adresse électronique",
        "correo",
        "correo electrónico",
        "электронная почта",
        "эл. почта",
        "电子邮件",
        "电子邮箱",
        "البريد الإلكتروني",
    ),
    "category": ("category", "type", "catégorie", "categoría", "категория", "类别", "الفئة"),
    "organisation": (
        "organisation",
        "organization",
        "org",
        "entity",
        "organisme",
        "organización",
        "организация",
        "组织",
        "المنظمة",
    ),
    "country": ("country", "country code", "pays", "país", "страна", "国家", "البلد"),
    "language": ("language", "lang", "langue", "idioma", "язык", "语言", "اللغة"),
    "lists": ("lists", "list", "listes", "groups", "listas", "списки", "列表", "القوائم"),
}
_BY_ALIAS = {alias: column for column, names in ALIASES.items() for alias in names}

# What binary files start with: the one line says what it seems to be.
_MAGIC = {b"PK\x03\x04": "a ZIP archive (an .xlsx workbook?)", b"%PDF": "a PDF document",
          b"\xd0\xcf\x11\xe0": "an old Office file (.xls?)", b"\x89PNG": "a PNG image",
          b"\xff\xd8\xff": "a JPEG image"}  # fmt: skip


def _key(header: str) -> str:
    text = unicodedata.normalize("NFC", header).strip().casefold().replace("_", " ")
    return " ".join(text.split())


def column_of(header: str) -> str | None:
    return _BY_ALIAS.get(_key(header))


def decode(data: bytes, source: str) -> tuple[str, str]:
    """The text and the encoding it was read in."""
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise ConsultError(f"{source}: this is {what}, not a CSV file: save it from the spreadsheet as "
                               "“CSV UTF-8” and import that")  # fmt: skip
    if data.startswith(codecs.BOM_UTF8):
        return _decoded(data[3:], "utf-8", source), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decoded(data, "utf-16", source), "utf-16"
    if b"\x00" in data[:4096]:
        raise ConsultError(f"{source}: this is not a text file (it holds NUL bytes): save it as “CSV UTF-8”")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return _decoded(data, "cp1252", source), "cp1252"


def _decoded(data: bytes, encoding: str, source: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConsultError(f"{source}:{line}: not readable as {encoding} text (byte {exc.start}); save it as "
                           "“CSV UTF-8”") from None  # fmt: skip


def delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    return max(",;\t", key=first.count)


def rows(data: bytes, source: str) -> tuple[csv.DictReader, str]:
    """A reader over the file's records, keyed by our column names, and the encoding used."""
    text, encoding = decode(data, source)
    if not text.strip():
        raise ConsultError(f"{source}: the file is empty; the first line names the columns "
                           f"({', '.join(REQUIRED + OPTIONAL)})")  # fmt: skip
    return _mapped(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter(text)), source), encoding


def stream(path: Path, source: str) -> tuple[csv.DictReader, TextIO]:
    """As `rows`, over an open file read as it goes (a registry of a million addresses is
    never held in memory); the caller closes the file. The encoding is decided by the same
    rules: a BOM, else UTF-8 if the whole file is (checked by a streaming pass), else cp1252."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
            if head.startswith(tuple(_MAGIC)):
                decode(head, source)  # raises, saying what the file seems to be
            encoding = _encoding_of(f, head, source)
    except FileNotFoundError:
        raise ConsultError(f"{source}: no such file") from None
    except OSError as exc:
        raise ConsultError(f"{source}: cannot read: {exc.strerror}") from None
    text = path.open(encoding=encoding, newline="", errors="strict")
    try:
        first = text.readline()
        if not first.strip():
            raise ConsultError(f"{source}: the file is empty; the first line names the columns "
                               f"({', '.join(REQUIRED + OPTIONAL)})")  # fmt: skip
        text.seek(0)
        return _mapped(csv.DictReader(text, delimiter=delimiter(first)), source), text
    except BaseException:
        text.close()
        raise


def _encoding_of(f: IO[bytes], head: bytes, source: str) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise ConsultError(f"{source}: this is not a text file (it holds NUL bytes): save it as “CSV UTF-8”")
    check = codecs.getincrementaldecoder("utf-8")()
    try:
        check.decode(head)
        while block := f.read(1 << 20):
            check.decode(block)
        check.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def _mapped(reader: csv.DictReader, source: str) -> csv.DictReader:
    given = reader.fieldnames or []
    mapped = [column_of(h) for h in given]
    unknown = [h for h, m in zip(given, mapped, strict=True) if m is None and h.strip()]
    doubled = sorted({m for m in mapped if m and mapped.count(m) > 1})
    missing = [c for c in REQUIRED if c not in mapped]
    if unknown:
        raise ConsultError(f"{source}:1: unknown column {unknown[0]!r}; columns are "
                           f"{', '.join(REQUIRED + OPTIONAL)} (or their usual names, e.g. E-mail, Nom)")  # fmt: skip
    if doubled:
        raise ConsultError(f"{source}:1: two columns mean {doubled[0]!r}")
    if missing:
        raise ConsultError(f"{source}:1: missing column(s) {', '.join(missing)}; the first line has "
                           f"{', '.join(repr(h) for h in given)}")  # fmt: skip
    reader.fieldnames = [m or f"_ignored_{n}" for n, m in enumerate(mapped)]
    return reader

"""`consult letter` and `consult compile`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.context import app_from_env, handles_errors
from states.errors import ConsultError
from states.languages import LANGUAGES

Output = Annotated[Path | None, typer.Option("-o", "--output", help="File to write (default: standard output).")]
Lang = Annotated[str, typer.Option("--lang", help=f"One of {', '.join(LANGUAGES)}.")]


def _lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ConsultError(f"unknown language code {lang!r}; use one of {', '.join(LANGUAGES)}")
    return lang


def _emit_text(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


@handles_errors
def letter(
    ref: Annotated[str, typer.Argument(metavar="ID")],
    lang: Lang = "en",
    fmt: Annotated[str, typer.Option("--format", help="html or pdf")] = "html",
    output: Output = None,
    now: Annotated[str | None, typer.Option("--now")] = None,
) -> None:
    """The circular letter as issued (the archived bytes), or a draft before it is issued."""
    from documents.archive import find
    from documents.letter import letter_html
    from states import Document
    from store import consultations as repo

    ctx = app_from_env()
    if fmt not in {"html", "pdf"}:
        raise ConsultError(f"unknown format {fmt!r}: the letter is html or pdf")
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        issued = find(session=s, consultation=c, kind=Document.LETTER, extension=fmt, lang=_lang(lang))
        if issued is None:
            html = letter_html(c, lang=lang, settings=ctx.settings, now=ctx.now(now))
    if issued is not None:
        if issued.lang != lang:
            typer.echo(f"{c.letter_number} was not issued in {lang}; this is its {issued.lang} version", err=True)
        _emit_bytes(issued.content, fmt, output)
        return
    _write(html, fmt, output)


def _emit_bytes(data: bytes, fmt: str, output: Path | None) -> None:
    if output is None:
        if fmt == "pdf":
            raise ConsultError("a PDF needs -o FILE")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    output.write_bytes(data)
    typer.echo(f"wrote {output}", err=True)


@handles_errors
def documents(
    ref: Annotated[str, typer.Argument(metavar="ID")],
    name: Annotated[str | None, typer.Argument(help="A file to write out, e.g. letter.ar.pdf.")] = None,
    output: Output = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The documents as issued (letter, addenda, published compilation, report): their files
    and SHA-256 digests; with NAME, that file's archived bytes."""
    import json

    from store import consultations as repo
    from store import documents as kept
    from store.views import document_view

    ctx = app_from_env()
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        if name is not None:
            found = kept.file_named(session=s, consultation_id=repo.key(c), name=name)
            if found is None:
                names = [f.name for _, files in kept.described(session=s, consultation_id=repo.key(c)) for f in files]
                raise ConsultError(f"{c.slug}: no issued file {name!r}; issued: {', '.join(names) or 'none yet'}")
            data = found.content
        else:
            views = [document_view(c, d, f) for d, f in kept.described(session=s, consultation_id=repo.key(c))]
    if name is not None:
        _emit_bytes(data, "pdf" if name.endswith(".pdf") else "text", output)
        return
    if as_json:
        typer.echo(json.dumps([v.json_ready() for v in views], ensure_ascii=False, indent=2))
        return
    if not views:
        typer.echo(f"{c.slug}: no document issued yet")
    for v in views:
        typer.echo(f"{v.kind} {v.number or ''} issued {v.issued_at:%Y-%m-%d %H:%M} UTC  sha256 {v.sha256}")
        for f in v.files:
            typer.echo(f"  {f.sha256}  {f.name}  ({f.size} bytes)")


def _write(html: str, fmt: str, output: Path | None) -> None:
    if fmt == "html":
        _emit_text(html, output)
        return
    from documents.pdf import write_pdf

    if output is None:
        raise ConsultError("a PDF needs -o FILE")
    write_pdf(html, output)
    typer.echo(f"wrote {output}", err=True)


@handles_errors
def compile_(
    ref: Annotated[str, typer.Argument(metavar="ID")],
    fmt: Annotated[str, typer.Option("--format", help="html, pdf, csv, json or zip (the attachments)")] = "html",
    lang: Lang = "en",
    output: Output = None,
) -> None:
    """The compilation of the published responses (streamed: any number of responses)."""
    from documents import compilation
    from store import consultations as repo

    ctx = app_from_env()
    if fmt not in {"html", "pdf", "csv", "json", "zip"}:
        raise ConsultError(f"unknown format {fmt!r}; use html, pdf, csv, json or zip")
    _lang(lang)
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        conn, base_url = s.connection(), ctx.settings.mail.base_url
        if fmt == "zip":
            if output is None:
                raise ConsultError("a ZIP needs -o FILE")
            n = compilation.write_zip(conn, c, output, attachments=ctx.settings.attachments_dir)
            typer.echo(f"wrote {output} ({n} attachments)", err=True)
        elif fmt == "pdf":  # printed a thousand contributions at a time, the parts joined: flat memory
            from documents.pdf import write_pdf_parts

            if output is None:
                raise ConsultError("a PDF needs -o FILE")
            pages = write_pdf_parts(compilation.html_parts(conn, c, lang=lang, base_url=base_url), output)
            typer.echo(f"wrote {output} ({pages} pages)", err=True)
        else:
            writer = {"html": lambda f: compilation.write_html(conn, c, f, lang=lang, base_url=base_url),
                      "csv": lambda f: compilation.write_csv(conn, c, f),
                      "json": lambda f: compilation.write_json(conn, c, f)}[fmt]  # fmt: skip
            if output is None:
                writer(sys.stdout)
            else:
                with output.open("w", encoding="utf-8", newline="") as f:
                    writer(f)
                typer.echo(f"wrote {output}", err=True)


@handles_errors
def report(
    ref: Annotated[str, typer.Argument(metavar="ID")],
    lang: Lang = "en",
    fmt: Annotated[str, typer.Option("--format", help="html, pdf or docx")] = "html",
    output: Output = None,
) -> None:
    """The chairman's report to council on a consultation (needs the meeting summary)."""
    from documents.report import build, report_docx, report_html
    from store import consultations as repo

    ctx = app_from_env()
    if fmt not in {"html", "pdf", "docx"}:
        raise ConsultError(f"unknown format {fmt!r}; use html, pdf or docx")
    with ctx.session() as s:
        built = build(s, repo.get(session=s, ref=ref), lang=_lang(lang), settings=ctx.settings)
    if fmt == "docx":
        if output is None:
            raise ConsultError("a DOCX needs -o FILE")
        output.write_bytes(report_docx(built))
        typer.echo(f"wrote {output}", err=True)
        return
    _write(report_html(built), fmt, output)

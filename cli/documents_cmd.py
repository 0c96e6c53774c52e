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
    """The circular letter (a draft until the letter is issued), as HTML or PDF."""
    from documents.letter import letter_html
    from store import consultations as repo

    ctx = app_from_env()
    if fmt not in {"html", "pdf"}:
        raise ConsultError(f"unknown format {fmt!r}: the letter is html or pdf")
    with ctx.session() as s:
        html = letter_html(repo.get(session=s, ref=ref), lang=_lang(lang), settings=ctx.settings, now=ctx.now(now))
    _write(html, fmt, output)


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
        conn = s.connection()
        if fmt == "zip":
            if output is None:
                raise ConsultError("a ZIP needs -o FILE")
            n = compilation.write_zip(conn, c, output, attachments=ctx.settings.data_dir / "attachments")
            typer.echo(f"wrote {output} ({n} attachments)", err=True)
        elif fmt == "pdf":
            _write(compilation.html_string(conn, c, lang=lang), "pdf", output)
        else:
            writer = {"html": lambda f: compilation.write_html(conn, c, f, lang=lang),
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

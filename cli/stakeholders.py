"""`consult stakeholders import|list`."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.context import app_from_env, handles_errors
from notifications import registry

app = typer.Typer(help="The stakeholder registry: who is invited, reminded and told.", no_args_is_help=True)


@app.command("import")
@handles_errors
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: name,email,category[,organisation,country,language,lists] "
            "(as Excel saves it: UTF-8, UTF-16 or cp1252; , ; or tab)."
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would change; change nothing.")] = False,
    now: Annotated[str | None, typer.Option("--now")] = None,
) -> None:
    """Add or update stakeholders from a CSV (idempotent on e-mail; the whole file or nothing).
    Someone added while a consultation is under way (letter issued, or open) gets its
    invitation — once, whenever they are imported."""
    from cli.context import actor
    from cli.progress import file_progress
    from notifications.notices import invite_latecomers

    ctx = app_from_env()
    at = ctx.now(now)
    if dry_run:  # the import itself, streamed, saying each chunk's changes, then rolled back

        def say(planned: registry.Planned) -> None:
            for row in planned.new:
                typer.echo(f"new: {row.email} ({row.name}, {row.category})")
            for row, changes in planned.updated:
                typer.echo(f"update: {row.email}: " + "; ".join(f"{k} {a!r} → {b!r}" for k, (a, b) in changes.items()))

        with ctx.session() as s:
            report = registry.import_file(session=s, path=file, now=at, actor=actor(), preview=say)
            s.rollback()
        typer.echo(f"{file}: would add {report.created}, update {report.updated}, leave {report.unchanged} "
                   "unchanged (nothing written)")  # fmt: skip
        return
    with ctx.session() as s:
        with file_progress(file, what="stakeholders") if file.is_file() else nullcontext() as progress:
            report = registry.import_file(session=s, path=file, now=at, actor=actor(), progress=progress)
        invited = invite_latecomers(session=s, now=at, mail=ctx.settings.mail)
        s.commit()
    typer.echo(
        f"{file}: {report.created} added, {report.updated} updated, {report.unchanged} unchanged"
        + (f"; {invited} invitation(s) queued to newcomers for the consultations under way" if invited else "")
    )


@app.command("list")
@handles_errors
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Everyone in the registry, with their language and whether mail reaches them."""
    ctx = app_from_env()
    with ctx.session() as s:
        people = registry.list_stakeholders(session=s)
    if as_json:
        fields = ("id", "name", "organisation", "category", "country", "email", "language", "lists", "opted_out",
                  "bounced")  # fmt: skip
        typer.echo(json.dumps([{f: getattr(p, f) for f in fields} for p in people], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Stakeholders ({len(people)})")
    for name in ("id", "name", "organisation", "category", "country", "e-mail", "lang", "mail"):
        table.add_column(name, overflow="fold")
    for p in people:
        state = "bounced" if p.bounced else ("opted out" if p.opted_out else "yes")
        table.add_row(str(p.id), p.name, p.organisation or "", p.category, p.country or "", p.email, p.language, state)
    Console(width=160).print(table)

"""`consult staff add` and `consult responses import`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from cli.context import app_from_env, handles_errors
from states.errors import ConsultError
from store.models import SubmissionCreate, first_error

staff_app = typer.Typer(help="Staff accounts for the dashboard and the staff API.", no_args_is_help=True)
responses_app = typer.Typer(help="Responses received by other channels.", no_args_is_help=True)


@staff_app.command("add")
@handles_errors
def add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Add a staff user (or change their password); the password is stored as an argon2 hash."""
    from web.security import add_staff

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    ctx = app_from_env()
    with ctx.session() as s:
        add_staff(session=s, name=name, password=password, now=ctx.now(None))
        s.commit()
    typer.echo(f"staff user {name} saved")


def _records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConsultError(f"{path}: no such file") from None
    if path.suffix == ".jsonl":
        out = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    out.append((n, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise ConsultError(f"{path}:{n}: not JSON: {exc.msg}") from None
        return out
    if path.suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        out = []
        for record in reader:
            answers = [{"question": int(k.split("_")[1]), "text": v} for k, v in record.items()
                       if k and k.startswith("answer_") and v]  # fmt: skip
            fields = {k: v for k, v in record.items() if k and not k.startswith("answer_") and v not in (None, "")}
            out.append((reader.line_num, {**fields, "answers": answers}))
        return out
    raise ConsultError(f"{path}: use a .jsonl or .csv file")


@responses_app.command("import")
@handles_errors
def import_(
    ref: Annotated[str, typer.Argument(metavar="ID", help="The consultation (slug or id).")],
    file: Annotated[
        Path, typer.Argument(help=".jsonl (one response per line) or .csv (answer_1, answer_2, … columns).")
    ],
    now: Annotated[str | None, typer.Option("--now")] = None,
) -> None:
    """Import responses received by mail or on paper: validated like the form, all or nothing."""
    from store import consultations as repo
    from store.submissions import check_answers, import_many

    ctx = app_from_env()
    rows = []
    for line, record in _records(file):
        try:
            rows.append(SubmissionCreate.model_validate(record))
        except ValidationError as exc:
            raise ConsultError(f"{file}:{line}: {first_error(exc)} (nothing was imported)") from None
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        for n, data in enumerate(rows, start=1):
            try:
                check_answers(consultation=c, data=data)
            except ConsultError as exc:
                raise ConsultError(f"{file}: response {n}: {exc} (nothing was imported)") from None
        created, same = import_many(session=s, consultation=c, rows=rows, now=ctx.now(now))
        s.commit()
    typer.echo(f"{file}: {created} imported, {same} already there")

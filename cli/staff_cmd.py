"""`consult staff add|remove` and `consult responses import`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.context import app_from_env, handles_errors

staff_app = typer.Typer(help="Staff accounts for the dashboard and the staff API.", no_args_is_help=True)
responses_app = typer.Typer(help="Responses received by other channels.", no_args_is_help=True)


@staff_app.command("add")
@handles_errors
def add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Add a staff user (or change their password, which ends their sessions); the password
    is stored as an argon2 hash."""
    from store.staff import add_staff

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    ctx = app_from_env()
    with ctx.session() as s:
        add_staff(session=s, name=name, password=password, now=ctx.now(None))
        s.commit()
    typer.echo(f"staff user {name} saved")


@staff_app.command("remove")
@handles_errors
def remove(name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Remove a staff user: every session of theirs ends at once (the audit log keeps their name)."""
    from states.errors import NotFound
    from store.staff import remove_staff

    ctx = app_from_env()
    with ctx.session() as s:
        if not remove_staff(session=s, name=name):
            raise NotFound(f"no staff user {name!r}")
        s.commit()
    typer.echo(f"staff user {name} removed; their sessions are ended")


@responses_app.command("import")
@handles_errors
def import_(
    ref: Annotated[str, typer.Argument(metavar="ID", help="The consultation (slug or id).")],
    file: Annotated[
        Path,
        typer.Argument(
            help=".jsonl (one response per line) or .csv (answer_1, answer_2, … columns); optional "
            "received_at (when it arrived, not after the deadline) and attachment (a PDF or DOCX, "
            "relative to this file)."
        ),  # fmt: skip
    ],
    now: Annotated[str | None, typer.Option("--now")] = None,
) -> None:
    """Import responses received by mail or on paper: validated like the form, all or nothing."""
    from store import consultations as repo
    from store.response_file import import_file

    ctx = app_from_env()
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        created, same = import_file(
            session=s, consultation=c, path=file, now=ctx.now(now), attachments=ctx.settings.attachments_dir
        )
        s.commit()
    typer.echo(f"{file}: {created} imported, {same} already there")

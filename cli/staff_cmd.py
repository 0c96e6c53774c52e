"""`consult staff add|role|list|remove` and `consult responses import|withhold|publish`."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from cli.context import actor, app_from_env, handles_errors

staff_app = typer.Typer(help="Staff accounts for the dashboard and the staff API.", no_args_is_help=True)
responses_app = typer.Typer(help="Responses received by other channels.", no_args_is_help=True)


@staff_app.command("add")
@handles_errors
def add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[
        str | None,
        typer.Option(
            help="admin (accounts), editor (create, edit, fire triggers), moderator (responses) or "
            "viewer (read). New accounts: editor; existing ones keep theirs unless given."
        ),
    ] = None,
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
        user = add_staff(session=s, name=name, password=password, now=ctx.now(None), role=role)
        s.commit()
        typer.echo(f"staff user {name} saved ({user.role})")


@staff_app.command("role")
@handles_errors
def set_role_(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Argument(help="admin, editor, moderator or viewer.")],
) -> None:
    """Change a staff user's role (the last admin cannot step down)."""
    from store.staff import set_role

    ctx = app_from_env()
    with ctx.session() as s:
        set_role(session=s, name=name, role=role, by="cli")
        s.commit()
    typer.echo(f"staff user {name} is now {role}")


@staff_app.command("list")
@handles_errors
def list_() -> None:
    """Staff accounts and their roles."""
    from store.staff import list_staff

    ctx = app_from_env()
    with ctx.session() as s:
        for user in list_staff(session=s):
            typer.echo(f"{user.name}\t{user.role}")


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
    from cli.progress import file_progress
    from documents.compilation import refresh_files
    from store import consultations as repo
    from store.response_file import import_file

    ctx = app_from_env()
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        with file_progress(file, what="responses") if file.is_file() else nullcontext() as progress:
            created, same = import_file(session=s, consultation=c, path=file, now=ctx.now(now),
                                        attachments=ctx.settings.attachments_dir, progress=progress)  # fmt: skip
        s.commit()
        if created:  # a written compilation holds them too now
            refresh_files(s.connection(), c, data_dir=ctx.settings.data_dir, base_url=ctx.settings.mail.base_url)
    typer.echo(f"{file}: {created} imported, {same} already there")


def _moderate(ref: str, reference: str, *, publish: bool, reason: str, now: str | None) -> None:
    from documents.compilation import refresh_files
    from store import consultations as repo
    from store.submissions import moderate

    ctx = app_from_env()
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        moderate(session=s, consultation=c, reference=reference, publish=publish, reason=reason, actor=actor(),
                 now=ctx.now(now))  # fmt: skip
        s.commit()
        refresh_files(s.connection(), c, data_dir=ctx.settings.data_dir, base_url=ctx.settings.mail.base_url)
    typer.echo(f"{c.slug}: {reference} {'published' if publish else 'withheld'} ({reason})")


@responses_app.command("withhold")
@handles_errors
def withhold(
    ref: Annotated[str, typer.Argument(metavar="ID", help="The consultation (slug or id).")],
    reference: Annotated[str, typer.Argument(help="The response's reference, e.g. R-3F9K2A7Q.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    now: Annotated[str | None, typer.Option("--now")] = None,
) -> None:
    """Withhold a response from the public pages (staff still read it; audited)."""
    _moderate(ref, reference, publish=False, reason=reason, now=now)


@responses_app.command("publish")
@handles_errors
def publish(
    ref: Annotated[str, typer.Argument(metavar="ID", help="The consultation (slug or id).")],
    reference: Annotated[str, typer.Argument(help="The response's reference.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    now: Annotated[str | None, typer.Option("--now")] = None,
) -> None:
    """Publish a withheld response again (audited)."""
    _moderate(ref, reference, publish=True, reason=reason, now=now)


@responses_app.command("approve")
@handles_errors
def approve(
    ref: Annotated[str, typer.Argument(metavar="ID", help="The consultation (slug or id).")],
    reference: Annotated[str, typer.Argument(help="The response's reference.")],
    now: Annotated[str | None, typer.Option("--now")] = None,
) -> None:
    """Publish an unconfirmed response without its respondent's confirmation: the policy of
    a consultation published after moderation, or a respondent who lost the mail."""
    from store import consultations as repo
    from store.respondents import approve as approve_response

    ctx = app_from_env()
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        approve_response(session=s, consultation=c, reference=reference, actor=actor(), now=ctx.now(now))
        s.commit()
    typer.echo(f"{c.slug}: {reference} approved")

"""`consult mail send|list` and `consult mail-catcher`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.context import app_from_env, handles_errors
from notifications import outbox
from notifications.delivery import SmtpServer, deliver
from states.errors import ConsultError

app = typer.Typer(help="The outbox: what mail is queued, sent or failed, and delivering it.", no_args_is_help=True)


@app.command()
@handles_errors
def send(
    now: Annotated[str | None, typer.Option("--now")] = None,
    limit: Annotated[int | None, typer.Option(help="Send at most this many.")] = None,
) -> None:
    """Deliver the pending mail that is due (retries included) to the configured SMTP server."""
    ctx = app_from_env()
    try:
        server = SmtpServer.from_settings(ctx.settings)
    except ValueError as exc:
        raise ConsultError(f"{exc}; for development run `consult mail-catcher` and set CONSULT_SMTP_PORT") from None
    ctx.ensure_schema()
    report = asyncio.run(
        deliver(engine=ctx.engine, server=server, mail=ctx.settings.mail, now=ctx.now(now), limit=limit)
    )
    typer.echo(str(report))


@app.command("list")
@handles_errors
def list_(
    status: Annotated[str | None, typer.Option(help="pending, sending, sent, failed or skipped.")] = None,
    limit: Annotated[int, typer.Option()] = 200,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The outbox, newest first, with each message's state."""
    if status is not None and status not in {s.value for s in outbox.Status}:
        raise ConsultError(f"unknown status {status!r}; use one of {', '.join(s.value for s in outbox.Status)}")
    ctx = app_from_env()
    with ctx.session() as s:
        rows = outbox.messages(session=s, status=status, limit=limit)
        totals = outbox.counts(session=s)
    fields = ("id", "purpose", "language", "recipient_email", "status", "attempts", "last_error", "message_id")
    if as_json:
        out = [{f: getattr(m, f) for f in fields} | {"subject": m.subject} for m in rows]
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    table = Table(title="Outbox — " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())) or "empty")
    for name in ("id", "purpose", "lang", "to", "status", "tries", "subject / last error"):
        table.add_column(name, overflow="fold")
    for m in rows:
        table.add_row(
            str(m.id), m.purpose, m.language, m.recipient_email, m.status, str(m.attempts), m.last_error or m.subject
        )
    Console(width=160).print(table)


@handles_errors
def catcher(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 1025,
    folder: Annotated[Path | None, typer.Option("--dir", help="Maildir to keep mail in (default data/mail).")] = None,
) -> None:
    """Run a local SMTP mail catcher on 127.0.0.1 that keeps and shows what it receives."""
    from notifications.catcher import MailCatcher

    ctx = app_from_env()
    target = folder or ctx.settings.data_dir / "mail"
    catcher = MailCatcher(target, port=port, announce=lambda line: typer.echo(line)).start()
    typer.echo(f"mail catcher on 127.0.0.1:{catcher.port}, keeping mail in {target} (Ctrl-C stops)")
    typer.echo(f"use it with: CONSULT_SMTP_HOST=127.0.0.1 CONSULT_SMTP_PORT={catcher.port}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        catcher.stop()

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


Ref = Annotated[str, typer.Argument(metavar="ID", help="The consultation (slug or id).")]


@app.command("list")
@handles_errors
def list_(
    ref: Annotated[str | None, typer.Argument(metavar="[ID]", help="Only this consultation's mail.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, sending, sent, failed, skipped or superseded.")] = None,
    limit: Annotated[int, typer.Option()] = 200,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The outbox, newest first, with each message's state (delivery status, the SMTP answer)."""
    from store import consultations as repo

    if status is not None and status not in {s.value for s in outbox.Status}:
        raise ConsultError(f"unknown status {status!r}; use one of {', '.join(s.value for s in outbox.Status)}")
    ctx = app_from_env()
    with ctx.session() as s:
        consultation_id = repo.key(repo.get(session=s, ref=ref)) if ref is not None else None
        rows = outbox.messages(session=s, status=status, limit=limit, consultation_id=consultation_id)
        totals = outbox.counts(session=s, consultation_id=consultation_id)
    fields = ("id", "purpose", "language", "recipient_email", "status", "attempts", "last_error", "message_id",
              "sent_at")  # fmt: skip
    if as_json:
        out = [{f: _plain(getattr(m, f)) for f in fields} | {"subject": m.subject} for m in rows]
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


def _plain(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value


@app.command()
@handles_errors
def preview(
    ref: Ref,
    notice: Annotated[str, typer.Argument(help="invitation, reminder, extended, cancelled or compiled.")],
    lang: Annotated[str, typer.Option("--lang", help="ar, zh, en, fr, ru or es.")] = "en",
    to: Annotated[str | None, typer.Option(help="A registry address (default: the first writing in --lang).")] = None,
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part instead of the text.")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Print the whole MIME message, as it would be sent.")] = False,
    now: Annotated[str | None, typer.Option("--now")] = None,
) -> None:
    """A notice as the recipient will see it: headers, subject, and the text (or HTML) part —
    built by the same code, to the same bytes, as the message the outbox would queue."""
    from notifications.mime import parse
    from notifications.notices import preview as build
    from states.languages import LANGUAGES
    from store import consultations as repo

    if lang not in LANGUAGES:
        raise ConsultError(f"unknown language code {lang!r}; use one of {', '.join(LANGUAGES)}")
    ctx = app_from_env()
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        _, data = build(session=s, consultation=c, notice=notice, lang=lang, now=ctx.now(now), mail=ctx.settings.mail,
                        to=to)  # fmt: skip
    if raw:
        typer.echo(data.decode("ascii"), nl=False)
        return
    message = parse(data)
    for name in ("From", "To", "Reply-To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "Content-Language"):
        if message[name]:
            typer.echo(f"{name}: {message[name]}")
    typer.echo("")
    body = message.get_body(("html",) if html else ("plain",))
    assert body is not None
    typer.echo(body.get_content())


@app.command("test")
@handles_errors
def test_send(
    ref: Ref,
    notice: Annotated[str, typer.Argument(help="invitation, reminder, extended, cancelled or compiled.")],
    to: Annotated[str, typer.Option(help="Your own address: the test goes there, and only there.")],
    lang: Annotated[str, typer.Option("--lang")] = "en",
    now: Annotated[str | None, typer.Option("--now")] = None,
) -> None:
    """Queue a test of a notice to your own address ("[TEST]" in the subject); `mail send`,
    the clock or `consult serve` delivers it like any other message."""
    from notifications.notices import queue_test
    from store import consultations as repo

    ctx = app_from_env()
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        message = queue_test(session=s, consultation=c, notice=notice, lang=lang, to=to, now=ctx.now(now),
                             mail=ctx.settings.mail)  # fmt: skip
        s.commit()
    typer.echo(f"queued a test of {notice} ({lang}) to {message.recipient_email}: {message.rendered.subject}")


@app.command()
@handles_errors
def recipients(
    ref: Ref,
    category: Annotated[list[str] | None, typer.Option("--category", help="Only these categories (repeat).")] = None,
    country: Annotated[list[str] | None, typer.Option("--country", help="Only these countries, ISO codes.")] = None,
    list_: Annotated[list[str] | None, typer.Option("--list", help="Only these named lists (repeat).")] = None,
    everyone: Annotated[bool, typer.Option("--everyone", help="The whole registry again.")] = False,
    now: Annotated[str | None, typer.Option("--now")] = None,
) -> None:
    """Who a consultation's mail goes to, and how many that is now; with options, narrow it
    (until the letter is issued)."""
    from pydantic import ValidationError

    from notifications.registry import audience_of, count_reachable
    from store import consultations as repo
    from store.models import Audience, first_error

    ctx = app_from_env()
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        if everyone or category or country or list_:
            try:
                wanted = Audience(categories=tuple(category or ()), countries=tuple(country or ()),
                                  lists=tuple(list_ or ()))  # fmt: skip
            except ValidationError as exc:
                raise first_error(exc, where="recipients") from None
            repo.set_audience(session=s, consultation=c, audience=wanted, now=ctx.now(now))
            s.commit()
        audience = audience_of(c)
        count = count_reachable(session=s, audience=audience)
    described = audience.describe() if audience else "every reachable stakeholder of the registry"
    typer.echo(f"{c.slug}: {described} — {count} recipient(s) now")


def _staff_action(ref: str, action: str, now: str | None) -> None:
    from store import consultations as repo

    ctx = app_from_env()
    at = ctx.now(now)
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        if action == "retry":
            n = outbox.retry_failed(session=s, consultation_id=repo.key(c), now=at)
            line = f"{c.slug}: {n} failed message(s) will be tried again"
        elif action == "hold":
            outbox.hold(session=s, consultation=c, now=at)
            line = f"{c.slug}: mail held (nothing goes out until `consult mail resume {c.slug}`)"
        else:
            n = outbox.resume(session=s, consultation=c, now=at)
            line = f"{c.slug}: mail resumed ({n} waiting)"
        s.commit()
    typer.echo(line)


@app.command()
@handles_errors
def retry(ref: Ref, now: Annotated[str | None, typer.Option("--now")] = None) -> None:
    """Try a consultation's failed messages again."""
    _staff_action(ref, "retry", now)


@app.command()
@handles_errors
def hold(ref: Ref, now: Annotated[str | None, typer.Option("--now")] = None) -> None:
    """Hold a consultation's mail: nothing of it goes out until resumed."""
    _staff_action(ref, "hold", now)


@app.command()
@handles_errors
def resume(ref: Ref, now: Annotated[str | None, typer.Option("--now")] = None) -> None:
    """Let a consultation's held mail go out."""
    _staff_action(ref, "resume", now)


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

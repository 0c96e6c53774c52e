"""`consult tick` and `consult serve`."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import replace
from typing import Annotated, Any

import typer

from cli.context import app_from_env, handles_errors
from config import Settings
from config.settings import MailSettings


@handles_errors
def tick(
    now: Annotated[str | None, typer.Option("--now", help="Act as if it were this ISO-8601 instant.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One pass of the clock: fire due transitions, queue due reminders and alerts, deliver mail."""
    from flows.runtime import run_tick

    ctx = app_from_env()
    ctx.ensure_schema()
    quiet_prefect(ctx.settings)
    at = ctx.now(now)
    result = run_tick(settings=ctx.settings, now=at, announce=lambda line: typer.echo(line, err=True),
                      real_time=now is None and ctx.settings.now is None)  # fmt: skip
    if as_json:
        empty = {"due": 0, "actions": [], "skipped": [], "notices": [], "to_write": [], "mail": ""}
        typer.echo(json.dumps(result or empty, ensure_ascii=False))
        return
    if result is None:
        typer.echo(f"nothing due at {at.isoformat()}")
        return
    for line in result["actions"]:
        typer.echo(line)
    for line in result["skipped"]:
        typer.echo(f"skipped: {line}")
    if result.get("stopped"):  # one line, exit 1: an infrastructure fault, not the data's
        typer.echo(f"error: {result['stopped']}", err=True)
        raise typer.Exit(1)
    for line in result.get("notices", []):
        typer.echo(line)
    for folder in result.get("compilations", []):
        typer.echo(f"compilation written to {folder}")
    typer.echo(f"mail: {result['mail']}")


@handles_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    interval: Annotated[int, typer.Option(help="Seconds between ticks.")] = 30,
    clock: Annotated[bool, typer.Option(help="Run the embedded clock (off when a Prefect server schedules).")] = True,
    demo: Annotated[
        bool, typer.Option("--demo", help="A demonstration: localhost links and sender are expected, not warned of.")
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Web worker processes (PostgreSQL; the clock stays in this one).")
    ] = 1,
) -> None:
    """Run the engine: the web app and dashboard, the embedded clock, and a mail catcher without SMTP.

    SIGINT (Ctrl-C) and SIGTERM stop it with everything it started (mail catcher, Prefect server)."""
    import uvicorn

    from flows.clock import start_background
    from web.app import SERVED_DEMO, create_app
    from web.serving import run_workers

    ctx = app_from_env()
    ctx.ensure_schema()
    quiet_prefect(ctx.settings)
    settings = served_settings(ctx.settings, host=host, port=port)
    if not demo:
        for warning in settings.placeholder_warnings():
            typer.echo(f"warning: {warning}", err=True)
    # uvicorn stops gracefully on SIGINT and SIGTERM, then raises the signal again with the
    # handler it found: for SIGTERM the default one would end the process before `stop()`
    # (the clock's lease, the catcher, the Prefect server). Ours turns it into an exception.
    signal.signal(signal.SIGTERM, _terminated)
    stop = start_background(settings=settings, interval=interval, clock=clock, echo=typer.echo)
    try:
        typer.echo(f"dashboard: http://{host}:{port}/   (API docs: http://{host}:{port}/docs; Ctrl-C stops)")
        proxies = settings.trusted_proxies
        # Idle connections are kept 75 s, longer than a proxy's (nginx 60–75 s, cloud load
        # balancers 60 s): with uvicorn's 5 s, a proxy reusing a connection the app was
        # closing got no answer (bench/http_postgres.py saw it as lost requests).
        options: dict[str, Any] = {"host": host, "port": port, "log_level": "warning", "proxy_headers": bool(proxies),
                                   "forwarded_allow_ips": proxies or None, "timeout_keep_alive": 75}  # fmt: skip
        if workers == 1:
            uvicorn.run(create_app(settings, demo=demo, watch_clock=True), **options)
        else:  # each worker builds the same app from the environment (web/app.py served_app)
            os.environ.update({"CONSULT_BASE_URL": settings.mail.base_url, SERVED_DEMO: "1" if demo else ""})
            run_workers("web.app:served_app", workers=workers, **options)
    except (Terminated, KeyboardInterrupt):
        pass
    finally:
        stop()
        typer.echo("stopped")


class Terminated(Exception):
    """SIGTERM, as an exception, so that `finally` blocks run (as they do for Ctrl-C)."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated


def quiet_prefect(settings: Settings) -> None:
    """Prefect reads its own configuration from the environment when it is imported, and
    from nowhere else: at this edge, before that import, its files go to our data folder,
    its telemetry is off and it logs warnings only — unless the operator set them."""
    from flows.prefect_server import prefect_environment

    for key, value in prefect_environment(settings.data_dir).items():
        os.environ.setdefault(key, value)


def served_settings(settings: Settings, *, host: str, port: int) -> Settings:
    """Links in mail point at this server when CONSULT_BASE_URL was left at its default."""
    if settings.mail.base_url != MailSettings().base_url:
        return settings
    shown = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host
    return replace(settings, mail=replace(settings.mail, base_url=f"http://{shown}:{port}"))


@handles_errors
def deploy(
    pool: Annotated[str, typer.Option(help="Prefect work pool (created as a process pool if missing).")] = "consult",
    interval: Annotated[int, typer.Option(help="Seconds between ticks.")] = 30,
    triggered: Annotated[
        bool,
        typer.Option("--triggered", help="No schedule: `consult serve` with CONSULT_TICK_DEPLOYMENT=tick/tick "
                                         "starts a run only when work is due (nothing runs while idle)."),
    ] = False,
    source: Annotated[
        str | None, typer.Option(help="A git repository the workers clone for each run (default: this folder).")
    ] = None,
    branch: Annotated[str | None, typer.Option(help="The branch of --source.")] = None,
    chunk: Annotated[
        int, typer.Option(min=1, max=10_000, help="Due consultations per chunk run (chunk runs go to any worker).")
    ] = 200,
    database_secret: Annotated[
        str | None,
        typer.Option(help="Save CONSULT_DATABASE_URL as a Prefect Secret block of this name; runs read it, so "
                          "workers need no database setting of their own."),
    ] = None,
) -> None:  # fmt: skip
    """Deploy the tick to the Prefect server at PREFECT_API_URL, on an interval schedule (or triggered)."""
    import os

    from states.errors import ConsultError

    if not os.environ.get("PREFECT_API_URL"):
        raise ConsultError("set PREFECT_API_URL to the Prefect server (e.g. http://127.0.0.1:4200/api) first")
    from flows.deploy import deploy as deploy_tick

    deployment = deploy_tick(pool=pool, interval=interval, scheduled=not triggered, source=source, branch=branch,
                             database_secret=database_secret, chunk=chunk)  # fmt: skip
    how = "started by `consult serve` when work is due" if triggered else f"every {interval} s"
    typer.echo(f"deployed tick ({deployment}) to pool {pool!r}, {how}")
    typer.echo(f"start workers with: prefect worker start --pool {pool}")

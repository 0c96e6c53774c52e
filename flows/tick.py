"""Prefect flows: the tick (fire due transitions, queue due reminders and alerts, deliver
the outbox). Thin wrappers around flows/work.py; async, because a sync flow costs about a
second each in heartbeats here (DESIGN §12).

Import this module only when there is work: importing Prefect alone takes a while, and a
flow run needs a Prefect API (flows/prefect_server.py).

The flow builds its settings once, from the environment (a Prefect worker has no other
source) and its parameters, and hands the same object to every task; the tasks are not
cached (NO_CACHE), so their inputs need not be hashable.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from config import Settings
from config.settings import parse_instant
from flows import work
from notifications import fanout
from notifications.delivery import SmtpServer, deliver
from store.db import make_engine


class NoDatabase(RuntimeError):
    """A run with no database named: never fall back to a consult.db in the worker's folder."""


def _settings(database_url: str | None, smtp_host: str | None, smtp_port: int | None) -> Settings:
    """The run's settings: the worker's environment, overridden by the run's parameters.
    A run whose database nobody named fails saying so (tick_flow)."""
    import os

    if not database_url and not os.environ.get("CONSULT_DATABASE_URL"):
        raise NoDatabase("no database for this run: deploy with --database-secret, or set CONSULT_DATABASE_URL "
                         "on the worker")  # fmt: skip
    settings = Settings.from_env()
    if database_url:
        settings = replace(settings, database_url=database_url)
    if smtp_host:
        settings = replace(settings, smtp_host=smtp_host, smtp_port=smtp_port or settings.smtp_port)
    return settings


def _now(now: str | None, settings: Settings) -> datetime:
    if now:
        return parse_instant(now, what="now").astimezone(UTC)
    return (settings.now or datetime.now(UTC)).astimezone(UTC)


@task(name="advance-due", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def advance_due_task(settings: Settings, now: datetime, real_time: bool = False) -> dict:
    """`real_time`: the tick's `now` is the wall clock's, so audit rows are stamped when each
    change commits (a long tick's last change is not dated at its start)."""
    engine = make_engine(settings.database_url)
    try:
        report = work.advance_all_due(engine=engine, now=now, settings=settings, stamp=_stamp(real_time))
        return _report(report, engine, settings)
    finally:
        engine.dispose()


def _stamp(real_time: bool) -> work.Stamp | None:
    """The clock audit rows read when written: the wall clock for a real-time run (when the
    change was made); none when travelling in time (the run's `now` stands)."""
    return (lambda: datetime.now(UTC)) if real_time else None


def _report(report: work.TickReport, engine, settings: Settings) -> dict:
    return {"due": report.due, "actions": report.actions, "skipped": report.skipped, "notices": report.notices,
            "to_write": report.compiled, "stopped": report.stopped, "transitions": report.transitions,
            "reminders": report.reminders, "missing": work.files_missing(engine=engine, settings=settings)}  # fmt: skip


@task(name="dispatch-chunks", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def dispatch_task(settings: Settings, now: datetime, travelling: bool, deployment: str, chunk: int,
                  database_secret: str | None, hand_off: bool = False) -> dict:  # fmt: skip
    """Claim the due consultations in chunks; keep the first for this run and start one run
    of the chunk deployment per further chunk, for any worker to take (a handful due — the
    usual day — costs no extra run; thousands spread over the workers). Then the notices
    owed and the expiries, here."""
    from prefect.deployments import run_deployment

    engine = make_engine(settings.database_url)
    try:
        chunks = work.claim_chunks(engine=engine, now=now, chunk=chunk, settings=settings)
        own, others = (chunks[0], chunks[1:]) if chunks else ([], [])
        actions = []
        for n, ids in enumerate(others, start=2):
            parameters = {"ids": ids, "now": now.isoformat() if travelling else None,
                          "database_secret": database_secret, "hand_off": hand_off}  # fmt: skip
            if not database_secret:
                parameters["database_url"] = settings.database_url
            run = run_deployment(name=deployment, parameters=parameters, timeout=0)
            actions.append(f"chunk {n}: {len(ids)} consultation(s) → flow run {getattr(run, 'name', run)}")
        report = work.advance_due(engine=engine, ids=own, now=now, settings=settings, stamp=_stamp(not travelling),
                                  claimed=True)  # fmt: skip
        report.notices, expired = work.housekeeping(engine=engine, now=now, settings=settings)
        report.due, report.actions = sum(map(len, chunks)), [*report.actions, *actions, *expired]
        return {**_report(report, engine, settings), "dispatched": len(others)}
    finally:
        engine.dispose()


@task(name="advance-chunk", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def advance_chunk_task(settings: Settings, ids: list[int], now: datetime, real_time: bool) -> dict:
    engine = make_engine(settings.database_url)
    try:
        report = work.advance_due(engine=engine, ids=ids, now=now, settings=settings, stamp=_stamp(real_time),
                                  claimed=True)  # fmt: skip
        report.notices = [str(f) for f in fanout.fan_out_pending(engine=engine, now=now, mail=settings.mail)]
        return _report(report, engine, settings)
    finally:
        engine.dispose()


@task(name="deliver-outbox", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
async def deliver_task(settings: Settings, now: datetime) -> str:
    if not settings.smtp_host:
        return "no SMTP server configured: mail stays in the outbox"
    engine = make_engine(settings.database_url)
    try:
        server = SmtpServer.from_settings(settings)
        return str(await deliver(engine=engine, server=server, mail=settings.mail, now=now))
    finally:
        engine.dispose()


@task(name="write-compilations", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def compilations_task(settings: Settings, ids: list[int], redrive: bool = True) -> list[str]:
    engine = make_engine(settings.database_url)
    try:
        return work.write_compilations(engine=engine, ids=ids, settings=settings, redrive=redrive)
    finally:
        engine.dispose()


@flow(name="tick", log_prints=True)
async def tick_flow(
    now: str | None = None,
    database_url: str | None = None,
    smtp_host: str | None = None,
    smtp_port: int | None = None,
    interval: int | None = None,
    database_secret: str | None = None,
    chunk_deployment: str | None = None,
    chunk: int = 200,
    events: bool = True,
    hand_off: bool = False,
    write_files: bool = True,
) -> dict:
    """One pass of the clock. `now` (ISO 8601) is for time travel; scheduled runs omit it.
    `smtp_host`/`smtp_port` override the environment's (the embedded clock's mail catcher).
    `interval`: the schedule's, in seconds (the deployment sets it): the run's heartbeat
    says how soon the next should complete. `database_secret`: the Prefect Secret block
    holding the database URL (`consult deploy --database-secret`). `chunk_deployment`: the
    due work goes, `chunk` consultations at a time, to runs of that deployment on any worker
    (`consult deploy` sets it); without it this run does the work itself. `events`: one
    Prefect event per transition, for automations on the operator's server; off on the
    temporary server of `consult tick` and `serve` (nobody can subscribe to it, and a
    thousand transitions kept a run waiting minutes for its events to drain). `hand_off`:
    compilation files and mail are left to the compile and deliver deployments, started by
    the events this run emits (`consult deploy` sets it), so a big compilation never holds
    up a reminder. `write_files=False`: the compilation files are left to the caller (the
    embedded clock's writer process, flows/compiler.py), for the same reason."""
    settings = await _run_settings(database_url, database_secret, smtp_host, smtp_port)
    at = _now(now, settings)
    real_time = now is None and settings.now is None
    if chunk_deployment:
        result = dispatch_task(settings, at, not real_time, chunk_deployment, chunk, database_secret, hand_off)
    else:
        result = advance_due_task(settings, at, real_time=real_time)
    # The compilations: files written after the commit (re-running them is harmless), and
    # those an earlier run committed but never wrote (it died): the stage is the marker.
    if hand_off:
        result["mail"] = await _hand_off(result, settings, at, redrive=True)
    else:
        if write_files and (result["to_write"] or result["missing"]):
            result["compilations"] = compilations_task(settings, result["to_write"])
        result["mail"] = await deliver_task(settings, at)
    await _say_what_was_done(result, at, events=events)
    if interval:
        from prefect.runtime import flow_run

        engine = make_engine(settings.database_url)
        try:
            work.record_beat(engine=engine, interval=interval, by=f"prefect flow run {flow_run.name or '?'}")
        finally:
            engine.dispose()
    return result


@flow(name="tick-chunk", log_prints=True)
async def tick_chunk_flow(
    ids: list[int], now: str | None = None, database_url: str | None = None, database_secret: str | None = None,
    hand_off: bool = False,
) -> dict:  # fmt: skip
    """A chunk of due consultations claimed by the tick (`dispatch_task`): their transitions,
    reminders and alerts, each in its own transaction as in a whole tick, then their
    compilation files and the mail (or, `hand_off`, the events that start the compile and
    deliver deployments). Several run at once, on any worker."""
    settings = await _run_settings(database_url, database_secret, None, None)
    at = _now(now, settings)
    result = advance_chunk_task(settings, ids, at, real_time=now is None and settings.now is None)
    if hand_off:
        result["mail"] = await _hand_off(result, settings, at, redrive=False)
    else:
        if result["to_write"]:
            result["compilations"] = compilations_task(settings, result["to_write"])
        result["mail"] = await deliver_task(settings, at)
    await _say_what_was_done(result, at, kind="chunk")
    return result


COMPILATION_DUE = "consult.compilation.due"  # the compile deployment's trigger
MAIL_DUE = "consult.mail.due"  # the deliver deployment's trigger


async def _hand_off(result: dict, settings: Settings, at: datetime, redrive: bool) -> str:
    """Emit the events that start the compile and deliver deployments when there is work
    for them: a compile run for the consultations this run compiled and, `redrive` (the
    tick), for those compiled earlier whose files are still missing — when no compile run
    is waiting or running, which may be writing them. The deliver run reads the outbox,
    so a lost event, or one that arrives while a run is busy (and is cancelled), costs a
    delay until the next tick's, never the mail itself."""
    from prefect.events import emit_event

    engine = make_engine(settings.database_url)
    try:
        mail = work.mail_due(engine=engine, now=at)
    finally:
        engine.dispose()
    resource = {"prefect.resource.id": "consult.clock"}
    ids = list(result["to_write"])
    if redrive and result["missing"] and not await _compile_runs_active():
        ids = list(dict.fromkeys([*ids, *result["missing"]]))
    if ids:  # a compile run for these, on any worker
        emit_event(event=COMPILATION_DUE, resource=resource, payload={"ids": ids})
    if mail:
        emit_event(event=MAIL_DUE, resource=resource, payload={"due": mail})
    return f"{mail} message(s) due, left to the deliver deployment" if mail else "none due"


async def _compile_runs_active() -> bool:
    from prefect import get_client
    from prefect.client.schemas import filters as f
    from prefect.client.schemas.objects import StateType

    busy = f.FlowRunFilterState(type=f.FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING,
                                                                    StateType.RUNNING]))  # fmt: skip
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_filter=f.FlowFilter(name=f.FlowFilterName(any_=["compile"])),
                                           flow_run_filter=f.FlowRunFilter(state=busy), limit=1)  # fmt: skip
    return bool(runs)


@flow(name="compile", log_prints=True)
async def compile_flow(
    ids: list[int] | None = None, database_url: str | None = None, database_secret: str | None = None
) -> list[str]:
    """The compilation files of the consultations `ids` (just compiled, or their writer
    died), those not already written: started by a tick or chunk run's event, on any worker,
    several at once, apart from the mail. Without `ids`, every one whose files are missing."""
    from prefect import get_run_logger

    settings = await _run_settings(database_url, database_secret, None, None)
    written = compilations_task(settings, ids or [], redrive=ids is None)
    for folder in written:
        get_run_logger().info("compilation written: %s", folder)
    await _rename(f"compile — {len(written)} written")
    return written


@flow(name="deliver", log_prints=True)
async def deliver_flow(database_url: str | None = None, database_secret: str | None = None,
                       now: str | None = None) -> str:  # fmt: skip
    """The mail due in the outbox, sent: started by the tick's event, on any worker, so
    mail never waits behind a compilation."""
    from prefect import get_run_logger

    settings = await _run_settings(database_url, database_secret, None, None)
    said = await deliver_task(settings, _now(now, settings))
    get_run_logger().info("mail: %s", said)
    await _rename(f"deliver — {said}")
    return said


async def _rename(name: str) -> None:
    from prefect import get_client
    from prefect.runtime import flow_run

    if flow_run.id:
        async with get_client() as client:
            await client.update_flow_run(flow_run.id, name=name[:100])


async def _run_settings(database_url: str | None, database_secret: str | None, smtp_host: str | None,
                        smtp_port: int | None) -> Settings:  # fmt: skip
    if database_secret and not database_url:  # the deployment's Secret block: workers need no database setting
        from prefect.blocks.system import Secret

        block: Secret = await Secret.aload(database_secret)
        database_url = str(block.get())
    return _settings(database_url, smtp_host, smtp_port)


async def _say_what_was_done(result: dict, at: datetime, kind: str = "tick", events: bool = True) -> None:
    """The run says what it did: a log line per action, a Prefect event per transition
    (automations can react to "consultation closed"), a markdown artifact, and a name
    from its work ("tick 2026-11-23 10:00 — 3 closed, 120 mails") instead of a random one."""
    from prefect import get_run_logger
    from prefect.artifacts import acreate_markdown_artifact
    from prefect.events import emit_event

    logger = get_run_logger()
    for line in [*result["actions"], *result["notices"], *result["skipped"]]:
        logger.info(line)
    logger.info("mail: %s", result["mail"])
    for t in result["transitions"] if events else []:
        emit_event(event=f"consult.consultation.{t['to']}", payload=t,
                   resource={"prefect.resource.id": f"consult.consultation.{t['slug']}",
                             "prefect.resource.name": t["slug"]})  # fmt: skip
    summary = run_summary(result)
    await acreate_markdown_artifact(key=kind, description=summary, markdown=run_markdown(result, at))
    await _rename(f"{kind} {at:%Y-%m-%d %H:%M} — {summary}")


def run_summary(result: dict) -> str:
    """ "3 closed, 1 compiled, 120 reminders, mail: 12 sent" — or "nothing due"."""
    by_stage: dict[str, int] = {}
    for t in result["transitions"]:
        by_stage[t["to"]] = by_stage.get(t["to"], 0) + 1
    parts = [f"{n} {stage.replace('_', ' ')}" for stage, n in by_stage.items()]
    if result.get("reminders"):
        parts.append(f"{result['reminders']} reminders")
    if result.get("dispatched"):
        parts.append(f"{result['dispatched']} chunk runs started")
    if result.get("skipped"):
        parts.append(f"{len(result['skipped'])} skipped")
    return ", ".join(parts) or "nothing changed"


def run_markdown(result: dict, at: datetime) -> str:
    rows = "\n".join(f"| {t['slug']} | {t['from']} → {t['to']} | {t['trigger']} |" for t in result["transitions"])
    lines = [f"# Tick at {at.isoformat()}", "", f"**{run_summary(result)}**; mail: {result['mail']}", ""]
    if rows:
        lines += ["| consultation | change | trigger |", "|---|---|---|", rows, ""]
    lines += [f"- {line}" for line in [*result["actions"], *result["notices"], *result["skipped"]]]
    return "\n".join(lines)

"""Scale-out: the tick deployed to a Prefect server, run by Prefect workers.

`consult deploy` creates a process work pool (if missing) and a deployment of the tick
flow from this checkout with an interval schedule. Workers (`prefect worker start --pool
consult`) then run it against the shared database (PostgreSQL at scale); the tick's
optimistic locking and the outbox's leases make two workers safe together. Run
`consult serve --no-clock` beside it, never the embedded clock: one scheduler per job.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = "flows/tick.py:tick_flow"
CHUNK_ENTRYPOINT = "flows/tick.py:tick_chunk_flow"
CHUNK_DEPLOYMENT = "tick-chunk/chunk"  # flow name / deployment name
COMPILE_ENTRYPOINT, DELIVER_ENTRYPOINT = "flows/tick.py:compile_flow", "flows/tick.py:deliver_flow"


def ensure_pool(name: str) -> None:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    async def create() -> None:
        async with get_client() as client:
            try:
                await client.read_work_pool(name)
            except ObjectNotFound:
                await client.create_work_pool(WorkPoolCreate(name=name, type="process"))

    asyncio.run(create())


HEARTBEAT_SECONDS = 30  # a flow run's heartbeat event (Prefect's minimum is 30)
ZOMBIE = "consult: crash silent tick runs"
NEVER_STARTED = "consult: crash runs never started"


def deploy(
    *, pool: str, interval: int, name: str = "tick", scheduled: bool = True, source: str | None = None,
    branch: str | None = None, database_secret: str | None = None, chunk: int = 200,
) -> str:  # fmt: skip
    """Create or update the deployment; returns its id. One run at a time (concurrency 1:
    a second is cancelled, not queued behind the first), heartbeats on, and the automation
    that marks a run whose heartbeats stop as crashed (its worker died) — so its slot frees
    and the next scheduled run goes ahead. `scheduled=False`: no schedule — `consult serve`
    with CONSULT_TICK_DEPLOYMENT starts a run only when work is due (idle costs nothing).

    `source`: a git repository the workers clone at each run (at `branch`), instead of this
    checkout's folder — the deploying machine may go away. `database_secret`: the database
    URL (this process's CONSULT_DATABASE_URL) saved as a Prefect Secret block of that name,
    which runs read — workers need no CONSULT_DATABASE_URL of their own.

    The tick run claims the due work and starts one run of the chunk deployment per `chunk`
    consultations, which any worker takes: more workers, more throughput. Compilation files
    and mail are deployments of their own ("compile/compile", "deliver/deliver"), started by
    the events the tick and chunk runs emit, one run of each at a time: a big compilation
    never holds up a reminder."""
    import os

    from prefect import flow
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    ensure_pool(pool)
    parameters: dict[str, object] = {"interval": interval}  # the run's heartbeat: when the next should complete
    if database_secret:
        from prefect.blocks.system import Secret

        url = os.environ.get("CONSULT_DATABASE_URL")
        if not url:
            raise ValueError("--database-secret saves CONSULT_DATABASE_URL in Prefect: set it first")
        Secret(value=url).save(database_secret, overwrite=True)
        parameters["database_secret"] = database_secret
    origin: object = str(ROOT)
    if source:
        from prefect.runner.storage import GitRepository

        origin = GitRepository(url=source, branch=branch)
    heartbeats = {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS)}}
    chunks = flow.from_source(source=origin, entrypoint=CHUNK_ENTRYPOINT)  # type: ignore[arg-type]
    chunks.deploy(  # type: ignore[union-attr]
        name=CHUNK_DEPLOYMENT.split("/")[1], work_pool_name=pool, build=False, push=False, print_next_steps=False,
        job_variables=heartbeats,
    )  # fmt: skip
    parameters["chunk_deployment"], parameters["chunk"], parameters["hand_off"] = CHUNK_DEPLOYMENT, chunk, True
    _deploy_hand_offs(origin=origin, pool=pool, database_secret=database_secret, job_variables=heartbeats)
    remote = flow.from_source(source=origin, entrypoint=ENTRYPOINT)  # type: ignore[arg-type]
    deployment_id = remote.deploy(  # type: ignore[union-attr]
        name=name, work_pool_name=pool, interval=interval if scheduled else None, build=False, push=False,
        print_next_steps=False,
        parameters=parameters,
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW,
                                                 grace_period_seconds=60),
        job_variables=heartbeats,
    )  # fmt: skip
    ensure_zombie_automation()
    return str(deployment_id)


def _deploy_hand_offs(*, origin: object, pool: str, database_secret: str | None, job_variables: dict) -> None:
    """The compile and deliver deployments, each run by an event of the tick's (flows/tick.py
    COMPILATION_DUE, MAIL_DUE). Compile runs take the consultations the event names, several
    at once on as many workers; deliver runs one at a time, a second cancelled: the running
    one, or the next tick's event, sends what it would have (it reads the outbox)."""
    from prefect import flow
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.events import DeploymentEventTrigger

    from flows.tick import COMPILATION_DUE, MAIL_DUE

    parameters = {"database_secret": database_secret} if database_secret else {}
    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW,
                                           grace_period_seconds=60)  # fmt: skip
    for entrypoint, name, event, from_event, limit in (
        (COMPILE_ENTRYPOINT, "compile", COMPILATION_DUE, {"ids": "{{ event.payload.ids }}"}, None),
        (DELIVER_ENTRYPOINT, "deliver", MAIL_DUE, {}, one_at_a_time),
    ):
        remote = flow.from_source(source=origin, entrypoint=entrypoint)  # type: ignore[arg-type]
        trigger = DeploymentEventTrigger(name=f"consult: {event}", expect={event}, parameters=from_event,
                                         match={"prefect.resource.id": "consult.clock"})  # fmt: skip
        remote.deploy(  # type: ignore[union-attr]
            name=name, work_pool_name=pool, build=False, push=False, print_next_steps=False, parameters=parameters,
            triggers=[trigger], job_variables=job_variables, concurrency_limit=limit,
        )  # fmt: skip


def ensure_zombie_automation() -> str:
    """Prefect's documented answer to runs left "Running" on a dead machine: an automation
    expecting each running flow run's heartbeat (or its end) within three heartbeats, which
    otherwise sets the run Crashed. And its twin for runs a worker took (Pending) but never
    started because it died: without it such a run stays Pending for ever (and, for the
    tick, holds its concurrency slot). Each created once; returns the first's id."""
    import asyncio

    from prefect.client.orchestration import get_client

    async def create() -> str:
        ids = []
        async with get_client() as client:
            for name, after, expect, message in _CRASH_RULES:
                existing = await client.read_automations_by_name(name)
                ids.append(str(existing[0].id) if existing else await _crash_automation(name, after, expect, message))
        return ids[0]

    return asyncio.run(create())


_ENDED = {"prefect.flow-run.Completed", "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
          "prefect.flow-run.Crashed"}  # fmt: skip
_CRASH_RULES = (
    (ZOMBIE, "prefect.flow-run.heartbeat", {"prefect.flow-run.heartbeat", *_ENDED},
     "No heartbeat for three intervals: its worker died (consult)"),
    (NEVER_STARTED, "prefect.flow-run.Pending", {"prefect.flow-run.Running", *_ENDED},
     "Taken by a worker that never started it: the worker died (consult)"),
)  # fmt: skip


async def _crash_automation(name: str, after: str, expect: set[str], message: str) -> str:
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    automation = Automation(
        name=name,
        description=f"{message}. Created by consult deploy.",
        trigger=EventTrigger(
            after={after},
            expect=expect,
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=3 * HEARTBEAT_SECONDS),
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message=message)],
    )
    created = await automation.acreate()
    return str(created.id)

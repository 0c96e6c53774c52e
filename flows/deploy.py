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


def deploy(*, pool: str, interval: int, name: str = "tick") -> str:
    """Create or update the deployment; returns its id."""
    from prefect import flow

    ensure_pool(pool)
    remote = flow.from_source(source=str(ROOT), entrypoint=ENTRYPOINT)
    deployment_id = remote.deploy(  # type: ignore[union-attr]
        name=name,
        work_pool_name=pool,
        interval=interval,
        build=False,
        push=False,
        print_next_steps=False,
        parameters={"interval": interval},  # the run's heartbeat: when the next should complete
    )
    return str(deployment_id)

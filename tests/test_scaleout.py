"""Scale-out for real: `prefect server start` on 127.0.0.1, the tick deployed with an
interval schedule (`consult deploy`), two Prefect workers running it against the same
PostgreSQL — each transition once, each mail once; no embedded clock anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from notifications.catcher import free_port
from tests.processes import stop, wait_for_count
from tests.smtp import SmtpTestServer
from tests.test_flows import open_consultations
from tests.test_mail import PEOPLE, add_people

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def _wait_healthy(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"Prefect server at {url} did not answer in {seconds} s")


@pytest.mark.slow
def test_two_prefect_workers_on_postgresql(session: Session, database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("scale-out runs on PostgreSQL")
    add_people(session, PEOPLE[:3])
    open_consultations(session, 30)  # each: close, draft, one staff alert
    api = f"http://127.0.0.1:{free_port()}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CONSULT_", "PREFECT_"))}
    prefect = {**base, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "DO_NOT_TRACK": "1", "PREFECT_API_URL": api}  # fmt: skip
    # Prefect's own database on PostgreSQL too (the README's production set-up).
    server_env = {**prefect, "PREFECT_API_DATABASE_CONNECTION_URL": _prefect_database(database_url)}
    port = api.split(":")[2].split("/")[0]
    procs: list[subprocess.Popen] = []
    with SmtpTestServer() as smtp:
        consult = {**prefect, "CONSULT_DATABASE_URL": database_url, "CONSULT_NOW": "2017-08-20T12:00:00Z",
                   "CONSULT_SMTP_HOST": "127.0.0.1", "CONSULT_SMTP_PORT": str(smtp.port)}  # fmt: skip
        try:
            server = subprocess.Popen(
                [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", port],
                env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            procs.append(server)
            _wait_healthy(api, 60)
            # The code from git (this checkout, as a repository: the workers clone it), the
            # database URL from a Prefect Secret block: the workers below have no CONSULT_DATABASE_URL.
            source = ["--source", f"file://{ROOT}"] if (ROOT / ".git").exists() else []
            deploy_args = [
                str(BIN / "consult"),
                "deploy",
                "--interval",
                "3",
                "--database-secret",
                "consult-db",
                "--chunk",
                "10",
                *source,
            ]
            deployed = subprocess.run(deploy_args, env=consult, capture_output=True, text=True, timeout=120)
            assert deployed.returncode == 0, deployed.stderr
            import httpx

            deployment = httpx.get(f"{api}/deployments/name/tick/tick", timeout=10).json()
            assert deployment["parameters"] == {"interval": 3, "database_secret": "consult-db",
                                                "chunk_deployment": "tick-chunk/chunk", "chunk": 10}  # fmt: skip
            if source:
                assert deployment["pull_steps"][0]["prefect.deployments.steps.git_clone"]["repository"] == source[1]
            assert deployment["global_concurrency_limit"]["limit"] == 1  # one run at a time
            assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
            assert deployment["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
            automations = httpx.post(f"{api}/automations/filter", json={}, timeout=10).json()
            (zombie,) = [a for a in automations if a["name"] == "consult: crash silent tick runs"]
            assert zombie["actions"][0]["state"] == "CRASHED" and zombie["trigger"]["posture"] == "Proactive"
            again = subprocess.run(deploy_args, env=consult, capture_output=True, text=True, timeout=120)
            assert again.returncode == 0, again.stderr  # deploying again updates, and adds no second automation
            names = [a["name"] for a in httpx.post(f"{api}/automations/filter", json={}, timeout=10).json()]
            assert names.count("consult: crash silent tick runs") == 1
            for i in range(2):
                procs.append(
                    subprocess.Popen(
                        [str(BIN / "prefect"), "worker", "start", "--pool", "consult", "--type", "process"],
                        env={**{k: v for k, v in consult.items() if k != "CONSULT_DATABASE_URL"},
                             "CONSULT_DATA_DIR": str(tmp_path / f"w{i}")},
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                    )
                )  # fmt: skip
            wait_for_count(session, "SELECT count(*) FROM outbox_message WHERE status = 'sent'", at_least=30,
                           seconds=240, every=1)  # fmt: skip
            time.sleep(8)  # a few more scheduled runs: nothing may happen twice
            # The 30 due: a chunk of 10 for the tick run itself, two more chunk runs for the workers.
            runs = httpx.post(f"{api}/flow_runs/filter", json={"flows": {"name": {"any_": ["tick-chunk"]}}},
                              timeout=10).json()  # fmt: skip
            done = [r for r in runs if r["state_type"] == "COMPLETED"]
            assert len(done) == 2 and all(r["name"].startswith("chunk ") for r in done), [r["name"] for r in runs]
        finally:
            stop(list(reversed(procs)))
    rows = session.execute(
        text("SELECT consultation_id, trigger, count(*) FROM audit_entry WHERE actor = 'system' "
             "GROUP BY consultation_id, trigger")
    ).all()  # fmt: skip
    assert len(rows) == 60 and {n for *_, n in rows} == {1}  # close and compile, once each
    ids = Counter(r.message["message-id"] for r in smtp.received)
    assert len(ids) == 30 and set(ids.values()) == {1}  # the staff alert of each of the 30, once each
    beat = session.execute(text("SELECT interval_s, by FROM clock_beat")).one()
    assert beat.interval_s == 3 and beat.by.startswith("prefect flow run ")


def _prefect_database(database_url: str) -> str:
    """A database of its own for Prefect's server, on the same throwaway cluster (asyncpg)."""
    from sqlalchemy import create_engine

    head, _, name = database_url.rpartition("/")
    admin = create_engine(f"{head}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE prefect_{name}"))
    admin.dispose()
    return f"{head.replace('postgresql+psycopg', 'postgresql+asyncpg')}/prefect_{name}"

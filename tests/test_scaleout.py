"""Scale-out for real: `prefect server start` on 127.0.0.1, the tick deployed with an
interval schedule (`consult deploy`), two Prefect workers running it against the same
PostgreSQL — each transition once, each mail once; no embedded clock anywhere."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session

from notifications.catcher import free_port
from tests.processes import stop, wait_for_count
from tests.smtp import SmtpTestServer
from tests.test_flows import open_consultations

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


DUE = 2000
CHUNK = 250


@pytest.mark.slow
def test_two_prefect_workers_on_postgresql_one_killed_mid_run(session: Session, database_url: str,
                                                               tmp_path: Path) -> None:  # fmt: skip
    """The operator's set-up, and a machine lost: 2,000 consultations due, two workers, one
    killed (-9, with the run it was doing) half way through a chunk. Every transition, mail
    and compilation file happens exactly once; the lost run is marked crashed."""
    if not database_url.startswith("postgresql"):
        pytest.skip("scale-out runs on PostgreSQL")
    open_consultations(session, DUE)  # each: close, compile, one staff alert
    api = f"http://127.0.0.1:{free_port()}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CONSULT_", "PREFECT_"))}
    prefect = {**base, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "DO_NOT_TRACK": "1", "PREFECT_API_URL": api}  # fmt: skip
    # Prefect's own database on PostgreSQL too (the README's production set-up).
    server_env = {**prefect, "PREFECT_API_DATABASE_CONNECTION_URL": _prefect_database(database_url)}
    port = api.split(":")[2].split("/")[0]
    procs: list[subprocess.Popen] = []
    data = tmp_path / "data"  # shared by the workers, as a real deployment's file store must be
    with SmtpTestServer() as smtp:
        consult = {**prefect, "CONSULT_DATABASE_URL": database_url, "CONSULT_NOW": "2017-08-20T12:00:00Z",
                   "CONSULT_SMTP_HOST": "127.0.0.1", "CONSULT_SMTP_PORT": str(smtp.port),
                   "CONSULT_DATA_DIR": str(data), "CONSULT_CLAIM_SECONDS": "20"}  # fmt: skip
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
            deploy_args = [str(BIN / "consult"), "deploy", "--interval", "5", "--database-secret", "consult-db",
                           "--chunk", str(CHUNK), *source]  # fmt: skip
            deployed = subprocess.run(deploy_args, env=consult, capture_output=True, text=True, timeout=120)
            assert deployed.returncode == 0, deployed.stderr
            _check_deployments(api, source)
            again = subprocess.run(deploy_args, env=consult, capture_output=True, text=True, timeout=120)
            assert again.returncode == 0, again.stderr  # deploying again updates, and adds no second automation
            names = [a["name"] for a in httpx.post(f"{api}/automations/filter", json={}, timeout=10).json()]
            for rule in ("consult: crash silent tick runs", "consult: crash runs never started"):
                assert names.count(rule) == 1
            workers = [
                subprocess.Popen(
                    [str(BIN / "prefect"), "worker", "start", "--pool", "consult", "--type", "process", "--limit", "3"],
                    env={k: v for k, v in consult.items() if k != "CONSULT_DATABASE_URL"},
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                )
                for _ in range(2)
            ]  # fmt: skip
            procs += workers
            victim = _kill_a_worker_mid_chunk(api, session, workers)
            wait_for_count(session, "SELECT count(*) FROM consultation WHERE stage = 'compiled'", at_least=DUE,
                           seconds=300, every=2)  # fmt: skip

            def progress() -> str:
                runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=10).json()
                states = Counter(f"{r['name'].split(' ')[0]}:{r['state_type']}" for r in runs)
                stuck = [(r["name"], r["deployment_id"], r["state_name"], r.get("infrastructure_pid"),
                          r.get("work_queue_name"), r["expected_start_time"], r.get("start_time"))
                         for r in runs if r["state_type"] in ("PENDING", "RUNNING")]  # fmt: skip
                deployments = {d["id"]: d["name"] for d in httpx.post(f"{api}/deployments/filter", json={},
                                                                      timeout=10).json()}  # fmt: skip
                alive = [w.poll() is None for w in workers]
                return (f"files {len(list(data.glob('compilations/*/.complete')))}, mail {len(smtp.received)}, "
                        f"lost run {_state(api, victim)}; workers alive {alive}; stuck {stuck} "
                        f"deployments {deployments}; runs {dict(states)}")  # fmt: skip

            _wait(lambda: len(list(data.glob("compilations/*/.complete"))) >= DUE and len(smtp.received) >= DUE
                  and _state(api, victim) == "CRASHED" and not _left_behind(api, workers), seconds=300,
                  progress=progress)  # fmt: skip
            time.sleep(8)  # a few more scheduled runs: nothing may happen twice
            runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=10).json()
            flows = {f["id"]: f["name"] for f in httpx.post(f"{api}/flows/filter", json={}, timeout=10).json()}
            by_flow = Counter(f"{flows[r['flow_id']]} {r['state_type']}" for r in runs)
            chunks = {state: n for flow_state, n in by_flow.items() for flow, state in [flow_state.split(" ")]
                      if flow == "tick-chunk"}  # fmt: skip
            # Seven chunk runs (the tick run keeps the first of eight), and one for what the lost run left.
            assert set(chunks) == {"COMPLETED", "CRASHED"} and chunks["COMPLETED"] >= 4, by_flow
            assert by_flow["compile COMPLETED"] >= 1 and by_flow["deliver COMPLETED"] >= 1, by_flow
            assert not _left_behind(api, workers)  # nothing the dead worker held is left Pending or Running
        finally:
            stop(list(reversed(procs)))
    rows = session.execute(
        text("SELECT consultation_id, trigger, count(*) FROM audit_entry WHERE actor = 'system' "
             "GROUP BY consultation_id, trigger")
    ).all()  # fmt: skip
    assert len(rows) == 2 * DUE and {n for *_, n in rows} == {1}  # close and compile, once each
    ids = Counter(r.message["message-id"] for r in smtp.received)
    assert len(ids) == DUE and set(ids.values()) == {1}  # the staff alert of each, once each
    folders = sorted(data.glob("compilations/*"))
    assert len(folders) == DUE and all((f / ".complete").exists() and (f / "compilation.csv").exists()
                                       for f in folders)  # fmt: skip
    beat = session.execute(text("SELECT interval_s, by FROM clock_beat")).one()
    assert beat.interval_s == 5 and beat.by.startswith("prefect flow run ")


def _check_deployments(api: str, source: list[str]) -> None:
    deployment = httpx.get(f"{api}/deployments/name/tick/tick", timeout=10).json()
    assert deployment["parameters"] == {"interval": 5, "database_secret": "consult-db", "hand_off": True,
                                        "chunk_deployment": "tick-chunk/chunk", "chunk": CHUNK}  # fmt: skip
    if source:
        assert deployment["pull_steps"][0]["prefect.deployments.steps.git_clone"]["repository"] == source[1]
    assert deployment["global_concurrency_limit"]["limit"] == 1  # one run at a time
    assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    assert deployment["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
    for name, event in (("compile/compile", "consult.compilation.due"), ("deliver/deliver", "consult.mail.due")):
        hand_off = httpx.get(f"{api}/deployments/name/{name}", timeout=10).json()
        assert hand_off["parameters"] == {"database_secret": "consult-db"}
        limit = hand_off["global_concurrency_limit"]  # compile runs in parallel, each on its consultations
        assert (limit or {}).get("limit") == (1 if name.startswith("deliver") else None), limit
        automations = httpx.post(f"{api}/automations/filter", json={}, timeout=10).json()
        (trigger,) = [a for a in automations if a["name"] == f"consult: {event}"]
        assert trigger["trigger"]["expect"] == [event]
        assert trigger["actions"][0]["deployment_id"] == hand_off["id"]
    automations = httpx.post(f"{api}/automations/filter", json={}, timeout=10).json()
    (zombie,) = [a for a in automations if a["name"] == "consult: crash silent tick runs"]
    assert zombie["actions"][0]["state"] == "CRASHED" and zombie["trigger"]["posture"] == "Proactive"


def _kill_a_worker_mid_chunk(api: str, session: Session, workers: list[subprocess.Popen]) -> str:
    """Wait for a chunk run half way through its consultations (some compiled, some not),
    then kill -9 the run's process and the worker that started it: the machine is gone.
    Returns the run's id."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        filter_ = {"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}},
                   "flows": {"name": {"any_": ["tick-chunk"]}}}  # fmt: skip
        for run in httpx.post(f"{api}/flow_runs/filter", json=filter_, timeout=10).json():
            ids = run["parameters"]["ids"]
            compiled = "SELECT count(*) FROM consultation WHERE stage = 'compiled' AND id = ANY(:ids)"
            done = session.execute(text(compiled), {"ids": ids}).scalar_one()
            session.rollback()
            pid = int((run.get("infrastructure_pid") or "0:0").rpartition(":")[2])
            if 0 < done < len(ids) // 2 and pid:
                chain = _ancestors(pid)
                (worker,) = [w for w in workers if w.pid in chain]
                for doomed in (pid, worker.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(doomed, signal.SIGKILL)
                worker.wait(10)
                return run["id"]
        time.sleep(0.2)
    raise TimeoutError("no chunk run was seen half way through its work")


def _left_behind(api: str, workers: list[subprocess.Popen]) -> list[str]:
    """Runs still Pending or Running though no live worker runs them: those the dead worker
    held (a Pending one it took but never started, the Running one it was killed in)."""
    live = {w.pid for w in workers if w.poll() is None}
    filter_ = {"flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING"]}}}}
    left = []
    now = datetime.now(UTC)
    for run in httpx.post(f"{api}/flow_runs/filter", json=filter_, timeout=10).json():
        pid = int((run.get("infrastructure_pid") or "0:0").rpartition(":")[2])
        since = datetime.fromisoformat(run["state"]["timestamp"].replace("Z", "+00:00"))
        starting = not pid and now - since < timedelta(seconds=30)  # a live worker's, just taken
        if not starting and not (pid and live & set(_ancestors(pid))):
            left.append(f"{run['name']} ({run['state_name']}, pid {pid or '-'})")
    return left


def _ancestors(pid: int) -> list[int]:
    chain = [pid]
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError):
            break
        chain.append(pid)
    return chain


def _state(api: str, run_id: str) -> str:
    return httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()["state_type"]


def _wait(condition, *, seconds: float, progress) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done in {seconds} s: {progress()}")
        time.sleep(2)


def _prefect_database(database_url: str) -> str:
    """A database of its own for Prefect's server, on the same throwaway cluster (asyncpg)."""
    from sqlalchemy import create_engine

    head, _, name = database_url.rpartition("/")
    admin = create_engine(f"{head}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE prefect_{name}"))
    admin.dispose()
    return f"{head.replace('postgresql+psycopg', 'postgresql+asyncpg')}/prefect_{name}"

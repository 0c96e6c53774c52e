"""The embedded clock: the database lease, and two `consult serve` processes on one
database — one clock ticks, the other stands by, each transition happens once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from notifications.catcher import free_port
from store import lease
from tests.processes import stop, wait_for_count
from tests.smtp import SmtpTestServer
from tests.test_flows import open_consultations

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_one_holder_at_a_time(engine: Engine) -> None:
    ttl = timedelta(seconds=30)
    with Session(engine) as s:
        assert lease.acquire(session=s, name="clock", holder="a", now=T0, ttl=ttl)
        assert not lease.acquire(session=s, name="clock", holder="b", now=T0 + timedelta(seconds=10), ttl=ttl)
        assert lease.acquire(session=s, name="clock", holder="a", now=T0 + timedelta(seconds=20), ttl=ttl)  # renews
        assert not lease.acquire(session=s, name="clock", holder="b", now=T0 + timedelta(seconds=45), ttl=ttl)
        assert lease.acquire(session=s, name="clock", holder="b", now=T0 + timedelta(seconds=51), ttl=ttl)  # expired
        lease.release(session=s, name="clock", holder="b")
        assert lease.acquire(session=s, name="clock", holder="a", now=T0 + timedelta(seconds=52), ttl=ttl)


def test_the_lease_is_renewed_while_a_long_tick_runs(engine: Engine) -> None:
    """A tick longer than the lease's life (two intervals) keeps it: no second clock
    starts a tick meanwhile; once the tick ends, renewal stops and the lease runs out.
    On the database's clock throughout (no `now` given)."""
    from flows.clock import LEASE, keep_lease, lease_life

    interval = 0.4
    said: list[str] = []
    with Session(engine) as s:
        assert lease.acquire(session=s, name=LEASE, holder="ticking", ttl=lease_life(interval))
    with keep_lease(engine=engine, holder="ticking", interval=interval, announce=said.append):
        for _ in range(4):  # 8 intervals in all: well past the first lease's life
            time.sleep(2 * interval)
            with Session(engine) as s:
                assert not lease.acquire(session=s, name=LEASE, holder="other", ttl=lease_life(interval))
    time.sleep(2.5 * interval)  # no longer renewed: it expires
    with Session(engine) as s:
        assert lease.acquire(session=s, name=LEASE, holder="other", ttl=timedelta(seconds=1))
    assert said == []


def test_the_database_clock_is_the_lease_s(engine: Engine) -> None:
    with Session(engine) as s:
        first = lease.database_now(s)
        time.sleep(0.05)
        second = lease.database_now(s)  # inside one transaction, time still moves (PostgreSQL's now() would not)
    assert first.tzinfo is not None and abs(first - datetime.now(UTC)) < timedelta(seconds=5) and second > first


def serve(database_url: str, smtp_port: int, home: Path) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CONSULT_", "PREFECT_"))},
        "CONSULT_DATABASE_URL": database_url, "CONSULT_SMTP_HOST": "127.0.0.1", "CONSULT_SMTP_PORT": str(smtp_port),
        "CONSULT_DATA_DIR": str(home), "CONSULT_NOW": "2017-08-20T12:00:00Z",
    }  # fmt: skip
    consult = Path(sys.executable).parent / "consult"
    args = [str(consult), "serve", "--interval", "2", "--port", str(free_port())]
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


@pytest.mark.slow
def test_two_servers_one_clock(session: Session, database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the lease is tested on both databases above; one backend is enough for this process test")
    open_consultations(session, 20)
    with SmtpTestServer() as server:
        procs = [serve(database_url, server.port, tmp_path / f"s{i}") for i in range(2)]
        try:
            compiled = wait_for_count(session, "SELECT count(*) FROM consultation WHERE stage = 'compiled'",
                                      at_least=20, seconds=120)  # fmt: skip
            time.sleep(4)  # two more intervals: a second clock would have ticked by now
        finally:
            stop(procs, timeout=60)
            outputs = [p.stdout.read() for p in procs]  # type: ignore[union-attr]
    assert compiled == 20, outputs
    counts = session.execute(
        text("SELECT trigger, count(*) FROM audit_entry WHERE actor = 'system' GROUP BY trigger")
    ).all()  # fmt: skip
    assert dict(counts) == {"close_submissions": 20, "compile": 20}
    holders = session.execute(text("SELECT count(*) FROM clock_lease")).scalar()
    assert holders == 1
    assert all("clock: ticking every 2 s" in out for out in outputs)


def _holder(session: Session) -> str:
    holder = session.execute(text("SELECT holder FROM clock_lease WHERE expires_at IS NOT NULL")).scalar() or ""
    session.rollback()
    return holder


def _until(check, seconds: float) -> float:
    """Seconds until `check()` holds (polled every 0.1 s); fails after `seconds`."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < seconds, "timed out"
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.mark.slow
def test_the_clock_hands_over_at_once_after_ctrl_c_and_within_three_intervals_after_kill_9(
    session: Session, database_url: str, tmp_path: Path
) -> None:
    """Three `consult serve` on one database, each firing every 2 s. A holds the lease; A is
    stopped with Ctrl-C: it releases the lease on its way out and B, standing by, takes
    it at its next firing (within one interval). B is killed with -9: it cannot release,
    so C takes over once the lease (two intervals) has run out — within three intervals."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the lease is tested on both databases above; one backend is enough for this process test")
    import signal

    interval = 2
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CONSULT_", "PREFECT_"))},
           "CONSULT_DATABASE_URL": database_url, "CONSULT_SMTP_HOST": "127.0.0.1", "CONSULT_SMTP_PORT": "9",
           # Nothing is due, so no flow runs: no Prefect server is needed or started.
           "PREFECT_API_URL": "http://127.0.0.1:9/api"}  # fmt: skip
    consult = str(Path(sys.executable).parent / "consult")
    procs: dict[str, subprocess.Popen] = {}
    logs: dict[str, Path] = {}

    def start(name: str) -> None:
        logs[name] = tmp_path / f"{name}.log"
        procs[name] = subprocess.Popen(
            [consult, "serve", "--interval", str(interval), "--port", str(free_port())],
            env={**env, "CONSULT_DATA_DIR": str(tmp_path / name)}, stdout=logs[name].open("w"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        _until(lambda: "clock: ticking every" in logs[name].read_text(), 60)

    def holds(name: str) -> bool:
        return f":{procs[name].pid}:" in _holder(session)

    try:
        start("a")
        _until(lambda: holds("a"), 10)
        start("b")
        time.sleep(2 * interval)  # B fires and stands by
        assert holds("a")
        procs["a"].send_signal(signal.SIGINT)
        handed = _until(lambda: holds("b"), 3 * interval)
        assert handed <= interval + 1, handed  # at B's next firing
        procs["a"].wait(30)
        assert "stopped" in logs["a"].read_text()
        start("c")
        time.sleep(2 * interval)
        assert holds("b")
        procs["b"].send_signal(signal.SIGKILL)
        taken = _until(lambda: holds("c"), 6 * interval)
        assert taken <= 3 * interval + 1, taken
    finally:
        stop([p for p in procs.values() if p.poll() is None], timeout=30)

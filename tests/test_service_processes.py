"""`consult serve` and `consult tick` stop like a real service: whatever stops them (Ctrl-C,
SIGTERM, SIGKILL), nothing they started — the temporary Prefect server above all, ~200 MB
each — is left running. Each process here carries its own mark (tests/leaks.py), so the
count covers everything it started, however deep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlmodel import Session

from notifications.catcher import free_port
from tests.leaks import MARK, marked
from tests.test_flows import open_consultations

pytestmark = pytest.mark.slow
CONSULT = str(Path(sys.executable).parent / "consult")


def _env(database_url: str, home: Path, token: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("CONSULT_", "PREFECT_"))}
    return {**keep, MARK: token, "CONSULT_DATABASE_URL": database_url, "CONSULT_DATA_DIR": str(home),
            "CONSULT_NOW": "2017-08-20T12:00:00Z"}  # fmt: skip


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([CONSULT, "serve", "--interval", "2", "--port", str(free_port())], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def _wait_for(log: Path, text: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.25)
    raise AssertionError(f"{text!r} never appeared:\n{log.read_text(errors='replace')}")


def _survivors(token: str, seconds: float = 20) -> list[tuple[int, str]]:
    deadline = time.monotonic() + seconds
    while (left := marked(token, exclude=set())) and time.monotonic() < deadline:
        time.sleep(0.25)
    return left


@pytest.fixture
def sqlite_url(database_url: str) -> str:
    if not database_url.startswith("sqlite"):
        pytest.skip("processes are counted once, on SQLite; the database plays no part in it")
    return database_url


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_serve_stopped_leaves_nothing(how: signal.Signals, sqlite_url: str, session: Session, tmp_path: Path) -> None:
    open_consultations(session, 2)  # due work: the clock runs a flow on the temporary server
    token, log = uuid.uuid4().hex, tmp_path / "serve.log"
    proc = _serve(_env(sqlite_url, tmp_path, token), log)
    try:
        _wait_for(log, "temporary server ready")
        _wait_for(log, "close-submissions")
        said = log.read_text()  # outside the demo, localhost defaults are warned of on start
        assert "warning: links in mail point at http://127.0.0.1:" in said and "set CONSULT_MAIL_FROM" in said
        _wait_for(log, "clock: compilation written:")  # by a writer process of its own (flows/compiler.py)
        deadline = time.monotonic() + 10  # the writer ends, and the clock's next firing reaps it
        while len(marked(token, exclude=set())) > 2 and time.monotonic() < deadline:
            time.sleep(0.25)
        assert len(marked(token, exclude=set())) == 2  # serve and its one Prefect server
        proc.send_signal(how)
        assert proc.wait(60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert _survivors(token) == []


def test_serve_killed_and_restarted_leaves_nothing(sqlite_url: str, tmp_path: Path) -> None:
    token, log = uuid.uuid4().hex, tmp_path / "serve.log"
    env = _env(sqlite_url, tmp_path, token)
    first = _serve(env, log)
    _wait_for(log, "temporary server ready")
    first.send_signal(signal.SIGKILL)  # only serve itself: the kernel must stop its server
    first.wait(10)
    assert _survivors(token) == []
    second = _serve(env, log := tmp_path / "serve-again.log")
    try:
        _wait_for(log, "dashboard:")
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
    assert _survivors(token) == []


def test_tick_with_work_says_what_it_waits_for_and_leaves_nothing(
    sqlite_url: str, session: Session, tmp_path: Path
) -> None:
    open_consultations(session, 1)
    token = uuid.uuid4().hex
    done = subprocess.run([CONSULT, "tick"], env=_env(sqlite_url, tmp_path, token), capture_output=True, text=True,
                          timeout=240)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "prefect: waiting for the temporary server" in done.stderr
    assert "c-0: open → closed (close-submissions)" in done.stdout
    assert _survivors(token) == []


def test_serve_with_web_workers_answers_from_each_and_stops_them_all(
    sqlite_url: str, session: Session, tmp_path: Path
) -> None:
    """`consult serve --workers 2`: the app in two uvicorn worker processes (each built from
    the environment `serve` prepared), the clock in serve's own; SIGTERM stops every one."""
    import urllib.request

    open_consultations(session, 1)
    token, log, port = uuid.uuid4().hex, tmp_path / "serve.log", free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen([CONSULT, "serve", "--no-clock", "--workers", "2", "--port", str(port), "--demo"],
                                env=_env(sqlite_url, tmp_path, token), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        _wait_for(log, "dashboard: http://")
        deadline, pages = time.monotonic() + 60, []
        while time.monotonic() < deadline and len(pages) < 20:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/board", timeout=5) as answer:
                    pages.append(answer.read().decode())
            except OSError:
                time.sleep(0.25)
        assert len(pages) == 20 and all('data-slug="c-0"' in page for page in pages)
        assert len(marked(token, exclude=set())) >= 3  # serve, and its two workers
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert _survivors(token) == []

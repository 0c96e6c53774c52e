"""Helpers for tests that run real processes: wait on the database, stop process groups."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

from sqlalchemy import text
from sqlmodel import Session


def wait_for_count(session: Session, sql: str, *, at_least: int, seconds: float, every: float = 0.5) -> int:
    """Poll a `SELECT count(*)` until it reaches `at_least` or time runs out; returns the last count."""
    deadline = time.monotonic() + seconds
    while True:
        count = session.execute(text(sql)).scalar_one()
        session.rollback()  # a fresh snapshot next time
        if count >= at_least or time.monotonic() > deadline:
            return count
        time.sleep(every)


def stop(procs: list[subprocess.Popen], *, timeout: float = 30) -> None:
    """SIGINT each process, then kill its whole session (temporary Prefect servers, flow-run
    subprocesses) so that nothing outlives the test."""
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)

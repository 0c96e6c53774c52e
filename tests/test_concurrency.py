"""Two processes fire the same trigger on the same consultation at once: exactly one
wins, the other gets a clear conflict error, and the log holds one row for it."""

from __future__ import annotations

import multiprocessing
from datetime import date

import pytest
from sqlmodel import Session

from states import Stage
from store import consultations as repo
from tests.factories import consultation_in, geneva
from tests.race import fire_once

ROUNDS = 3


@pytest.mark.slow
def test_two_processes_one_winner(session: Session, database_url: str) -> None:
    spawn = multiprocessing.get_context("spawn")
    for round_ in range(ROUNDS):
        c = consultation_in(session, Stage.OPEN, slug=f"race-{round_}")
        barrier, results = spawn.Barrier(2), spawn.Queue()
        now = geneva(date(2017, 8, 20), 0, 1).isoformat()
        procs = [
            spawn.Process(target=fire_once, args=(database_url, c.slug, "close_submissions", now, barrier, results))
            for _ in range(2)
        ]
        for p in procs:
            p.start()
        outcomes = sorted(results.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(timeout=30)
        kinds = [kind for kind, _ in outcomes]
        assert kinds == ["conflict", "ok"], outcomes
        assert "changed by someone else" in outcomes[0][1] or "being changed" in outcomes[0][1]
        session.expire_all()
        log = repo.audit_log(session=session, consultation_id=c.id)
        assert [e.trigger for e in log].count("close_submissions") == 1
        assert repo.get(session=session, ref=c.slug).stage == "closed"
        assert repo.replayed_stage(session=session, consultation_id=c.id) == Stage.CLOSED

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


@pytest.mark.parametrize("same", [True, False], ids=["same-response", "different-response"])
def test_two_submissions_from_one_address_at_once(session: Session, engine, same: bool) -> None:
    """The unique (consultation, e-mail) key decides inside one INSERT: the same response
    racing itself is stored once (the loser hears it was already there); a different one
    from the same, unconfirmed address replaces it. One row either way."""
    import threading

    from sqlmodel import select

    from store.models import SubmissionCreate
    from store.submissions import AlreadyResponded, submit
    from store.tables import Submission

    c = consultation_in(session, Stage.OPEN, slug="intake-race")
    barrier, outcomes = threading.Barrier(2), []

    def one(summary: str) -> None:
        data = SubmissionCreate(name="Racer", category="other", country="CH", email="racer@example.org",
                                summary=summary, answers=[{"question": 1, "text": "x"}])  # fmt: skip
        with Session(engine, expire_on_commit=False) as s:
            barrier.wait()
            try:
                received = submit(session=s, consultation=c, data=data, now=geneva(date(2017, 7, 1)), channel="api")
                s.commit()
                outcomes.append("created" if received.created else "already")
            except AlreadyResponded:
                s.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=one, args=("s" if same else f"s{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # A different response from an address nobody has confirmed replaces the first (whoever
    # typed someone else's address cannot lock its owner out): one row either way.
    assert sorted(outcomes) == (["already", "created"] if same else ["created", "created"])
    rows = session.exec(select(Submission).where(Submission.consultation_id == c.id)).all()
    assert len(rows) == 1

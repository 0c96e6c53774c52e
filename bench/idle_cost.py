"""What the clock costs while nothing is due.

A scheduled deployment on a process worker starts a Python process per run, however empty:
that process must at least start Python and import the flow (Prefect with it) — measured
here as the CPU seconds of `python -c "import flows.tick"` (user + system, children's
rusage), a floor under a real empty run. Against it: one firing of `consult serve`'s
embedded clock while idle (take the lease, the due checks, the heartbeat: the path that
decides no run is needed, for the in-process tick and for CONSULT_TICK_DEPLOYMENT alike),
measured as the CPU time of the process over 200 firings on a database of 10,000
consultations, none due. The ratio is the firing's cost ÷ the empty run's floor.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime

from bench.common import median, scratch_engine
from config import Policy, Settings

FIRINGS = 200
ROUNDS = 5


def _import_cost() -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", "import flows.tick"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _seed(engine, n: int) -> None:
    from sqlmodel import Session

    from store import consultations as repo
    from store.decision_file import parse_decision

    with Session(engine) as s:
        for i in range(n):
            data = parse_decision({"slug": f"c-{i}", "decided_on": date(2030, 1, 10), "letter_date": date(2030, 2, 1),
                                   "deadline": date(2030, 4, 1), "meeting_on": date(2030, 5, 1),
                                   "title": {"en": f"Consultation {i}"}, "questions": [{"en": "Q?"}]},
                                  policy=Policy())  # fmt: skip
            repo.create_consultation(session=s, data=data, proposed=False, actor="bench", now=datetime(2029, 12, 1,
                                     tzinfo=UTC), policy=Policy())  # fmt: skip
        s.commit()


def run() -> dict:
    from flows.clock import Clock

    engine, folder = scratch_engine("idle")
    try:
        _seed(engine, 10_000)
        settings = Settings(database_url=str(engine.url), data_dir=folder, policy=Policy(),
                            now=datetime(2029, 12, 2, tzinfo=UTC))  # fmt: skip
        clock = Clock(settings=settings, interval=30, server=None, announce=lambda _: None)
        firings = []
        for _ in range(ROUNDS):
            start = time.process_time()
            for _ in range(FIRINGS):
                assert clock.fire() == "nothing due"
            firings.append((time.process_time() - start) / FIRINGS)
        clock.release()
        imports = [_import_cost() for _ in range(ROUNDS)]
    finally:
        engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    firing, floor = median(firings), median(imports)
    return {
        "idle firing of the embedded clock (CPU s, median of 5 × 200)": f"{firing:.4f}",
        "floor of one empty run in a new process: `import flows.tick` (CPU s, median of 5)": f"{floor:.2f}",
        "ratio (firing ÷ empty-run floor)": f"{firing / floor:.4f}",
        "a day at a 30 s interval: idle firings (CPU s)": f"{firing * 2880:.1f}",
        "a day at a 30 s interval: empty runs, floor (CPU s)": f"{floor * 2880:.0f}",
    }

"""The body of one racing process (module-level so that `spawn` can import it)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from config import Policy
from states import Trigger
from store import consultations as repo
from store.db import make_engine
from tests.factories import change_stage


def fire_once(url: str, slug: str, trigger: str, now_iso: str, barrier, results) -> None:
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            c = repo.get(session=session, ref=slug)
            barrier.wait(timeout=30)  # both have read version N before either writes
            try:
                change_stage(
                    session=session, consultation=c, trigger=Trigger(trigger), actor="staff:race",
                    now=datetime.fromisoformat(now_iso), policy=Policy(),
                )  # fmt: skip
                session.commit()
                results.put(("ok", ""))
            except repo.ConflictError as exc:
                results.put(("conflict", str(exc)))
            except Exception as exc:  # reported to the test, which fails on it
                results.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        engine.dispose()

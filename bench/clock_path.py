"""A reminder behind a big compilation: how long the mail of a firing waits.

One consultation of 100,000 published responses is due to close (so its compilation is
written) and a reminder sits in the outbox. The tick with the files written inline (as
`consult tick` does, and as `consult serve`'s clock did) against the embedded clock's
firing, whose files come from a writer process of its own (flows/compiler.py); each on a
fresh copy of the same SQLite database, against one temporary Prefect server, the mail to
an aiosmtpd sink that notes when it arrives.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bench.common import ott_consultation, scratch_engine

N = int(os.environ.get("BENCH_CLOCK_RESPONSES", "100000"))
NOW = datetime(2017, 8, 20, 12, tzinfo=UTC)


def _database(folder: Path) -> Path:
    from datetime import date

    from sqlmodel import Session

    from config import MailSettings, Policy
    from notifications.notices import queue_reminders
    from notifications.registry import import_stakeholders
    from states import Stage
    from store import consultations as repo
    from store.decision_file import parse_decision
    from store.models import StakeholderCreate

    engine, made = scratch_engine("clock-path")
    ott_consultation(engine, now=NOW, open_it=True)
    with Session(engine) as s:  # another consultation, still open, whose reminder waits in the outbox
        data = parse_decision({"slug": "other-2017", "title": {"en": "Another"}, "questions": [{"en": "Q?"}],
                               "decided_on": date(2017, 6, 1), "letter_date": date(2017, 7, 1),
                               "deadline": date(2017, 9, 30), "meeting_on": date(2017, 10, 30)},
                              policy=Policy())  # fmt: skip
        other = repo.create_consultation(session=s, data=data, proposed=False, actor="bench", now=NOW,
                                         policy=Policy()).consultation  # fmt: skip
        other.stage = Stage.OPEN.value
        ott = repo.get(session=s, ref="ott-2017")
        for c in (ott, other):
            repo.refresh_timer(c, policy=Policy(), now=datetime(2017, 7, 1, tzinfo=UTC))  # ott's deadline: due
        import_stakeholders(session=s, rows=[StakeholderCreate(name="Reader", email="reader@bench.example",
                                                                category="other", language="en")], now=NOW)  # fmt: skip
        queue_reminders(session=s, consultation=other, offset_days=40, now=NOW, mail=MailSettings())
        s.commit()
    path = Path(engine.url.database)  # type: ignore[arg-type]
    engine.dispose()
    rows = ((1, f"R-{i:010x}", f"Person {i}", "Org", "other", "CH", f"p{i}@bench.example", "en", "A summary.",
             json.dumps([{"question": 1, "text": "An answer of some length. " * 12}]), "import", 1, "",
             "2017-07-01 10:00:00.000000", "2017-07-01 10:00:00.000000", "import") for i in range(N))  # fmt: skip
    conn = sqlite3.connect(path)
    conn.executemany("INSERT INTO submission (consultation_id, reference, name, organisation, category, country, "
                     "email, language, summary, answers, channel, published, content_hash, received_at, confirmed_at, "
                     "confirmed_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)  # fmt: skip
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    target = folder / "clock-path.db"
    shutil.move(path, target)
    shutil.rmtree(made, ignore_errors=True)
    return target


class Sink:
    """An SMTP sink that notes when each message arrives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from notifications.catcher import free_port

        self.arrived: list[float] = []
        self.lock = threading.Lock()
        owner = self

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:
                with owner.lock:
                    owner.arrived.append(time.monotonic())
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()


def _complete(data_dir: Path) -> bool:
    return (data_dir / "compilations" / "ott-2017" / ".complete").exists()


def run() -> dict:
    from config import Policy, Settings
    from flows.clock import Clock
    from flows.prefect_server import TemporaryPrefectServer
    from flows.runtime import run_tick

    folder = Path(tempfile.mkdtemp(prefix="consult-bench-clockpath-"))
    sink = Sink()
    server = TemporaryPrefectServer(data_dir=folder, announce=lambda _: None).start()
    try:
        template = _database(folder)
        results: dict[str, tuple[float, float]] = {}
        for way in ("warm-up", "inline", "writer"):  # the first flow run on a server pays its start
            db, data = folder / f"{way}.db", folder / way
            shutil.copy(template, db)
            settings = replace(Settings(database_url=f"sqlite:///{db}", data_dir=data, policy=Policy(), now=NOW),
                               smtp_host="127.0.0.1", smtp_port=sink.port)  # fmt: skip
            sink.arrived.clear()
            os.environ["CONSULT_DATA_DIR"] = str(data)  # the flow run builds its settings from the environment
            start = time.monotonic()
            if way in ("warm-up", "inline"):
                run_tick(settings=settings, now=NOW, server=server, announce=lambda _: None)
                clock = None
            else:
                clock = Clock(settings=settings, interval=30, server=server, announce=lambda _: None)
                clock.fire()
            while not sink.arrived and time.monotonic() - start < 600:
                time.sleep(0.05)
            mail = sink.arrived[0] - start
            if clock is not None:
                clock.compiler.wait(1200)
                clock.release()
            assert _complete(data), way
            files = time.monotonic() - start  # (inline: the tick returned with them written)
            results[way] = (mail, files)
    finally:
        server.stop()
        sink.controller.stop()
        shutil.rmtree(folder, ignore_errors=True)
    (mail_in, files_in), (mail_now, files_now) = results["inline"], results["writer"]
    return {
        "published responses in the compilation": f"{N:,}",
        "files written inline (consult tick): the reminder arrived after (s)": round(mail_in, 1),
        "files written inline: files done after (s)": round(files_in, 1),
        "writer process (consult serve's clock): the reminder arrived after (s)": round(mail_now, 1),
        "writer process: files done after (s)": round(files_now, 1),
        "the reminder's wait, inline ÷ writer": round(mail_in / mail_now, 1),
    }


if __name__ == "__main__":
    print(run())

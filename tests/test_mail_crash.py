"""A deliverer killed between the server's "250 OK" and marking the message sent:
on restart that one message is sent again, with the same Message-ID, and nothing else is.

Made deterministic by holding a database write lock from the moment the server accepts
the third message: the deliverer is then provably waiting to mark it when SIGKILL lands.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session

from tests.smtp import Received, SmtpTestServer
from tests.test_mail import LETTER_DAY, add_people, all_messages, issue_letter


class WriteLock:
    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.conn = None

    def take(self) -> None:
        if self.url.drivername.startswith("sqlite"):
            self.conn = sqlite3.connect(self.url.database, isolation_level=None, check_same_thread=False)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.conn = psycopg.connect(self.url.set(drivername="postgresql").render_as_string(hide_password=False))
            self.conn.execute("LOCK TABLE outbox_message IN EXCLUSIVE MODE")

    def release(self) -> None:
        if self.conn is not None:
            self.conn.rollback() if isinstance(self.conn, psycopg.Connection) else self.conn.execute("ROLLBACK")
            self.conn.close()


def consult_mail_send(database_url: str, port: int, now) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CONSULT_")},
        "CONSULT_DATABASE_URL": database_url, "CONSULT_SMTP_HOST": "127.0.0.1", "CONSULT_SMTP_PORT": str(port),
        "CONSULT_SMTP_CONCURRENCY": "1", "CONSULT_MAIL_FROM": "CWG secretariat <cwg-internet@itu.int>",
        "CONSULT_BASE_URL": "https://consult.example",
    }  # fmt: skip
    consult = Path(sys.executable).parent / "consult"
    return subprocess.Popen(
        [str(consult), "mail", "send", f"--now={now.isoformat()}"], env=env, stdout=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_kill_between_250_and_mark_resends_only_that_message(session: Session, database_url: str) -> None:
    add_people(session)
    issue_letter(session)
    lock = WriteLock(database_url)
    holder: dict[str, subprocess.Popen] = {}

    def on_accept(item: Received) -> None:
        if len(server.received) == 3:
            lock.take()  # the deliverer will block marking message 3 as sent

            def kill() -> None:
                os.kill(holder["proc"].pid, signal.SIGKILL)
                holder["proc"].wait(timeout=10)
                lock.release()

            threading.Timer(1.0, kill).start()

    with SmtpTestServer() as server:
        server.behaviour.on_accept = on_accept
        holder["proc"] = consult_mail_send(database_url, server.port, LETTER_DAY)
        assert holder["proc"].wait(timeout=60) == -signal.SIGKILL
        third = server.received[2]
        statuses = Counter(m.status for m in all_messages(session))
        assert statuses == {"sent": 2, "sending": 4}  # 3 accepted, 2 marked; the rest claimed under a lease

        again = consult_mail_send(database_url, server.port, LETTER_DAY + timedelta(minutes=11))  # lease expired
        out, _ = again.communicate(timeout=60)
        assert again.returncode == 0 and "sent 4" in out

    ids = Counter(r.message["message-id"] for r in server.received)
    assert len(server.received) == 7 and len(ids) == 6
    assert [mid for mid, n in ids.items() if n > 1] == [third.message["message-id"]]
    resent = [r for r in server.received if r.message["message-id"] == third.message["message-id"]]
    assert resent[0].data == resent[1].data  # the same message, byte for byte
    assert {m.status for m in all_messages(session)} == {"sent"}

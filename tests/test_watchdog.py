"""When the clock stops, staff hear of it: each completed tick leaves a heartbeat; after
three intervals without one the staff board says so, and the web process mails the
contacts of the live consultations — once per stoppage — and delivers that alert itself."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from config import MailSettings, Settings
from flows.clock import Clock
from notifications import watchdog
from states import Stage
from store import heartbeat
from store.lease import database_now
from store.tables import ClockBeat, OutboxMessage
from tests.factories import POLICY, consultation_in
from tests.smtp import SmtpTestServer
from tests.web_fixtures import NOW, STAFF, client  # noqa: F401

MAIL = MailSettings(sender="Secretariat <cwg@itu.int>", base_url="https://consult.example")


def _age(session: Session, seconds: float) -> None:
    """Make the last beat `seconds` old on the database's clock."""
    row = session.get(ClockBeat, 1)
    row.completed_at = database_now(session) - timedelta(seconds=seconds)
    session.commit()


def test_stale_after_three_intervals_of_silence(session: Session) -> None:
    assert heartbeat.stale(session=session) is None  # never ran: nothing to say yet
    heartbeat.beat(session=session, interval=30, by="consult serve test")
    assert heartbeat.stale(session=session) is None
    _age(session, 80)
    assert heartbeat.stale(session=session) is None  # under three intervals
    _age(session, 100)
    stale = heartbeat.stale(session=session)
    assert stale is not None and stale.interval == 30 and stale.by == "consult serve test"


def test_an_idle_firing_of_the_embedded_clock_beats(engine: Engine, database_url: str, tmp_path) -> None:
    said: list[str] = []
    settings = Settings(database_url=database_url, data_dir=tmp_path, policy=POLICY)
    clock = Clock(settings=settings, interval=2, server=None, announce=said.append)
    try:
        assert clock.fire() == "nothing due"
    finally:
        clock.release()
    with Session(engine) as s:
        row = s.get(ClockBeat, 1)
        assert row is not None and row.interval_s == 2 and row.by.startswith("consult serve ")


def test_the_watchdog_mails_each_contact_once_and_sends_only_that(session: Session, engine: Engine, tmp_path) -> None:
    a = consultation_in(session, Stage.OPEN, slug="ott-2017")
    b = consultation_in(session, Stage.CLOSED, slug="gender-2017")  # the same contact
    consultation_in(session, Stage.REPORTED, slug="done-2016")  # owed nothing: not listed
    session.execute(text("UPDATE consultation SET letter_number = NULL WHERE slug = 'done-2016'"))
    session.commit()
    heartbeat.beat(session=session, interval=30, by="consult serve host:1")
    _age(session, 600)
    with SmtpTestServer() as smtp:
        settings = Settings(database_url=str(engine.url), data_dir=tmp_path, policy=POLICY, mail=MAIL,
                            smtp_host="127.0.0.1", smtp_port=smtp.port)  # fmt: skip
        assert watchdog.check(engine=engine, settings=settings, now=NOW) == 1
        assert watchdog.check(engine=engine, settings=settings, now=NOW + timedelta(minutes=1)) == 0  # once
        session.add(OutboxMessage(idempotency_key="other", message_id="<x@y>", consultation_id=None,
                                  stakeholder_id=None, purpose="test:other", language="en",
                                  recipient_email="someone@example.org", subject="s", status="pending", attempts=0,
                                  next_attempt_at=NOW, created_at=NOW))  # fmt: skip
        session.commit()
        said = asyncio.run(watchdog.send_alerts(engine=engine, settings=settings, now=NOW))
        assert said.startswith("sent 1,"), said
        (received,) = smtp.received
    message = received.message
    assert received.recipients == [a.contact_email] and message["Subject"] == "Staff alert: the clock has stopped"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "every 30 s" in body and "consult serve host:1" in body
    assert a.letter_number in body and b.letter_number in body and "done-2016" not in body
    other = session.exec(select(OutboxMessage).where(OutboxMessage.purpose == "test:other")).one()
    assert other.status == "pending"  # the watchdog sends its alert, nothing else


def test_the_staff_board_says_the_clock_stopped(client: TestClient, session: Session) -> None:  # noqa: F811
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/login").text).group(1)
    client.post("/staff/login", data={"csrf": token, "name": STAFF[0], "password": STAFF[1]})
    assert 'id="clock-stale"' not in client.get("/staff").text
    heartbeat.beat(session=session, interval=30, by="prefect flow run tidy-otter")
    _age(session, 3600)
    board = client.get("/staff").text
    assert 'id="clock-stale"' in board and "prefect flow run tidy-otter" in board and "every 30 s" in board

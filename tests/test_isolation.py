"""One bad record never stops the clock: internationalised addresses are delivered (IDNA
for the domain, SMTPUTF8 for a non-ASCII local part, against a real SMTP server), an
address a server cannot take fails alone, and a consultation whose work fails is skipped
while every other one closes on time."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from flows import work
from notifications.delivery import SmtpServer, deliver
from notifications.mime import smtp_address
from states import Stage
from store.tables import Consultation, OutboxMessage
from tests.factories import consultation_in, geneva
from tests.smtp import SmtpTestServer
from tests.test_mail import MAIL, PEOPLE, SETTINGS, add_people, all_messages, issue_letter

WORLD = [
    ("Bücher GmbH", "info@bücher.example", "sector_member", "DE", "en"),  # IDN domain: punycode, plain SMTP
    ("王伟", "用户@例子.广告", "member_state", "CN", "zh"),  # non-ASCII mailbox: SMTPUTF8
    ("Nobody", "nobody@unreachable.example", "other", "US", "en"),  # refused by the server
]


def _deliver(engine: Engine, server: SmtpTestServer, now):
    return asyncio.run(deliver(engine=engine, server=SmtpServer("127.0.0.1", server.port, timeout=5), mail=MAIL,
                               now=now))  # fmt: skip


def test_addresses_as_smtp_takes_them() -> None:
    assert smtp_address("info@bücher.example") == ("info@xn--bcher-kva.example", False)
    assert smtp_address("用户@例子.广告") == ("用户@xn--fsqu00a.xn--4rr70v", True)
    assert smtp_address("a@example.org") == ("a@example.org", False)


@pytest.mark.parametrize("smtputf8", [True, False])
def test_internationalised_addresses_are_delivered_or_fail_alone(session: Session, engine: Engine,
                                                                  smtputf8: bool) -> None:  # fmt: skip
    add_people(session, PEOPLE + WORLD)
    issue_letter(session)
    with SmtpTestServer(smtputf8=smtputf8) as server:
        server.behaviour.rcpt["nobody@unreachable.example"] = "550 5.1.1 No such user"
        report = _deliver(engine, server, geneva(date(2017, 6, 14), 12))
    got = server.by_recipient()
    assert "info@xn--bcher-kva.example" in got  # the domain as punycode
    assert got["info@xn--bcher-kva.example"][0].message["To"].addresses[0].domain == "xn--bcher-kva.example"
    status = {m.recipient_email: (m.status, m.last_error) for m in all_messages(session)}
    assert status["nobody@unreachable.example"][0] == "bounced"
    if smtputf8:
        (chinese,) = got["用户@xn--fsqu00a.xn--4rr70v"]
        assert "用户@" in chinese.data.decode("utf-8")  # the header in UTF-8 (RFC 6532)
        assert (report.sent, report.failed) == (len(PEOPLE) + 2, 1)
    else:
        assert status["用户@例子.广告"] == ("failed", "the server does not offer SMTPUTF8, which the address "
                                                   "用户@例子.广告 needs (a non-ASCII local part)")  # fmt: skip
        assert (report.sent, report.failed) == (len(PEOPLE) + 1, 2)


def test_fifty_due_at_once_with_one_broken_record_close_on_time(session: Session, engine: Engine,
                                                                 database_url: str) -> None:  # fmt: skip
    if not database_url.startswith("sqlite"):
        pytest.skip("one backend is enough for fifty consultations; the isolation is the same code")
    add_people(session, PEOPLE + WORLD)
    opened = [consultation_in(session, Stage.OPEN) for _ in range(50)]
    broken = opened[17]
    broken.reminder_offsets = [10**6]  # absurd, written behind the validation: the clock's work overflows
    session.commit()
    day_before = geneva(date(2017, 8, 18), 12)  # every consultation owes its 1-day reminder now
    report = work.advance_all_due(engine=engine, now=day_before, settings=SETTINGS)
    assert any(f"consultation {broken.id}: failed (OverflowError" in line for line in report.skipped)
    reminded = {m.consultation_id for m in all_messages(session) if m.purpose.startswith("reminder:1:")}
    assert len(reminded) == 49 and broken.id not in reminded  # the others were not held up
    session.expire_all()
    assert broken.clock_failures == 1 and "OverflowError" in (broken.clock_error or "")  # kept for staff
    assert broken.next_due_at == day_before + timedelta(minutes=1)  # retried with backoff, not every tick
    for minutes in (1, 3):  # the second and third failures in a row: the contact is alerted at the third
        work.advance_all_due(engine=engine, now=day_before + timedelta(minutes=minutes), settings=SETTINGS)
    session.expire_all()
    assert broken.clock_failures == 3 and broken.next_due_at == day_before + timedelta(minutes=3 + 4)
    alerts = [m for m in all_messages(session) if m.purpose == "alert_clock_failing"]
    assert [(m.consultation_id, m.recipient_email) for m in alerts] == [(broken.id, broken.contact_email)]
    after_deadline = geneva(date(2017, 8, 20), 0, 5)
    work.advance_all_due(engine=engine, now=after_deadline, settings=SETTINGS)
    session.expire_all()
    stages = [c.stage for c in session.exec(select(Consultation))]
    assert stages.count("compiled") == 50  # all closed on time (past the deadline nothing trips it)
    assert broken.clock_failures == 0 and broken.clock_error is None  # it worked again: the failure is cleared
    with SmtpTestServer(smtputf8=True) as server:
        _deliver(engine, server, after_deadline)
    assert session.exec(select(OutboxMessage).where(OutboxMessage.status == "pending")).all() == []

"""Mail under control, against a real SMTP server on 127.0.0.1: never a stale notice
(checked against the consultation as it is when the message is due), reminders that say
the time left truthfully, previews that are the bytes later sent, Reply-To, hold and
resume, retry, and a test send."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.main import app
from notifications import outbox
from notifications.notices import preview, queue_reminders, queue_test
from notifications.outbox import raw_of
from states import Stage, Trigger
from states.dates import time_left
from states.languages import LANGUAGES
from states.timing import deadline_instant
from store.tables import Stakeholder
from tests.factories import STAFF, advance, consultation_in, geneva
from tests.smtp import SmtpTestServer
from tests.test_mail import LETTER_DAY, MAIL, PEOPLE, SETTINGS, add_people, all_messages, issue_letter, send

OPENED = geneva(date(2017, 6, 14), 11)


def _open(session: Session):
    c = issue_letter(session)
    advance(session=session, consultation=c, trigger=Trigger.OPEN_SUBMISSIONS, actor=STAFF, now=OPENED,
            settings=SETTINGS)  # fmt: skip
    session.commit()
    return c


@pytest.mark.parametrize("batch", [1000, 2])
def test_cancelling_with_mail_still_queued_sends_the_cancellation_only(
    session: Session, engine: Engine, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With claims of 2, the first nine windows hold only superseded mail: delivery goes on
    to the next window rather than stopping at an empty claim."""
    from notifications import delivery

    monkeypatch.setattr(delivery, "BATCH", batch)
    add_people(session)
    c = _open(session)  # the invitations are queued, not yet delivered
    advance(session=session, consultation=c, trigger=Trigger.EXTEND_DEADLINE, actor=STAFF,
            now=geneva(date(2017, 8, 1)), settings=SETTINGS,
            new_deadline=deadline_instant(date(2017, 8, 26), "Europe/Geneva"), reason="requests")  # fmt: skip
    queue_reminders(session=session, consultation=c, offset_days=14, now=geneva(date(2017, 8, 12)), mail=MAIL)
    advance(session=session, consultation=c, trigger=Trigger.CANCEL, actor=STAFF, now=geneva(date(2017, 8, 13)),
            settings=SETTINGS, reason="a test round")  # fmt: skip
    session.commit()
    assert len(all_messages(session)) == 4 * len(PEOPLE)  # invitation, extension, reminder, cancellation
    with SmtpTestServer() as server:
        report = send(engine, server, now=geneva(date(2017, 8, 13), 12))
    got = server.by_recipient()
    assert sorted(got) == sorted(e for _, e, *_ in PEOPLE)
    cancellations = {m.recipient_email: m.message_id for m in all_messages(session) if m.purpose == "cancelled"}
    for email, received in got.items():
        (only,) = received  # exactly one message each: the cancellation
        assert only.message["Message-ID"] == cancellations[email]
    assert (report.sent, report.superseded) == (len(PEOPLE), 3 * len(PEOPLE))
    statuses = {(m.purpose.split(":")[0], m.status) for m in all_messages(session)}
    assert statuses == {("invitation", "superseded"), ("extended", "superseded"), ("reminder", "superseded"),
                        ("cancelled", "sent")}  # fmt: skip
    reasons = {m.last_error for m in all_messages(session) if m.status == "superseded"}
    assert reasons == {"superseded: the consultation was cancelled before this went out"}


def test_a_reminder_whose_deadline_moved_is_superseded_and_the_reminders_re_arm(
    session: Session, engine: Engine
) -> None:
    add_people(session)
    c = _open(session)
    with SmtpTestServer() as server:
        send(engine, server, now=OPENED)  # the invitations go
        queue_reminders(session=session, consultation=c, offset_days=1, now=geneva(date(2017, 8, 18), 23, 59),
                        mail=MAIL)  # fmt: skip
        session.commit()
        advance(session=session, consultation=c, trigger=Trigger.EXTEND_DEADLINE, actor=STAFF,
                now=geneva(date(2017, 8, 19)), settings=SETTINGS,
                new_deadline=deadline_instant(date(2017, 8, 30), "Europe/Geneva"), reason="more time")  # fmt: skip
        session.commit()
        report = send(engine, server, now=geneva(date(2017, 8, 19), 12))
    assert (report.sent, report.superseded) == (len(PEOPLE), len(PEOPLE))  # the extension notice; not the reminder
    reminders = [m for m in all_messages(session) if m.purpose.startswith("reminder:")]
    assert {m.status for m in reminders} == {"superseded"}
    assert {m.last_error for m in reminders} == {
        "superseded: the deadline it speaks of changed or passed before it went out"
    }
    session.refresh(c)
    # 14 days before 30 August had passed already (the notice says it); the 7- and 1-day ones re-arm.
    assert c.last_reminder_days == 14
    again = queue_reminders(session=session, consultation=c, offset_days=1, now=geneva(date(2017, 8, 29), 23, 59),
                            mail=MAIL)  # fmt: skip
    assert again == len(PEOPLE)  # keyed by the new deadline: not taken for the old one


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_reminder_an_hour_before_the_deadline_says_hours(session: Session, lang: str) -> None:
    add_people(session)
    c = _open(session)
    assert c.deadline is not None
    queue_reminders(session=session, consultation=c, offset_days=1, now=c.deadline - timedelta(minutes=70), mail=MAIL)
    (message,) = [m for m in all_messages(session) if m.purpose.startswith("reminder") and m.language == lang]
    text = raw_of(session=session, message=message)
    from notifications.mime import text_of

    body = text_of(text)
    assert time_left(timedelta(hours=1), lang) in body
    assert time_left(timedelta(days=1), lang) not in body
    if lang == "en":
        assert "1 hour" in body


def test_preview_is_the_message_later_sent_with_reply_to(session: Session) -> None:
    add_people(session)
    c = issue_letter(session)
    amal = next(m for m in all_messages(session) if m.recipient_email == "amal@example.sa")
    message, previewed = preview(session=session, consultation=c, notice="invitation", lang="ar", now=amal.created_at,
                                 mail=MAIL, to="amal@example.sa")  # fmt: skip
    assert previewed == raw_of(session=session, message=amal)  # byte for byte, Message-ID included
    assert b"\r\nReply-To: cwg-internet@itu.int\r\n" in previewed
    assert message.rendered.subject.startswith("\u2068CL-17/30\u2069")  # isolated in the Arabic subject


def test_hold_resume_retry_and_a_test_send(session: Session, engine: Engine) -> None:
    add_people(session)
    c = issue_letter(session)
    outbox.hold(session=session, consultation=c, now=LETTER_DAY)
    session.commit()
    with SmtpTestServer() as server:
        held = send(engine, server)
        assert held.sent == 0 and server.received == []
        outbox.resume(session=session, consultation=c, now=LETTER_DAY)
        server.behaviour.data["li@example.cn"] = "554 5.6.0 Message rejected"
        session.commit()
        resumed = send(engine, server)
        assert (resumed.sent, resumed.failed) == (5, 1)
        server.behaviour.data.clear()
        assert outbox.retry_failed(session=session, consultation_id=c.id, now=LETTER_DAY) == 1
        test = queue_test(session=session, consultation=c, notice="invitation", lang="zh", to="Me@Secretariat.Example",
                          now=LETTER_DAY, mail=MAIL)  # fmt: skip
        session.commit()
        again = send(engine, server)
    assert again.sent == 2
    mine = server.by_recipient()["me@secretariat.example"][0].message
    assert mine["Subject"].startswith("[TEST] CL-17/30") and test.purpose.startswith("test:invitation:")
    tokens = {s.unsubscribe_token for s in session.exec(select(Stakeholder))}
    assert not any(t in mine.get_body(("plain",)).get_content() for t in tokens)  # no real unsubscribe link
    assert "List-Unsubscribe" not in mine


def test_the_cli_previews_and_lists_delivery_per_consultation(session: Session, database_url: str) -> None:
    add_people(session)
    c = issue_letter(session)
    env = {"CONSULT_DATABASE_URL": database_url, "CONSULT_NOW": "2017-06-14T08:00:00+00:00"}
    shown = CliRunner().invoke(app, ["mail", "preview", c.slug, "reminder", "--lang", "fr"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "Reply-To: cwg-internet@itu.int" in shown.stdout and "Subject: Rappel : plus que 66 jours" in shown.stdout
    assert "66 jours" in shown.stdout  # the time left, in French
    wrong = CliRunner().invoke(app, ["mail", "preview", c.slug, "birthday"], env=env)
    assert wrong.exit_code == 2 and "unknown notice 'birthday'" in wrong.output
    listed = CliRunner().invoke(app, ["mail", "list", c.slug, "--json"], env=env)
    rows = json.loads(listed.stdout)
    assert len(rows) == len(PEOPLE) and {r["status"] for r in rows} == {"pending"}
    assert Stage(c.stage) is Stage.LETTER_ISSUED


def test_recipients_narrowed_before_the_letter_and_latecomers_invited_once(
    session: Session, database_url: str, tmp_path
) -> None:
    add_people(session)
    c = consultation_in(session, Stage.DECIDED)
    env = {"CONSULT_DATABASE_URL": database_url, "CONSULT_NOW": "2017-06-10T08:00:00+00:00"}
    run = CliRunner().invoke
    narrowed = run(app, ["mail", "recipients", c.slug, "--category", "member_state", "--category", "academia"], env=env)
    assert narrowed.exit_code == 0, narrowed.output
    assert "categories: member_state, academia — 3 recipient(s) now" in narrowed.stdout  # Amal, Lucía, Preeti
    bad = run(app, ["mail", "recipients", c.slug, "--country", "XX"], env=env)
    assert bad.exit_code == 2 and "recipients: field 'countries" in bad.output
    session.refresh(c)
    advance(session=session, consultation=c, trigger=Trigger.ISSUE_LETTER, actor=STAFF, now=LETTER_DAY,
            settings=SETTINGS)  # fmt: skip
    session.commit()
    assert sorted(m.recipient_email for m in all_messages(session)) == [
        "amal@example.sa", "lucia@example.es", "preeti@example.org",
    ]  # fmt: skip
    late = run(app, ["mail", "recipients", c.slug, "--everyone"], env=env)
    assert late.exit_code == 1 and "recipients are chosen before the letter is issued" in late.output
    newcomers = tmp_path / "new.csv"
    newcomers.write_text("name,email,category,country,language,lists\n"
                         "Nadia,nadia@example.ma,member_state,MA,fr,cwg-members; press\n"
                         "Bob,bob@example.com,other,US,en,\n", encoding="utf-8")  # fmt: skip
    for _ in range(2):
        added = run(app, ["stakeholders", "import", str(newcomers)], env=env)
        assert added.exit_code == 0, added.output
    invited = [m.recipient_email for m in all_messages(session) if m.purpose == "invitation"]
    assert invited.count("nadia@example.ma") == 1 and "bob@example.com" not in invited  # in the audience, once
    nadia = session.exec(select(Stakeholder).where(Stakeholder.email == "nadia@example.ma")).one()
    assert nadia.lists == ["cwg-members", "press"]


def test_previewing_the_invitation_before_the_letter_marks_the_number_as_a_draft(session: Session) -> None:
    add_people(session)
    c = consultation_in(session, Stage.DECIDED)
    message, _ = preview(session=session, consultation=c, notice="invitation", lang="en", now=LETTER_DAY, mail=MAIL)
    assert message.rendered.subject.startswith("CL-17/… (draft)")
    assert all_messages(session) == []  # a preview queues nothing

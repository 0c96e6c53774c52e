"""Stakeholders, the outbox and SMTP delivery against real aiosmtpd servers on 127.0.0.1,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, select

from config import MailSettings, Settings
from notifications import registry
from notifications.delivery import SmtpServer, deliver
from notifications.mime import text_of
from notifications.notices import Wording, queue_reminders, queue_to_stakeholders
from notifications.outbox import raw_of
from states import Stage, Trigger
from store.models import StakeholderCreate
from store.tables import OutboxMessage, Stakeholder
from tests.factories import POLICY, STAFF, advance, consultation_in, geneva
from tests.smtp import SmtpTestServer

MAIL = MailSettings(
    sender="CWG secretariat <cwg-internet@itu.int>", base_url="https://consult.example", backoff_seconds=60
)
SETTINGS = Settings(policy=POLICY, mail=MAIL)
LETTER_DAY = geneva(date(2017, 6, 14))
PEOPLE = [
    ("Amal", "amal@example.sa", "member_state", "SA", "ar"),
    ("Li Wei", "li@example.cn", "sector_member", "CN", "zh"),
    ("Preeti", "preeti@example.org", "academia", "IN", "en"),
    ("Claire", "claire@example.fr", "associate", "FR", "fr"),
    ("Ivan", "ivan@example.ru", "other", "RU", "ru"),
    ("Lucía", "lucia@example.es", "member_state", "ES", "es"),
]
LONG_DATES = {
    "ar": "19 أغسطس 2017", "zh": "2017年8月19日", "en": "19 August 2017",  # British English, as letters
    "fr": "19 août 2017", "ru": "19 августа 2017\u202fг.", "es": "19 de agosto de 2017",
}  # fmt: skip


def add_people(session: Session, people=PEOPLE) -> None:
    rows = [
        StakeholderCreate(name=n, email=e, category=c, country=k, language=lang, organisation="Org")
        for n, e, c, k, lang in people
    ]
    registry.import_stakeholders(session=session, rows=rows, now=LETTER_DAY)
    session.commit()


def issue_letter(session: Session, **request):
    c = consultation_in(session, Stage.DECIDED)
    advance(session=session, consultation=c, trigger=Trigger.ISSUE_LETTER, actor=STAFF, now=LETTER_DAY,
            settings=SETTINGS, letter_number="CL-17/30", **request)  # fmt: skip
    session.commit()
    return c


def send(engine: Engine, server: SmtpTestServer, *, now=LETTER_DAY, mail=MAIL):
    return asyncio.run(
        deliver(engine=engine, server=SmtpServer("127.0.0.1", server.port, timeout=5), mail=mail, now=now)
    )


def all_messages(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


# --- the registry -----------------------------------------------------------------


def write_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    return path


GOOD_CSV = "name,email,category,organisation,country,language\n" + "".join(
    f"{n},{e},{c},Org,{k},{lang}\n" for n, e, c, k, lang in PEOPLE
)


def test_import_is_idempotent_and_keeps_flags(session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD_CSV)
    first = registry.import_stakeholders(session=session, rows=registry.read_csv(path), now=LETTER_DAY)
    session.commit()
    assert (first.created, first.updated, first.unchanged) == (6, 0, 0)
    amal = session.exec(select(Stakeholder).where(Stakeholder.email == "amal@example.sa")).one()
    amal.opted_out = True
    session.commit()
    changed = write_csv(tmp_path, GOOD_CSV.replace("Amal,AMAL@example.sa", "x").replace("Amal,", "Amal Saud,"))
    second = registry.import_stakeholders(session=session, rows=registry.read_csv(changed), now=LETTER_DAY)
    session.commit()
    assert (second.created, second.updated, second.unchanged) == (0, 1, 5)
    session.refresh(amal)
    assert amal.name == "Amal Saud" and amal.opted_out is True
    assert len(registry.list_stakeholders(session=session)) == 6


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("Eve,not-an-email,other,,,en", "people.csv:4: field 'email'"),
        ("Eve,eve@example.org,journalist,,,en", "people.csv:4: field 'category': unknown category 'journalist'"),
        ("Eve,eve@example.org,other,,XX,en", "people.csv:4: field 'country': 'XX' is not an ISO 3166-1 alpha-2"),
        ("Eve,eve@example.org,other,,,de", "people.csv:4: field 'language': unknown language code 'de'"),
        ("Eve,amal@example.sa,other,,,en", "people.csv:4: e-mail amal@example.sa already on line 2"),
        (",eve@example.org,other,,,en", "people.csv:4: field 'name'"),
    ],
)
def test_a_bad_row_names_its_line_and_nothing_is_imported(session: Session, tmp_path: Path, bad_line, message) -> None:
    lines = GOOD_CSV.splitlines()
    text = "\n".join([*lines[:3], bad_line, *lines[3:]]) + "\n"
    from states import ConsultError

    with pytest.raises(ConsultError) as info:
        registry.read_csv(write_csv(tmp_path, text))
    assert str(info.value).startswith(str(tmp_path / message.split(":", 1)[0]) + ":" + message.split(":", 1)[1])
    assert "nothing was imported" in str(info.value)
    assert registry.list_stakeholders(session=session) == []


def test_unknown_column_is_refused(tmp_path: Path) -> None:
    from states import ConsultError

    with pytest.raises(ConsultError, match="unknown column 'phone'"):
        registry.read_csv(write_csv(tmp_path, "name,email,category,phone\nA,a@example.org,other,123\n"))


# --- the outbox ---------------------------------------------------------------------


def test_an_audience_counted_is_the_audience_read(session: Session) -> None:
    """The staff board counts each consultation's audience in the database
    (`count_reachable`): the same number as the recipients a notice goes to, whatever the
    audience names — categories, countries, lists — with opted-out and bounced left out."""
    from collections import Counter

    from store.models import Audience

    rows = [StakeholderCreate(name=f"P{i}", email=f"p{i}@example.org", category=("member_state", "academia")[i % 2],
                              country=("CH", "EG", "FR")[i % 3], language="en",
                              lists=[("cwg", "council")[i % 2]] if i % 5 else []) for i in range(60)]  # fmt: skip
    registry.import_stakeholders(session=session, rows=rows, now=LETTER_DAY)
    for email in ("p1@example.org", "p2@example.org"):
        person = session.exec(select(Stakeholder).where(Stakeholder.email == email)).one()
        person.opted_out, person.bounced = email == "p1@example.org", email == "p2@example.org"
    session.commit()
    audiences = [None, Audience(categories=("academia",)), Audience(countries=("EG", "FR")), Audience(lists=("cwg",)),
                 Audience(categories=("member_state",), countries=("CH",), lists=("council",))]  # fmt: skip
    for audience in audiences:
        read = registry.reachable(session=session, audience=audience)
        expected = len(read)
        assert registry.count_reachable(session=session, audience=audience) == expected, audience
        assert expected == sum(len(b) for b in registry.recipient_batches(session=session, audience=audience, size=7))
        by_group = Counter((p.category, p.country) for p in read)  # the responses page's "invited", by group
        counted = registry.count_reachable_by_group(session=session, audience=audience)
        assert {(cat, cty): n for cat, cty, n in counted} == by_group and len(counted) == len(by_group), audience
    assert registry.count_reachable(session=session) == 58


def test_issue_letter_queues_invitations_in_the_same_transaction(session: Session) -> None:
    add_people(session)
    gone = session.exec(select(Stakeholder).where(Stakeholder.email == "ivan@example.ru")).one()
    gone.bounced = True
    out = session.exec(select(Stakeholder).where(Stakeholder.email == "claire@example.fr")).one()
    out.opted_out = True
    session.commit()
    c = consultation_in(session, Stage.DECIDED)
    advance(session=session, consultation=c, trigger=Trigger.ISSUE_LETTER, actor=STAFF, now=LETTER_DAY,
            settings=SETTINGS)  # fmt: skip
    session.rollback()  # the caller did not commit: neither the stage nor the mail happened
    assert all_messages(session) == []
    session.refresh(c)
    assert c.stage == "decided"
    c = issue_letter(session)
    queued = all_messages(session)
    assert sorted(m.recipient_email for m in queued) == [
        "amal@example.sa", "li@example.cn", "lucia@example.es", "preeti@example.org",
    ]  # fmt: skip
    assert {m.purpose for m in queued} == {"invitation"} and {m.status for m in queued} == {"pending"}


def test_the_same_intent_is_queued_once(session: Session) -> None:
    add_people(session)
    c = issue_letter(session)
    again = queue_to_stakeholders(session=session, consultation=c, wording=Wording("invitation"), now=LETTER_DAY,
                                  mail=MAIL)  # fmt: skip
    session.commit()
    assert again == 0 and len(all_messages(session)) == 6
    first = queue_reminders(session=session, consultation=c, offset_days=7, now=geneva(date(2017, 8, 12)), mail=MAIL)
    twice = queue_reminders(session=session, consultation=c, offset_days=7, now=geneva(date(2017, 8, 12)), mail=MAIL)
    assert (first, twice) == (6, 0)


def test_extension_and_cancellation_queue_their_notices(session: Session) -> None:
    add_people(session)
    c = issue_letter(session)
    advance(session=session, consultation=c, trigger=Trigger.OPEN_SUBMISSIONS, actor=STAFF,
            now=geneva(date(2017, 6, 14), 11), settings=SETTINGS)  # fmt: skip
    from states.timing import deadline_instant

    new_deadline = deadline_instant(date(2017, 8, 26), "Europe/Geneva")
    advance(session=session, consultation=c, trigger=Trigger.EXTEND_DEADLINE, actor=STAFF,
            now=geneva(date(2017, 8, 1)), settings=SETTINGS, new_deadline=new_deadline, reason="requests")  # fmt: skip
    advance(session=session, consultation=c, trigger=Trigger.CANCEL, actor=STAFF, now=geneva(date(2017, 8, 2)),
            settings=SETTINGS, reason="Council withdrew the topic")  # fmt: skip
    session.commit()
    by_purpose: dict[str, list[OutboxMessage]] = {}
    for m in all_messages(session):
        by_purpose.setdefault(m.purpose.split(":")[0], []).append(m)
    assert {k: len(v) for k, v in by_purpose.items()} == {"invitation": 6, "extended": 6, "cancelled": 6}
    fr = next(m for m in by_purpose["extended"] if m.language == "fr")
    assert "du 19 août 2017 23:59 au 26 août 2017 23:59" in text_of(raw_of(session=session, message=fr))
    en = next(m for m in by_purpose["cancelled"] if m.language == "en")
    assert "Reason: Council withdrew the topic" in text_of(raw_of(session=session, message=en))


def test_cancelling_before_the_letter_tells_nobody(session: Session) -> None:
    add_people(session)
    c = consultation_in(session, Stage.DECIDED)
    advance(session=session, consultation=c, trigger=Trigger.CANCEL, actor=STAFF, now=LETTER_DAY, settings=SETTINGS,
            reason="withdrawn")  # fmt: skip
    session.commit()
    assert all_messages(session) == []


# --- delivery -----------------------------------------------------------------------


def test_six_language_batch_raw_bytes(session: Session, engine: Engine) -> None:
    add_people(session)
    issue_letter(session)
    queued = {m.recipient_email: m for m in all_messages(session)}
    with SmtpTestServer() as server:
        report = send(engine, server)
    assert (report.sent, report.retrying, report.failed) == (6, 0, 0)
    got = server.by_recipient()
    assert sorted(got) == sorted(queued)
    for _name, email, _cat, _country, lang in PEOPLE:
        [received] = got[email]
        raw = received.data
        assert received.sender == "cwg-internet@itu.int"
        assert f"Message-ID: {queued[email].message_id}".encode() in raw
        assert b"\r\nList-Unsubscribe:" in raw and b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
        assert f"Content-Language: {lang}".encode() in raw
        assert raw.count(b"\r\nTo: ") == 1 and b"\r\nBcc:" not in raw
        message = received.message
        assert message["List-Unsubscribe"].strip().startswith("<https://consult.example/unsubscribe/")
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert LONG_DATES[lang] in text and LONG_DATES[lang] in html
        assert "CL-17/30" in message["subject"]
        assert ('dir="rtl"' in html) == (lang == "ar")
        assert "Question 5?" in text or "السؤال 5؟" in text
    assert {m.status for m in all_messages(session)} == {"sent"}


@pytest.mark.parametrize(
    "reply", ["421 4.3.2 Service shutting down", "451 4.3.0 Try again later", "452 4.2.2 Mailbox full"]
)
def test_transient_replies_are_retried_with_backoff(session: Session, engine: Engine, reply: str) -> None:
    add_people(session)
    issue_letter(session)
    with SmtpTestServer() as server:
        server.behaviour.rcpt["li@example.cn"] = reply
        first = send(engine, server)
        assert (first.sent, first.retrying) == (5, 1)
        li = next(m for m in all_messages(session) if m.recipient_email == "li@example.cn")
        assert li.status == "pending" and li.attempts == 1 and reply.split()[0] in li.last_error
        assert li.next_attempt_at == LETTER_DAY + timedelta(seconds=60)
        early = send(engine, server, now=LETTER_DAY + timedelta(seconds=30))
        assert early.sent == 0  # not due yet
        server.behaviour.rcpt.clear()
        later = send(engine, server, now=LETTER_DAY + timedelta(seconds=61))
        assert later.sent == 1
    assert len(server.received) == 6


def test_permanent_bounce_marks_the_address_and_stops_mail(session: Session, engine: Engine) -> None:
    add_people(session)
    c = issue_letter(session)
    with SmtpTestServer() as server:
        server.behaviour.rcpt["ivan@example.ru"] = "550 5.1.1 No such user"
        report = send(engine, server)
    assert (report.sent, report.failed, report.bounced) == (5, 1, ["ivan@example.ru"])
    ivan = session.exec(select(Stakeholder).where(Stakeholder.email == "ivan@example.ru")).one()
    session.refresh(ivan)
    assert ivan.bounced and "5.1.1" in ivan.bounce_reason
    failed = next(m for m in all_messages(session) if m.recipient_email == "ivan@example.ru")
    assert failed.status == "bounced" and failed.last_error == "550 5.1.1 No such user"
    queue_reminders(session=session, consultation=c, offset_days=7, now=geneva(date(2017, 8, 12)), mail=MAIL)
    session.commit()
    reminders = [m for m in all_messages(session) if m.purpose.startswith("reminder:7:")]
    assert len(reminders) == 5 and "ivan@example.ru" not in {m.recipient_email for m in reminders}


def test_permanent_data_rejection_fails_only_that_message(session: Session, engine: Engine) -> None:
    add_people(session)
    issue_letter(session)
    with SmtpTestServer() as server:
        server.behaviour.data["lucia@example.es"] = "554 5.7.1 Message rejected"
        report = send(engine, server)
    assert (report.sent, report.failed, report.bounced) == (5, 1, [])
    lucia = session.exec(select(Stakeholder).where(Stakeholder.email == "lucia@example.es")).one()
    session.refresh(lucia)
    assert not lucia.bounced


def test_connection_dropped_mid_data_is_retried_and_blocks_no_one(session: Session, engine: Engine) -> None:
    add_people(session)
    issue_letter(session)
    with SmtpTestServer() as server:
        server.behaviour.drop_data_for.add("preeti@example.org")
        first = send(engine, server)
        assert (first.sent, first.retrying) == (5, 1), str(first)
        second = send(engine, server, now=LETTER_DAY + timedelta(minutes=2))
        assert second.sent == 1
    assert sorted(server.by_recipient()) == sorted(p[1] for p in PEOPLE)
    assert all(len(v) == 1 for v in server.by_recipient().values())


@pytest.mark.parametrize("connections", [1, 4])
def test_a_message_is_accepted_only_once_its_connection_s_previous_one_is_marked(
    session: Session, engine: Engine, connections: int
) -> None:
    """The crash window stays one message per connection, with the commits deferred to the
    next envelope and shared: when the server takes a message at the end of its DATA, every
    message that connection delivered before is already marked sent in the database."""
    people = [(f"P{i}", f"p{i}@example.org", "other", "CH", "en") for i in range(120)]
    add_people(session, people)
    issue_letter(session)
    marked_too_late: list[str] = []
    earlier: dict[int, list[str]] = {}

    def check(item) -> None:
        before = earlier.setdefault(item.connection, [])
        if before:
            with engine.connect() as conn:
                ids = set(conn.execute(select(OutboxMessage.message_id).where(
                    OutboxMessage.message_id.in_(before), OutboxMessage.status == "sent")).scalars())  # fmt: skip
            marked_too_late.extend(m for m in before if m not in ids)
        before.append(item.message["Message-ID"])

    with SmtpTestServer() as server:
        server.behaviour.on_accept = check
        report = send(engine, server, mail=replace(MAIL, concurrency=connections))
    assert report.sent == 120 and len(earlier) == connections, (str(report), len(earlier))
    assert marked_too_late == []
    assert {m.status for m in all_messages(session)} == {"sent"}


def test_gives_up_after_max_attempts(session: Session, engine: Engine) -> None:
    add_people(session, PEOPLE[:1])
    issue_letter(session)
    mail = replace(MAIL, max_attempts=3, backoff_seconds=1)
    with SmtpTestServer() as server:
        server.behaviour.rcpt["amal@example.sa"] = "451 4.3.0 Later"
        now = LETTER_DAY
        reports = []
        for _ in range(3):
            reports.append(send(engine, server, now=now, mail=mail))
            now += timedelta(hours=1)
    # The summaries say what happened: retrying twice, then given up (not "retrying").
    assert [(r.retrying, r.failed) for r in reports] == [(1, 0), (1, 0), (0, 1)]
    [m] = all_messages(session)
    assert m.status == "failed" and m.attempts == 3 and m.last_error.startswith("gave up after 3 attempts: 451")


def test_unreachable_server_loses_nothing(session: Session, engine: Engine) -> None:
    add_people(session)
    issue_letter(session)
    from notifications.catcher import free_port

    report = asyncio.run(
        deliver(engine=engine, server=SmtpServer("127.0.0.1", free_port(), timeout=2), mail=MAIL, now=LETTER_DAY)
    )
    assert report.sent == 0
    assert {m.status for m in all_messages(session)} == {"pending"}


def test_header_injection_adds_no_header(session: Session, engine: Engine) -> None:
    session.add(
        Stakeholder(email="eve@example.org", name="Eve\r\nBcc: attacker@evil.example", category="other",
                    language="en", unsubscribe_token="tok-eve", created_at=LETTER_DAY, updated_at=LETTER_DAY)
    )  # fmt: skip
    session.commit()
    c = consultation_in(session, Stage.DECIDED)
    c.title = {"en": "OTTs\r\nBcc: attacker@evil.example\nX-Injected: yes"}
    session.commit()
    advance(session=session, consultation=c, trigger=Trigger.ISSUE_LETTER, actor=STAFF, now=LETTER_DAY,
            settings=SETTINGS)  # fmt: skip
    session.commit()
    with SmtpTestServer() as server:
        assert send(engine, server).sent == 1
    raw = server.received[0].data
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in headers and b"\r\nX-Injected:" not in headers
    assert server.received[0].recipients == ["eve@example.org"]
    assert "attacker" in server.received[0].message["subject"]  # kept as text, on one line


def test_mail_catcher_keeps_what_it_catches(session: Session, engine: Engine, tmp_path: Path) -> None:
    from notifications.catcher import MailCatcher

    add_people(session, PEOPLE[:2])
    issue_letter(session)
    lines: list[str] = []
    catcher = MailCatcher(tmp_path / "mail", announce=lines.append).start()
    try:
        report = asyncio.run(
            deliver(engine=engine, server=SmtpServer("127.0.0.1", catcher.port), mail=MAIL, now=LETTER_DAY)
        )
    finally:
        catcher.stop()
    assert report.sent == 2
    caught = catcher.caught()
    assert sorted(m["to"].addresses[0].addr_spec for m in caught) == ["amal@example.sa", "li@example.cn"]
    assert len(lines) == 2 and lines[0].startswith("caught: cwg-internet@itu.int → ")


def test_message_ids_are_each_installation_s_own(tmp_path: Path) -> None:
    """Two databases queue the same notice (consultation 1's, to one address): two
    Message-IDs, so a receiver that drops duplicates drops neither; queued again in the
    same database (a crash, a retry), the same Message-ID."""
    from notifications.outbox import Outgoing, enqueue, mime
    from notifications.render import Rendered
    from store.db import make_engine, upgrade
    from store.installation import installation_key

    message = Outgoing(consultation_id=None, stakeholder_id=None, purpose="test:ping", language="en",
                       recipient_email="amal@example.sa", recipient_name="Amal",
                       rendered=Rendered(subject="s", text="t", html="<p>t</p>"))  # fmt: skip
    ids = []
    for name in ("a", "b"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        upgrade(engine)
        with Session(engine) as s:
            assert enqueue(session=s, messages=[message], now=geneva(date(2017, 7, 1)), sender="cwg@itu.int") == 1
            s.commit()
            ids.append(s.exec(select(OutboxMessage.message_id)).one())
            again = mime(message, now=geneva(date(2017, 7, 2)), sender="cwg@itu.int", installation=installation_key(s))
            assert again[1] == ids[-1]  # rebuilt later (a preview, a resend): the same Message-ID
            assert enqueue(session=s, messages=[message], now=geneva(date(2017, 7, 2)), sender="cwg@itu.int") == 0
        engine.dispose()
    assert ids[0] != ids[1] and all(i.endswith("@itu.int>") for i in ids)


def test_a_sending_run_renews_its_two_minute_lease_while_it_lives(session: Session, engine: Engine) -> None:
    """Claimed mail is leased for two minutes and renewed while the run lives: a run that
    dies holds its messages back two minutes at most, a slow one never loses them."""
    from notifications.delivery import LEASE, Outcome, _Ledger
    from notifications.outbox import Outgoing, enqueue
    from notifications.render import Rendered

    now = geneva(date(2017, 7, 1))
    messages = [Outgoing(consultation_id=None, stakeholder_id=None, purpose="test:lease", language="en",
                         recipient_email=f"p{i}@example.org", recipient_name=None,
                         rendered=Rendered(subject="s", text="t", html="<p>t</p>")) for i in range(2)]  # fmt: skip
    enqueue(session=session, messages=messages, now=now, sender="cwg@itu.int")
    session.commit()
    ledger = _Ledger(engine, MailSettings(), now)
    try:
        claimed, _, _ = ledger.claim(10)
        assert len(claimed) == 2 and timedelta(minutes=2) == LEASE

        def leases() -> dict[str, object]:
            session.expire_all()
            return {m.recipient_email: m.lease_until for m in session.exec(select(OutboxMessage))}

        assert set(leases().values()) == {now + LEASE}
        ledger.started -= 90  # the run has been sending for a minute and a half
        ledger.write([(claimed[0], Outcome("sent"))])
        assert ledger.renew() == 1  # only what it still holds
        after = leases()
        assert after["p0@example.org"] is None and after["p1@example.org"] >= now + timedelta(seconds=90) + LEASE
    finally:
        ledger.close()


@settings(max_examples=60, deadline=None)
@given(name=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
       token=st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=30))  # fmt: skip
def test_a_notice_from_its_stencil_is_the_notice_rendered_whole(name: str, token: str) -> None:
    """A fan-out renders each notice once per language and sets each recipient's name and
    unsubscribe link into it (notifications/render.py Stencil), and a receipt its
    respondent's: byte for byte what rendering it whole gives, for every stakeholders'
    notice, receipt state and language, whatever the name — Arabic, markup, an address,
    quotes, the stencil's own marks."""
    from datetime import UTC, datetime

    from notifications.notices import consultation_values, wording_for
    from notifications.render import RECEIPT_PERSONAL, Stencil, render
    from states.languages import LANGUAGES
    from store.tables import Consultation

    c = Consultation(slug="ott-2017", title={"en": "Over-the-top services", "ar": "خدمات التطبيقات"},
                     questions=[{"en": "Question one?"}], letter_number="CL-17/30", contact_email="c@example.org",
                     contact_name="Contact", timezone="Europe/Zurich",
                     deadline=datetime(2017, 8, 19, 22, tzinfo=UTC))  # fmt: skip
    now = datetime(2017, 8, 12, 8, tzinfo=UTC)
    details = {
        "reminder": {"offset_days": 7},
        "cancelled": {"reason": "<b>moved</b>"},
        "extended": {"from": "2017-08-01T10:00:00+00:00", "to": "2017-08-19T22:00:00+00:00"},
    }
    personal = {"name": name, "unsubscribe_url": f"https://consult.example/unsubscribe/{token}"}
    for notice in ("invitation", "reminder", "extended", "cancelled", "compiled"):
        wording = wording_for(c, notice, details.get(notice, {}), now)
        for lang in LANGUAGES:
            context = {**consultation_values(c, lang, MailSettings()), **(wording.extra(lang) if wording.extra else {})}
            stencil = Stencil(notice, lang, context)
            assert stencil.usable, (notice, lang)
            assert stencil.fill(personal) == render(notice, lang, {**context, **personal}), (notice, lang)
    # A receipt: the respondent's name, reference, time received and private link set in,
    # for each state its wording tells apart.
    own = {"name": name, "reference": "R-7Q2K-4XNM", "received_at": "12 August 2017 at 10:00",
           "manage_url": f"https://consult.example/respond/manage/{token}"}  # fmt: skip
    for lang in LANGUAGES:
        for confirm, moderated, private, anonymous, amended in ((True, False, False, False, False),
                                                                (False, True, True, False, True),
                                                                (False, False, False, True, False)):  # fmt: skip
            context = {**consultation_values(c, lang, MailSettings()), "questions": [], "unsubscribe_url": None,
                       "confirm": confirm, "moderated": moderated, "private": private, "anonymous": anonymous,
                       "amended": amended, "expire_days": 30}  # fmt: skip
            stencil = Stencil("receipt", lang, context, RECEIPT_PERSONAL)
            assert stencil.usable, lang
            assert stencil.fill(own) == render("receipt", lang, {**context, **own}), lang

"""Respondents who are who they say, and who decide what is published: a response is stored
at once and public only once its address is confirmed through the private link in the
receipt (or a moderator approves it, by the consultation's policy); the respondent chooses
named, anonymous or not published, and may amend or withdraw until the deadline; the
compilation holds the last version; unconfirmed ones expire."""

from __future__ import annotations

import email as mail_parser
import io
import json
import re
from datetime import UTC, datetime, timedelta
from email import policy as mail_policy

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from config import Settings
from documents import compilation
from flows import work
from notifications.outbox import raw_of
from states import Stage
from store import consultations as repo
from store import respondents, submissions
from store.counts import response_counts
from store.tables import AuditEntry, OutboxMessage, Submission, SubmissionEvent
from tests.factories import POLICY, consultation_in, receipt_link
from tests.web_fixtures import NOW, STAFF, client  # noqa: F401

GOOD = {
    "name": "Amal Saud", "organisation": "CITC", "category": "member_state", "country": "SA",
    "email": "amal@example.sa", "language": "ar", "summary": "ملخص أول", "answers": [{"question": 1, "text": "رد"}],
}  # fmt: skip
API = "/api/consultations/ott-2017/submissions"


def _public(web: TestClient, session: Session, slug: str = "ott-2017") -> str:
    """Everything the public reads about the responses, in one string."""
    c = repo.get(session=session, ref=slug)
    out = io.StringIO()
    compilation.write_csv(session.connection(), c, out)
    as_json = io.StringIO()
    compilation.write_json(session.connection(), c, as_json)
    pages = [web.get(API.replace("ott-2017", slug)).text, web.get(f"/consultations/{slug}/responses").text]
    return "\n".join([*pages,
                      compilation.html_string(session.connection(), c, lang="en"), out.getvalue(),
                      as_json.getvalue()])  # fmt: skip


def test_an_api_response_is_public_only_once_its_link_is_followed(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    sent = client.post(API, json=GOOD)
    assert sent.status_code == 201 and sent.json()["status"] == "unconfirmed"
    reference = sent.json()["reference"]
    assert reference not in _public(client, session) and "Amal Saud" not in _public(client, session)
    c = repo.get(session=session, ref="ott-2017")
    counts = response_counts(session.connection(), c.id)
    assert (counts.received, counts.published, counts.unconfirmed) == (1, 0, 1)  # counted apart

    link = receipt_link(session, GOOD["email"])
    page = client.get(link)  # opening the link (a mail scanner does) confirms nothing
    assert page.status_code == 200 and 'id="confirm"' in page.text and 'lang="ar"' not in page.text[:60]
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    assert reference not in client.get("/consultations/ott-2017/responses").text
    done = client.post(link + "?lang=ar", data={"action": "confirm"}, follow_redirects=True)
    assert done.status_code == 200 and "تم تأكيد ردكم" in done.text and 'data-state="published"' in done.text
    shown = _public(client, session)
    assert reference in shown and "Amal Saud" in shown
    session.expire_all()
    row = session.exec(select(Submission)).one()
    assert row.confirmed_by == "respondent" and row.received_at == NOW  # the receipt, not the click, counts
    assert [e.action for e in respondents.history(session=session, submission_id=row.id)] == ["confirm_response"]
    assert client.get("/respond/manage/not-a-real-token").status_code == 404


def test_the_receipt_links_its_addresses_and_isolates_them_in_arabic(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    client.post(API, json=GOOD)
    message = session.exec(select(OutboxMessage).where(col(OutboxMessage.purpose).startswith("receipt:"))).one()
    parsed = mail_parser.message_from_bytes(raw_of(session=session, message=message), policy=mail_policy.default)
    text = parsed.get_body(preferencelist=("plain",)).get_content()
    html = parsed.get_body(preferencelist=("html",)).get_content()
    link = receipt_link(session, GOOD["email"])
    assert f"\u2066 http://testserver{link} \u2069" in text  # a left-to-right isolate, spaces keep it out of the URL
    assert f'<a href="http://testserver{link}" dir="ltr">http://testserver{link}</a>' in html
    assert "<bdi>R-" in html and "7" in text  # the reference isolated; the expiry in days


def test_amended_through_the_link_the_compilation_holds_the_last_version(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    client.post(API, json=GOOD)
    link = receipt_link(session, GOOD["email"])
    client.post(link, data={"action": "confirm"})
    form = {"action": "amend", "name": "Amal Saud", "organisation": "CITC", "category": "member_state",
            "country": "SA", "language": "ar", "summary": "ملخص معدّل", "answer_1": "رد معدّل",
            "publication": "named"}  # fmt: skip
    amended = client.post(link + "?lang=ar", data=form, follow_redirects=True)
    assert amended.status_code == 200 and "تم حفظ ردكم المعدّل" in amended.text
    shown = _public(client, session)
    assert "ملخص معدّل" in shown and "رد معدّل" in shown and "ملخص أول" not in shown
    session.expire_all()
    row = session.exec(select(Submission)).one()
    assert row.version == 2 and row.email == GOOD["email"] and row.confirmed_at is not None
    events = respondents.history(session=session, submission_id=row.id)
    assert [e.action for e in events] == ["confirm_response", "amend_response"]
    assert events[1].replaced["summary"] == "ملخص أول" and events[1].version == 2
    purposes = sorted(m.purpose for m in session.exec(select(OutboxMessage)))
    assert purposes == [f"receipt:{row.reference}", f"receipt:{row.reference}:2"]  # a receipt for each version
    # A blank summary is refused in the page's language, and nothing changes.
    bad = client.post(link + "?lang=ar", data={**form, "summary": ""})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    session.expire_all()
    assert session.exec(select(Submission)).one().version == 2
    # Staff see the versions.
    staff = _staff(client)
    page = staff.get(f"/staff/consultations/ott-2017/responses/{row.reference}")
    assert "amend response" in page.text and "ملخص أول" in page.text
    assert page.text.split("</title>")[0].endswith(f"{row.reference} — ott-2017")  # the versions are in the body


def test_anonymous_hides_name_and_organisation_everywhere_public(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    client.post(API, json={**GOOD, "publication": "anonymous"})
    client.post(receipt_link(session, GOOD["email"]), data={"action": "confirm"})
    shown = _public(client, session)
    assert "Amal Saud" not in shown and "CITC" not in shown
    assert "ملخص أول" in shown and "Anonymous respondent" in shown
    listed = client.get(API).json()
    assert listed[0]["name"] is None and listed[0]["publication"] == "anonymous"
    assert '"anonymous": true' in shown
    staff = _staff(client)  # the secretariat sees who it is
    reference = listed[0]["reference"]
    assert "Amal Saud" in staff.get(f"/staff/consultations/ott-2017/responses/{reference}").text


def test_not_published_and_withdrawn_stay_with_the_secretariat(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    client.post(API, json={**GOOD, "publication": "private"})
    client.post(receipt_link(session, GOOD["email"]), data={"action": "confirm"})
    other = {**GOOD, "email": "li@example.cn", "name": "Li Wei", "summary": "to withdraw"}
    client.post(API, json=other)
    link = receipt_link(session, other["email"])
    client.post(link, data={"action": "confirm"})
    assert "Li Wei" in _public(client, session)
    assert client.post(link, data={"action": "withdraw"}, follow_redirects=True).status_code == 200
    shown = _public(client, session)
    assert "Amal Saud" not in shown and "ملخص أول" not in shown and "Li Wei" not in shown
    c = repo.get(session=session, ref="ott-2017")
    counts = response_counts(session.connection(), c.id)
    assert (counts.received, counts.published, counts.private, counts.withdrawn) == (2, 0, 1, 1)
    staff = _staff(client)
    table = staff.get("/staff/consultations/ott-2017/responses?status=withdrawn").text
    assert "Li Wei" in table and "Amal Saud" not in table
    assert "Amal Saud" in staff.get("/staff/consultations/ott-2017/responses?status=private").text
    # Withdrawn, the address may send again: a new response, to be confirmed again.
    again = client.post(API, json={**other, "summary": "second thoughts"})
    assert again.status_code == 201 and again.json()["status"] == "unconfirmed"


def test_after_the_deadline_the_link_reads_but_no_longer_changes(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    client.post(API, json=GOOD)
    link = receipt_link(session, GOOD["email"])
    client.post(link, data={"action": "confirm"})
    client.app.state.web.clock = lambda: datetime(2017, 8, 20, 10, tzinfo=UTC)  # the deadline was 19 August
    page = client.get(link + "?lang=fr")
    assert page.status_code == 200 and "La date limite est passée" in page.text and 'id="amend"' not in page.text
    refused = client.post(link + "?lang=fr", data={"action": "withdraw"})
    assert refused.status_code == 409 and "La date limite est passée" in refused.text
    session.expire_all()
    assert session.exec(select(Submission)).one().withdrawn_at is None


def test_unconfirmed_responses_expire_and_their_files_go(
    client: TestClient,  # noqa: F811
    session: Session,
    engine,
    tmp_path,
) -> None:
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    payload = b"%PDF-1.7\n" + b"1" * 50
    form = {"name": "Nobody", "category": "other", "country": "CH", "email": "nobody@example.org",
            "language": "en", "summary": "never confirmed", "answer_1": "x"}  # fmt: skip
    assert client.post("/consultations/ott-2017/respond", data=form,
                       files={"attachment": ("n.pdf", payload, "application/pdf")}).status_code == 201  # fmt: skip
    client.post(API, json=GOOD)
    client.post(receipt_link(session, GOOD["email"]), data={"action": "confirm"})
    stored = session.exec(select(Submission).where(Submission.email == "nobody@example.org")).one()
    reference, attachment = stored.reference, tmp_path / "attachments" / stored.attachment_path
    assert attachment.is_file()
    settings = Settings(database_url=str(engine.url), data_dir=tmp_path, policy=POLICY)
    six_days = NOW + timedelta(days=6, hours=23)
    assert not work.expiry_due(engine=engine, now=six_days, settings=settings)
    seven = NOW + timedelta(days=7, minutes=1)
    assert work.expiry_due(engine=engine, now=seven, settings=settings)
    lines = work.expire_unconfirmed(engine=engine, now=seven, settings=settings)
    assert lines == [f"response {reference}: unconfirmed after 7 days, deleted"]
    session.expire_all()
    assert [s.email for s in session.exec(select(Submission))] == [GOOD["email"]]  # the confirmed one stays
    assert not attachment.exists()
    audit = session.exec(select(AuditEntry).where(AuditEntry.trigger == "expire_responses")).one()
    assert audit.details["references"] == [reference] and audit.actor == "clock"
    assert session.exec(select(SubmissionEvent)).all()  # the confirmed one's log is kept
    assert not work.expiry_due(engine=engine, now=seven, settings=settings)


def test_by_policy_a_moderator_approves_instead(client: TestClient, session: Session) -> None:  # noqa: F811
    c = consultation_in(session, Stage.OPEN, slug="ott-2017")
    c.publish_after = "moderation"
    session.commit()
    sent = client.post(API, json=GOOD).json()
    assert sent["publish_after"] == "moderation" and sent["status"] == "unconfirmed"
    link = receipt_link(session, GOOD["email"])
    page = client.get(link)
    assert 'id="confirm"' not in page.text and "reviews responses before they are published" in page.text
    assert client.post(link, data={"action": "confirm"}).status_code == 409
    assert sent["reference"] not in _public(client, session)
    staff = _staff(client)
    page = staff.get(f"/staff/consultations/ott-2017/responses/{sent['reference']}").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    approved = staff.post(f"/staff/consultations/ott-2017/responses/{sent['reference']}/approve",
                          data={"csrf": token}, follow_redirects=False)  # fmt: skip
    assert approved.status_code == 303
    assert sent["reference"] in _public(client, session)
    session.expire_all()
    row = session.exec(select(Submission)).one()
    assert row.confirmed_by == f"staff:{STAFF[0]}"
    entry = session.exec(select(AuditEntry).where(AuditEntry.trigger == "approve_response")).one()
    assert entry.details["reference"] == sent["reference"]
    assert repo.replayed_stage(session=session, consultation_id=c.id) == Stage.OPEN


def test_the_form_offers_the_three_publication_choices_in_its_language(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    page = client.get("/consultations/ott-2017/respond?lang=es").text
    for choice in ("named", "anonymous", "private"):
        assert f'name="publication" value="{choice}"' in page
    assert "Publicarla sin mi nombre ni mi organización" in page
    assert 'class="skip" href="#main"' in page and '<main id="main"' in page
    assert '<a href="?lang=ar" hreflang="ar" lang="ar">العربية</a>' in page  # language links in their own language


def _staff(web: TestClient) -> TestClient:
    token = re.search(r'name="csrf" value="([^"]+)"', web.get("/staff/login").text).group(1)
    web.post("/staff/login", data={"csrf": token, "name": STAFF[0], "password": STAFF[1]})
    return web


def test_json_compilation_flags_anonymous(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    client.post(API, json={**GOOD, "publication": "anonymous"})
    client.post(receipt_link(session, GOOD["email"]), data={"action": "confirm"})
    c = repo.get(session=session, ref="ott-2017")
    out = io.StringIO()
    compilation.write_json(session.connection(), c, out)
    (item,) = json.loads(out.getvalue())["responses"]
    assert item["name"] is None and item["organisation"] is None and item["anonymous"] is True
    assert submissions.status_of(session.exec(select(Submission)).one()) == "published"


def test_consult_responses_approve(session: Session, database_url: str) -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from tests.factories import geneva

    c = consultation_in(session, Stage.OPEN, slug="ott-2017")
    data = submissions.SubmissionCreate.model_validate({**GOOD, "language": "en"})
    received = submissions.submit(session=session, consultation=c, data=data, now=NOW, channel="api")
    session.commit()
    env = {"CONSULT_DATABASE_URL": database_url, "CONSULT_ACTOR": "staff:tester", "CONSULT_NOW": ""}
    reference = received.submission.reference
    args = ["responses", "approve", "ott-2017", reference, f"--now={geneva(NOW.date(), 13).isoformat()}"]
    done = CliRunner().invoke(app, args, env=env)
    assert done.exit_code == 0 and f"ott-2017: {reference} approved" in done.stdout
    again = CliRunner().invoke(app, args, env=env)
    assert again.exit_code == 2 and "already confirmed" in again.stderr  # a refusal, in one line
    session.expire_all()
    assert session.exec(select(Submission)).one().confirmed_by == "staff:tester"

"""Public pages and staff pages: languages, right-to-left, escaping, CSRF, login."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from states import Stage, Trigger
from store.tables import Consultation, Submission
from tests.factories import POLICY, change_stage, confirm_by_link, consultation_in
from tests.web_fixtures import STAFF, client  # noqa: F401  (fixture)

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def form_for(slug_answers: int, **override: str) -> dict[str, str]:
    data = {"name": "Li Wei", "organisation": "Org", "category": "sector_member", "country": "CN",
            "email": "li@example.cn", "language": "zh", "summary": "摘要"}  # fmt: skip
    data.update({f"answer_{n}": f"答复 {n}" for n in range(1, slug_answers + 1)})
    data.update(override)
    return data


def test_board_shows_columns_and_cards(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    consultation_in(session, Stage.DECIDED)
    page = client.get("/board").text
    for stage in Stage:
        assert f'data-stage="{stage.value}"' in page
    assert 'data-slug="ott-2017"' in page and 'Open for responses <span class="muted">(1)</span>' in page


LANGS = [
    ("ar", "المشاورات العامة", "rtl"), ("zh", "公开磋商", "ltr"), ("en", "Public consultations", "ltr"),
    ("fr", "Consultations publiques", "ltr"), ("ru", "Открытые консультации", "ltr"),
    ("es", "Consultas públicas", "ltr"),
]  # fmt: skip


@pytest.mark.parametrize(("lang", "word", "direction"), LANGS)
def test_six_languages(client: TestClient, session: Session, lang: str, word: str, direction: str) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    for path in ("/", "/consultations/ott-2017", "/consultations/ott-2017/respond"):
        page = client.get(f"{path}?lang={lang}").text
        assert f'<html lang="{lang}" dir="{direction}">' in page and word in page


def test_accept_language(client: TestClient) -> None:  # noqa: F811
    page = client.get("/", headers={"Accept-Language": "de-CH, fr;q=0.8, en;q=0.5"}).text
    assert '<html lang="fr"' in page


def test_detail_has_timeline_countdown_and_times(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    page = client.get("/consultations/ott-2017").text
    assert "<svg" in page and 'data-countdown="2017-08-19T21:59:59+00:00"' in page
    assert "<bdi>19 August 2017 23:59 CEST</bdi>" in page and 'datetime="2017-08-19T21:59:59+00:00"' in page


def test_form_response_and_receipt(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    response = client.post("/consultations/ott-2017/respond?lang=zh", data=form_for(5))
    assert response.status_code == 201 and "已收到您的答复" in response.text and "专用链接" in response.text
    reference = re.search(r'id="reference">([^<]+)<', response.text).group(1)
    stored = session.exec(select(Submission)).one()
    assert stored.reference == reference
    assert stored.summary in response.text and stored.answers[0]["text"] in response.text  # a copy to keep
    again = client.post("/consultations/ott-2017/respond?lang=en", data=form_for(5))
    assert again.status_code == 200 and "already been received" in again.text and reference in again.text


def test_form_errors_rerender_with_values(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    response = client.post("/consultations/ott-2017/respond", data=form_for(5, email="nope", country="XX"))
    assert response.status_code == 422 and 'role="alert"' in response.text
    assert "email" in response.text and "country" in response.text and 'value="Li Wei"' in response.text
    assert session.exec(select(Submission)).all() == []


@pytest.mark.parametrize(("payload", "name", "status"), [
    (b"%PDF-1.7\n" + b"0" * 100, "response.pdf", 201),
    (b"MZ\x90\x00 not a pdf", "response.pdf", 422),  # the name says PDF; the bytes say otherwise
])  # fmt: skip
def test_attachment_checked_by_magic_bytes(client, session: Session, tmp_path, payload, name, status) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    response = client.post("/consultations/ott-2017/respond", data=form_for(5),
                           files={"attachment": (name, payload, "application/pdf")})  # fmt: skip
    assert response.status_code == status
    if status == 201:
        row = session.exec(select(Submission)).one()
        assert row.attachment_name == "response.pdf" and re.fullmatch(r"[0-9a-f]{32}\.pdf", row.attachment_path)
        assert (tmp_path / "attachments" / row.attachment_path).read_bytes() == payload


def test_attachment_only_contribution_is_linked_and_served_while_published(client, session: Session) -> None:  # noqa: F811
    c = consultation_in(session, Stage.OPEN, slug="ott-2017")
    bare = {k: v for k, v in form_for(0).items()}
    refused = client.post("/consultations/ott-2017/respond", data=bare)  # neither answers nor a file
    assert refused.status_code == 422 and "Answer at least one question, or attach a file" in refused.text
    payload = b"%PDF-1.7\n" + b"1" * 50
    sent = client.post("/consultations/ott-2017/respond", data=bare,
                       files={"attachment": ("مساهمة مصر.pdf", payload, "application/pdf")})  # fmt: skip
    assert sent.status_code == 201
    assert '<bdi id="attached">مساهمة مصر.pdf</bdi>' in sent.text  # the sender sees the file was received
    row = session.exec(select(Submission)).one()
    link = f"/consultations/ott-2017/responses/{row.reference}/attachment"
    assert link not in client.get("/consultations/ott-2017/responses").text  # not public until confirmed
    assert client.get(link).status_code == 404
    confirm_by_link(client, session, row.email)
    assert link in client.get("/consultations/ott-2017/responses").text
    got = client.get(link)
    assert got.status_code == 200 and got.content == payload and got.headers["content-type"] == "application/pdf"
    assert "filename*=utf-8''%D9%85" in got.headers["content-disposition"]  # the Arabic name, encoded (RFC 6266)
    assert got.headers["x-content-type-options"] == "nosniff"
    row.published = False  # withheld: gone from the public, still there for staff
    session.commit()
    assert client.get(link).status_code == 404
    assert client.get("/consultations/ott-2017/responses/R-NOPE/attachment").status_code == 404
    assert c.slug == "ott-2017"


def test_xss_is_escaped_everywhere(client: TestClient, session: Session) -> None:  # noqa: F811
    c = consultation_in(session, Stage.OPEN, slug="ott-2017")
    row = session.get(Consultation, c.id)
    row.title = {"en": XSS}
    row.questions = [{"en": XSS}] * 5
    row.meeting_place = XSS
    session.commit()
    evil = form_for(5, name=XSS[:150], organisation=XSS[:150], summary=XSS, answer_1=XSS, language="en")
    assert client.post("/consultations/ott-2017/respond", data=evil).status_code == 201
    for path in (
        "/",
        "/consultations/ott-2017",
        "/consultations/ott-2017/respond",
        "/consultations/ott-2017/responses",
    ):
        page = client.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;" in page, path


def test_staff_login_csrf_and_actions(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.DECIDED, slug="ott-2017")
    assert client.get("/staff", follow_redirects=False).headers["location"] == "/staff/login"
    login = client.get("/staff/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', login).group(1)
    bad = client.post("/staff/login", data={"csrf": token, "name": STAFF[0], "password": "wrong password"})
    assert bad.status_code == 401
    assert (
        client.post("/staff/login", data={"csrf": "forged", "name": STAFF[0], "password": STAFF[1]}).status_code == 403
    )
    ok = client.post(
        "/staff/login", data={"csrf": token, "name": STAFF[0], "password": STAFF[1]}, follow_redirects=False
    )
    assert ok.status_code == 303
    board = client.get("/staff").text
    token = re.search(r'name="csrf" value="([^"]+)"', board).group(1)
    assert 'data-trigger="issue-letter"' in board and 'data-trigger="report"' not in board
    forged = client.post(
        "/staff/consultations/ott-2017/fire/issue-letter", data={"csrf": "forged"}, follow_redirects=False
    )
    assert forged.status_code == 403 and "form has expired" in forged.text
    session.expire_all()
    assert session.exec(select(Consultation)).one().stage == "decided"
    url = "/staff/consultations/ott-2017/fire/issue-letter"
    fired = client.post(url, data={"csrf": token, "letter_number": "CL-17/30"}, follow_redirects=False)
    assert fired.status_code == 303
    session.expire_all()
    row = session.exec(select(Consultation)).one()
    assert row.stage == "letter_issued" and row.letter_number == "CL-17/30"
    refused = client.post("/staff/consultations/ott-2017/fire/report", data={"csrf": token})
    assert refused.status_code == 409 and "not allowed in stage" in refused.text


def test_staff_new_consultation_form(client: TestClient, session: Session) -> None:  # noqa: F811
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/login").text).group(1)
    client.post("/staff/login", data={"csrf": token, "name": STAFF[0], "password": STAFF[1]})
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/new").text).group(1)
    form = {"csrf": token, "slug": "gender-2018", "title_en": "Bridging the gender digital divide",
            "title_ar": "سد الفجوة الرقمية بين الجنسين", "questions_en": "What works?\nWhat is missing?",
            "decided_on": "2018-01-10", "letter_date": "2018-01-15", "deadline": "2018-03-01",
            "meeting_on": "2018-03-31"}  # fmt: skip
    bad = client.post("/staff/new", data={**form, "deadline": "2018-01-20"})
    assert bad.status_code == 422 and "min_open_days" in bad.text and 'value="gender-2018"' in bad.text
    assert client.post("/staff/new", data=form, follow_redirects=False).status_code == 303
    row = session.exec(select(Consultation)).one()
    assert row.stage == "decided" and row.questions == [{"en": "What works?"}, {"en": "What is missing?"}]


def test_unsubscribe_one_click(client: TestClient, session: Session) -> None:  # noqa: F811
    from notifications import registry
    from store.models import StakeholderCreate
    from tests.web_fixtures import NOW

    registry.import_stakeholders(session=session, rows=[StakeholderCreate(name="A", email="a@example.org",
                                 category="other")], now=NOW)  # fmt: skip
    session.commit()
    token = registry.list_stakeholders(session=session)[0].unsubscribe_token
    assert client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    session.expire_all()
    assert registry.list_stakeholders(session=session)[0].opted_out
    unknown = client.post("/unsubscribe/nonsense", headers={"Accept-Language": "fr"})
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("text/html")
    assert 'lang="fr"' in unknown.text and "Introuvable" in unknown.text


def test_letter_and_compilation_are_linked(client: TestClient, session: Session) -> None:  # noqa: F811
    draft = consultation_in(session, Stage.COMPILED, slug="ott-2017")
    assert client.get("/consultations/ott-2017/compilation?format=csv").status_code == 404  # a draft is staff's
    change_stage(session=session, consultation=draft, trigger=Trigger.PUBLISH_COMPILATION, actor="staff:test",
                 now=datetime(2017, 9, 11, tzinfo=UTC), policy=POLICY)  # fmt: skip
    session.commit()
    page = client.get("/consultations/ott-2017?lang=ar").text
    assert "/consultations/ott-2017/letter?lang=ar" in page and "/consultations/ott-2017/compilation" in page
    letter = client.get("/consultations/ott-2017/letter?lang=ar")
    assert letter.status_code == 200 and "19 أغسطس 2017" in letter.text
    assert client.get("/consultations/ott-2017/letter?format=pdf").content.startswith(b"%PDF-")
    assert client.get("/consultations/ott-2017/compilation?format=csv").text.startswith(
        "\ufeffcontribution,"
    )  # the BOM Excel needs
    assert client.get("/consultations/ott-2017/compilation?format=json").json()["consultation"] == "ott-2017"


def test_report_is_linked_once_the_meeting_is_held(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.MEETING_HELD, slug="ott-2017")
    page = client.get("/consultations/ott-2017?lang=fr").text
    assert "/consultations/ott-2017/report?lang=fr" in page
    report = client.get("/consultations/ott-2017/report?lang=fr")
    assert report.status_code == 200 and "Le Conseil est invité à prendre note" in report.text
    docx = client.get("/consultations/ott-2017/report?format=docx")
    assert docx.content.startswith(b"PK")


def test_staff_board_counts_come_from_the_one_query(client: TestClient, session: Session) -> None:  # noqa: F811
    from config import Settings
    from notifications.effects import receive
    from store import respondents, submissions
    from store.models import SubmissionCreate
    from tests.web_fixtures import NOW

    c = consultation_in(session, Stage.OPEN, slug="counted")
    for who in ("a", "b"):
        data = SubmissionCreate(name=who.upper(), category="academia", country="FR", email=f"{who}@example.org",
                                summary="s", answers=[{"question": 1, "text": "t"}])  # fmt: skip
        receive(session=session, consultation=c, data=data, now=NOW, settings=Settings(), channel="web")
    session.commit()
    for row in submissions.all_for(session=session, consultation_id=c.id):
        respondents.approve(session=session, consultation=c, reference=row.reference, actor="staff:test", now=NOW)
    withheld = submissions.all_for(session=session, consultation_id=c.id)[0]
    submissions.moderate(session=session, consultation=c, reference=withheld.reference, publish=False,
                         reason="off-topic", actor="staff:test", now=NOW)  # fmt: skip
    session.commit()
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/login").text).group(1)
    client.post("/staff/login", data={"csrf": token, "name": STAFF[0], "password": STAFF[1]})
    board = re.sub(r"\s+", " ", client.get("/staff").text)
    assert "Responses: 2</a> (2 online, 0 other) · 1 published · 1 withheld" in board


def test_issued_documents_are_listed_and_served_as_archived(client: TestClient, session: Session) -> None:  # noqa: F811
    import base64
    import hashlib

    consultation_in(session, Stage.PUBLISHED, slug="ott-2017")
    page = client.get("/consultations/ott-2017?lang=ar").text
    assert "الوثائق كما صدرت" in page and 'href="/consultations/ott-2017/documents/letter.ar.pdf"' in page
    assert 'href="/consultations/ott-2017/documents/compilation.csv"' in page
    letter = client.get("/consultations/ott-2017/letter?lang=ar&format=pdf")
    assert letter.status_code == 200 and letter.content.startswith(b"%PDF")
    digest = hashlib.sha256(letter.content).digest()
    assert letter.headers["repr-digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
    assert client.get("/consultations/ott-2017/documents/letter.ar.pdf").content == letter.content
    assert (
        client.get("/consultations/ott-2017/letter?lang=fr").headers["content-disposition"].endswith('letter.en.html"')
    )  # not issued in French: the English letter as issued
    published = client.get("/consultations/ott-2017/compilation?format=csv")
    assert published.headers["etag"].strip('"') == hashlib.sha256(published.content).hexdigest()
    assert client.get("/consultations/ott-2017/documents/nothing.pdf").status_code == 404


def _staff_login(client: TestClient) -> str:  # noqa: F811
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/login").text).group(1)
    client.post("/staff/login", data={"csrf": token, "name": STAFF[0], "password": STAFF[1]})
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/staff").text).group(1)


def test_staff_key_in_an_emailed_contribution_with_its_file(
    session: Session, engine, database_url: str, tmp_path
) -> None:
    from store.staff import add_staff
    from tests.web_fixtures import settings_for
    from web.app import create_app

    consultation_in(session, Stage.CLOSED, slug="ott-2017")  # the deadline passed: 19 August 2017, 23:59:59
    later = settings_for(database_url, tmp_path, now=datetime(2017, 8, 25, 9, tzinfo=UTC))  # the processing window
    add_staff(session=session, name=STAFF[0], password=STAFF[1], now=later.now)
    session.commit()
    staff = TestClient(create_app(later, engine=engine, rate_limit=1000))
    csrf = _staff_login(staff)
    assert 'data-add-contribution="ott-2017"' in staff.get("/staff").text
    form = {"csrf": csrf, "received_at": "2017-08-18T16:40", "name": "Autoridad Nacional", "category": "member_state",
            "country": "CO", "email": "ict@example.co", "language": "es", "summary": "Enviado por correo"}  # fmt: skip
    pdf = b"%PDF-1.5\n" + b"2" * 40
    late = staff.post("/staff/consultations/ott-2017/contributions", data={**form, "received_at": "2017-08-20T09:00"},
                       files={"attachment": ("aporte.pdf", pdf, "application/pdf")})  # fmt: skip
    assert late.status_code == 422 and "after the deadline" in late.text and 'value="Autoridad Nacional"' in late.text
    gap = staff.post("/staff/consultations/ott-2017/contributions", data={**form, "received_at": "2017-03-26T02:30"})
    assert gap.status_code == 422 and "does not exist in Europe/Geneva" in gap.text  # the DST gap
    ok = staff.post("/staff/consultations/ott-2017/contributions", data=form,
                     files={"attachment": ("aporte.pdf", pdf, "application/pdf")}, follow_redirects=False)  # fmt: skip
    assert ok.status_code == 303 and "added" in ok.headers["location"]
    row = session.exec(select(Submission)).one()
    assert row.channel == "import" and row.answers == [] and row.attachment_name == "aporte.pdf"
    assert row.received_at == datetime(2017, 8, 18, 14, 40, tzinfo=UTC)
    anonymous = TestClient(staff.app)
    assert anonymous.post("/staff/consultations/ott-2017/contributions", data=form,
                          follow_redirects=False).headers["location"] == "/staff/login"  # fmt: skip


def test_staff_mail_page_previews_tests_holds_and_warns(client: TestClient, session: Session) -> None:  # noqa: F811
    from notifications.outbox import messages
    from tests.test_mail import add_people

    add_people(session)
    c = consultation_in(session, Stage.OPEN, slug="ott-2017")
    csrf = _staff_login(client)
    board = client.get("/staff").text
    assert "warning: mail is sent as" in board  # the placeholder sender, outside a demo
    page = client.get("/staff/consultations/ott-2017/mail").text
    assert 'id="by-notice"' in page and "Replies go to the consultation's contact: <strong>cwg-internet@itu.int" in page
    shown = client.get("/staff/consultations/ott-2017/mail/preview/invitation?lang=ar").text
    assert "<th>Reply-To</th>" in shown and 'dir="rtl"' in shown and "<iframe" in shown and "sandbox" in shown
    bad = client.get("/staff/consultations/ott-2017/mail/preview/extended?lang=en")
    assert bad.status_code == 422 and "no deadline extension recorded yet" in bad.text
    form = {"csrf": csrf, "notice": "reminder", "language": "es", "to": "yo@secretaria.example"}
    sent = client.post("/staff/consultations/ott-2017/mail/test", follow_redirects=False, data=form)
    assert sent.status_code == 303 and "test+queued" in sent.headers["location"]
    (test,) = [m for m in messages(session=session, consultation_id=c.id) if m.purpose.startswith("test:reminder:")]
    assert test.recipient_email == "yo@secretaria.example" and test.subject.startswith("[TEST] ")
    refused = client.post("/staff/consultations/ott-2017/mail/test", data={**form, "to": "not an address"})
    assert refused.status_code == 422 and "email" in refused.text
    client.post("/staff/consultations/ott-2017/mail/hold", data={"csrf": csrf})
    assert 'id="held"' in client.get("/staff/consultations/ott-2017/mail").text
    client.post("/staff/consultations/ott-2017/mail/resume", data={"csrf": csrf})
    assert 'id="held"' not in client.get("/staff/consultations/ott-2017/mail").text


def test_staff_narrow_recipients_before_the_letter(client: TestClient, session: Session) -> None:  # noqa: F811
    from tests.test_mail import add_people

    add_people(session)
    consultation_in(session, Stage.DECIDED, slug="ott-2017")
    csrf = _staff_login(client)
    assert "the letter will go to 6 stakeholder(s)" in client.get("/staff").text
    form = {"csrf": csrf, "category": ["member_state", "sector_member"], "countries": "sa, cn, es"}
    done = client.post("/staff/consultations/ott-2017/mail/recipients", data=form)
    said = "recipients set: categories: member_state, sector_member; countries: SA, CN, ES — 3 now"
    assert done.status_code == 200 and said in done.text
    assert "the letter will go to 3 stakeholder(s)" in client.get("/staff").text


def test_security_headers_on_every_response(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    for path in ("/", "/consultations/ott-2017", "/staff/login", "/api/consultations", "/nowhere"):
        headers = client.get(path).headers
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["referrer-policy"] == "same-origin", path
    assert "content-security-policy" not in client.get("/docs").headers  # its viewer comes from a CDN


def test_names_lose_bidi_overrides_and_csv_cells_never_run_as_formulas(client: TestClient, session: Session) -> None:  # noqa: F811
    import csv
    import io

    from documents import compilation

    c = consultation_in(session, Stage.OPEN, slug="ott-2017")
    evil = form_for(5, name="evil\u202egpj.exe", organisation="=HYPERLINK(\"http://x.example\",\"click\")",
                    summary="@SUM(1+1)", answer_1="-2+3", language="en")  # fmt: skip
    assert client.post("/consultations/ott-2017/respond", data=evil).status_code == 201
    row = session.exec(select(Submission)).one()
    assert row.name == "evilgpj.exe"
    confirm_by_link(client, session, row.email)
    out = io.StringIO()
    session.refresh(c)
    compilation.write_csv(session.connection(), c, out)
    (record,) = list(csv.DictReader(io.StringIO(out.getvalue().removeprefix("\ufeff"))))
    assert record["organisation"].startswith("'=HYPERLINK") and record["summary"] == "'@SUM(1+1)"
    assert record["answer_1"] == "'-2+3"


SIX = ("ar", "zh", "en", "fr", "ru", "es")


@pytest.mark.parametrize("lang", SIX)
def test_form_errors_in_the_page_s_language(client: TestClient, session: Session, lang: str) -> None:  # noqa: F811
    """Each error is in the reader's language, names its field as the form labels it, links
    to it, and the field is marked invalid and focused; categories and countries are named
    in the reader's language too."""
    from web.i18n import field_label, words

    consultation_in(session, Stage.OPEN, slug="ott-2017")
    t = words(lang)
    page = client.get(f"/consultations/ott-2017/respond?lang={lang}").text
    assert t["category_member_state"] in page and t["choose_country"] in page
    form = {**form_for(1), "email": "not an address", "country": ""}
    answer = client.post(f"/consultations/ott-2017/respond?lang={lang}", data=form)
    assert answer.status_code == 422
    text = html.unescape(answer.text)
    assert t["err_email"].format(field=field_label("email", lang)) in text
    assert t["err_required"].format(field=field_label("country", lang)) in text or \
        t["err_country"].format(field=field_label("country", lang)) in text  # fmt: skip
    assert '<a href="#f-email">' in answer.text and 'id="f-email" aria-invalid="true"' in answer.text
    assert f'lang="{lang}"' in answer.text and "value is not a valid" not in text  # no pydantic English
    none = client.post(f"/consultations/ott-2017/respond?lang={lang}",
                       data={**form_for(2), **{f"answer_{n}": "" for n in range(1, 6)}})  # fmt: skip
    assert none.status_code == 422 and t["err_answer"] in html.unescape(none.text)


def test_every_wording_key_exists_in_six_languages() -> None:
    """A key missing in one language fails here, for the pages, the mail and the documents
    (letter, addendum, compilation, report)."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).parents[1]
    for folder in (root / "web" / "catalog", root / "notifications" / "catalog", root / "documents" / "catalog"):
        keys = {}
        for lang in SIX:
            data = tomllib.loads((folder / f"{lang}.toml").read_text(encoding="utf-8"))
            keys[lang] = {f"{k}.{sub}" if isinstance(v, dict) else k for k, v in data.items()
                          for sub in (v if isinstance(v, dict) else [None])}  # fmt: skip
        for lang in SIX:
            assert keys[lang] == keys["en"], (folder.name, lang, keys["en"] ^ keys[lang])

"""The HTTP API (DESIGN §6) against the real app and database."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from states import Stage
from store.tables import Consultation, OutboxMessage, Submission
from tests.factories import confirm_by_link, consultation_in
from tests.web_fixtures import STAFF, client  # noqa: F401  (fixture)

GOOD = {
    "name": "Amal Saud", "organisation": "CITC", "category": "member_state", "country": "SA",
    "email": "amal@example.sa", "language": "ar", "summary": "ملخص", "answers": [{"question": 1, "text": "رد"}],
}  # fmt: skip


def open_one(session: Session) -> str:
    return consultation_in(session, Stage.OPEN, slug="ott-2017").slug


def test_health_and_docs(client: TestClient) -> None:  # noqa: F811
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/consultations/{ref}/submissions" in paths and "/api/consultations/{ref}/calendar.ics" in paths


def test_list_and_get(client: TestClient, session: Session) -> None:  # noqa: F811
    slug = open_one(session)
    consultation_in(session, Stage.DECIDED)
    listed = client.get("/api/consultations").json()
    assert len(listed) == 2
    assert [c["slug"] for c in client.get("/api/consultations?stage=open").json()] == [slug]
    assert client.get("/api/consultations?stage=limbo").status_code == 422
    one = client.get(f"/api/consultations/{slug}").json()
    for key in ("id", "slug", "stage", "title", "questions", "timezone", "opens_at", "deadline", "meeting_on",
                "letter_number", "next_due"):  # fmt: skip
        assert key in one
    assert one["deadline"] == "2017-08-19T21:59:59+00:00" and one["next_due"]["trigger"] == "close-submissions"
    assert client.get(f"/api/consultations/{one['id']}").json()["slug"] == slug
    assert client.get("/api/consultations/nope").status_code == 404


def test_submission_201_then_same_again_200_then_different_409(client: TestClient, session: Session) -> None:  # noqa: F811
    slug = open_one(session)
    first = client.post(f"/api/consultations/{slug}/submissions", json=GOOD)
    assert first.status_code == 201 and first.json()["created"] is True and "email" not in first.json()
    assert first.json()["status"] == "unconfirmed" and first.json()["publish_after"] == "confirmation"
    again = client.post(f"/api/consultations/{slug}/submissions", json=GOOD)
    assert again.status_code == 200 and again.json()["reference"] == first.json()["reference"]
    confirm_by_link(client, session, GOOD["email"])  # once its address is confirmed, the response is the address's
    other = client.post(f"/api/consultations/{slug}/submissions", json={**GOOD, "summary": "changed"})
    assert other.status_code == 409 and "amend it through the link in its receipt" in other.json()["detail"]
    assert len(session.exec(select(Submission)).all()) == 1
    receipts = [m for m in session.exec(select(OutboxMessage)).all() if m.purpose.startswith("receipt")]
    assert len(receipts) == 1 and receipts[0].recipient_email == "amal@example.sa" and receipts[0].language == "ar"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "nope"}, "email"), ({"country": "XX"}, "country"), ({"category": "press"}, "category"),
        ({"language": "de"}, "language"), ({"answers": []}, "answers"), ({"summary": ""}, "summary"),
        ({"answers": [{"question": 0, "text": "x"}]}, "answers.0.question"),
        ({"answers": [{"question": 1, "text": "x", "score": 3}]}, "answers.0.score"),
    ],
)  # fmt: skip
def test_invalid_fields_are_422_naming_each(client: TestClient, session: Session, change, field) -> None:  # noqa: F811
    slug = open_one(session)
    response = client.post(f"/api/consultations/{slug}/submissions", json={**GOOD, **change})
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["detail"]]
    assert session.exec(select(Submission)).all() == []


def test_question_out_of_range_is_422(client: TestClient, session: Session) -> None:  # noqa: F811
    slug = open_one(session)
    response = client.post(
        f"/api/consultations/{slug}/submissions", json={**GOOD, "answers": [{"question": 9, "text": "x"}]}
    )
    assert response.status_code == 422 and "question 9 does not exist" in response.json()["detail"]


@pytest.mark.parametrize("field", ["id", "stage", "created_at", "consultation_id", "published", "reference"])
def test_mass_assignment_is_refused(client: TestClient, session: Session, field: str) -> None:  # noqa: F811
    slug = open_one(session)
    response = client.post(f"/api/consultations/{slug}/submissions", json={**GOOD, field: 999})
    assert response.status_code == 422 and response.json()["detail"][0] == {"field": field, "message": "unknown field"}


def test_not_open_is_409(client: TestClient, session: Session) -> None:  # noqa: F811
    decided = consultation_in(session, Stage.DECIDED).slug
    closed = consultation_in(session, Stage.CLOSED).slug
    for slug, words in ((decided, "has not opened yet"), (closed, "is closed")):
        response = client.post(f"/api/consultations/{slug}/submissions", json=GOOD)
        assert response.status_code == 409 and words in response.json()["detail"]


def test_public_listing_never_has_email(client: TestClient, session: Session) -> None:  # noqa: F811
    slug = open_one(session)
    client.post(f"/api/consultations/{slug}/submissions", json=GOOD)
    confirm_by_link(client, session, GOOD["email"])
    body = client.get(f"/api/consultations/{slug}/submissions").text
    assert "amal@example.sa" not in body and "Amal Saud" in json.loads(body)[0]["name"]
    for path in ("/api/consultations", f"/api/consultations/{slug}", "/", f"/consultations/{slug}",
                 f"/consultations/{slug}/responses"):  # fmt: skip
        assert "amal@example.sa" not in client.get(path).text


def test_withheld_responses_are_not_listed(client: TestClient, session: Session) -> None:  # noqa: F811
    slug = open_one(session)
    client.post(f"/api/consultations/{slug}/submissions", json=GOOD)
    row = session.exec(select(Submission)).one()
    row.published = False
    session.commit()
    assert client.get(f"/api/consultations/{slug}/submissions").json() == []


def test_staff_routes_need_credentials(client: TestClient, session: Session) -> None:  # noqa: F811
    slug = consultation_in(session, Stage.DECIDED).slug
    assert client.post(f"/api/consultations/{slug}/transitions/cancel", json={"reason": "x"}).status_code == 401
    assert client.post(f"/api/consultations/{slug}/transitions/cancel", json={"reason": "x"},
                       auth=(STAFF[0], "wrong password!")).status_code == 401  # fmt: skip
    fired = client.post(f"/api/consultations/{slug}/transitions/issue-letter", json={"letter_number": "CL-17/30"},
                        auth=STAFF)  # fmt: skip
    assert fired.status_code == 200 and fired.json()["consultation"]["letter_number"] == "CL-17/30"
    assert fired.json()["audit"]["actor"] == "staff:secretariat"
    not_allowed = client.post(f"/api/consultations/{slug}/transitions/report", auth=STAFF)
    assert not_allowed.status_code == 409 and "allowed there" in not_allowed.json()["detail"]


def test_staff_create_consultation(client: TestClient) -> None:  # noqa: F811
    decision = {
        "slug": "gender-2018", "decided_on": "2018-01-10", "letter_date": "2018-01-15", "deadline": "2018-03-01",
        "meeting_on": "2018-03-31", "title": {"en": "Bridging the gender digital divide"},
        "questions": [{"en": "What works?"}],
    }  # fmt: skip
    assert client.post("/api/consultations", json=decision).status_code == 401
    created = client.post("/api/consultations", json=decision, auth=STAFF)
    assert created.status_code == 201 and created.json()["stage"] == "decided"
    bad = client.post("/api/consultations", json={**decision, "slug": "x-2", "deadline": "2018-01-20"}, auth=STAFF)
    assert bad.status_code == 422 and "min_open_days" in bad.json()["detail"]
    unknown = client.post("/api/consultations", json={**decision, "slug": "x-3", "stage": "reported"}, auth=STAFF)
    assert unknown.status_code == 422 and "unknown key 'stage'" in unknown.json()["detail"]


def test_calendar(client: TestClient, session: Session) -> None:  # noqa: F811
    from icalendar import Calendar

    slug = open_one(session)
    response = client.get(f"/api/consultations/{slug}/calendar.ics")
    assert response.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(response.content)
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    deadline = events[f"{slug}-deadline@consult"]
    assert deadline.decoded("dtstart").isoformat() == "2017-08-19T21:59:59+00:00"
    assert deadline.walk("VALARM") and events[f"{slug}-meeting@consult"].decoded("dtstart") == date(2017, 9, 18)


def test_request_size_limit(client: TestClient, session: Session) -> None:  # noqa: F811
    slug = open_one(session)
    huge = {**GOOD, "summary": "x" * (13 * 1024 * 1024)}
    assert client.post(f"/api/consultations/{slug}/submissions", json=huge).status_code == 413


def test_rate_limit(engine, database_url, tmp_path, session: Session) -> None:
    from tests.web_fixtures import settings_for
    from web.app import create_app

    slug = open_one(session)
    with TestClient(create_app(settings_for(database_url, tmp_path), engine=engine, rate_limit=3)) as limited:
        url = f"/api/consultations/{slug}/submissions"
        codes = [limited.post(url, json={**GOOD, "email": f"p{i}@example.org"}).status_code for i in range(5)]
    assert codes == [201, 201, 201, 429, 429]


async def test_a_locked_sqlite_database_stalls_responses_not_the_server(
    engine, database_url: str, tmp_path, session: Session
) -> None:
    """While another process holds SQLite's write lock (the clock queueing 10,000
    reminders, say), a response waits on the writer thread; pages and the API still
    answer, because the event loop never waits on the database itself. Then the response
    is stored."""
    import asyncio
    import sqlite3
    import time

    import httpx
    from sqlalchemy.engine import make_url

    from tests.web_fixtures import settings_for
    from web.app import create_app

    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single writer is what this is about")
    slug = open_one(session)
    app = create_app(settings_for(database_url, tmp_path), engine=engine, rate_limit=1000)
    holder = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held by someone else
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            posting = asyncio.create_task(client.post(f"/api/consultations/{slug}/submissions", json=GOOD))
            form = {**{k: v for k, v in GOOD.items() if k != "answers"}, "email": "form@example.sa", "answer_1": "x"}
            by_form = asyncio.create_task(client.post(f"/consultations/{slug}/respond", data=form))
            await asyncio.sleep(0.3)
            assert not posting.done() and not by_form.done()  # waiting for the lock, on the writer thread
            start = time.monotonic()
            listed = await client.get(f"/api/consultations/{slug}")
            assert listed.status_code == 200 and time.monotonic() - start < 2
            holder.execute("COMMIT")
            response, page = await asyncio.wait_for(asyncio.gather(posting, by_form), 30)
        assert response.status_code == 201 and page.status_code == 201
    finally:
        holder.close()
    assert len(session.exec(select(Submission)).all()) == 2


def test_odd_ids_and_a_title_with_line_breaks_never_give_a_500(client: TestClient, session: Session) -> None:  # noqa: F811
    slug = open_one(session)
    row = session.exec(select(Consultation).where(Consultation.slug == slug)).one()
    row.title = {"en": "Line one\nLine two\r\nX-Injected: 1"}
    session.commit()
    ics = client.get(f"/api/consultations/{slug}/calendar.ics")
    assert ics.status_code == 200 and "SUMMARY:Submissions open: Line one Line two X-Injected: 1" in ics.text.replace(
        "\r\n ", ""
    )
    for ref in ("99999999999999999999999", "²", "-1", "0"):
        assert client.get(f"/api/consultations/{ref}").status_code == 404, ref
        assert client.get(f"/consultations/{ref}").status_code == 404, ref

"""Responses that arrive together are written together (web/context.py Web.take_response):
one transaction for the batch, and for each response the outcome it would have alone."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from states import Stage
from states.errors import NotFound
from store.models import SubmissionCreate
from store.submissions import InvalidAnswer, NotAccepting, Received
from store.tables import OutboxMessage, Submission
from tests.factories import consultation_in
from tests.test_web_api import GOOD
from tests.web_fixtures import NOW, client  # noqa: F401  (fixture)
from web.context import _Intake


def job(ref: str, **changes: object) -> _Intake:
    data = SubmissionCreate.model_validate({**GOOD, **changes})
    return _Intake(ref=ref, data=data, now=NOW, channel="api", attachment_name=None, attachment=None)


def outcome(done: Future[Received]) -> Received | BaseException:
    exc = done.exception(timeout=0)
    return exc if exc is not None else done.result(timeout=0)


def commits_during(engine: Engine, write: object) -> int:
    seen: list[object] = []

    def count(conn: object) -> None:
        seen.append(conn)

    event.listen(engine, "commit", count)
    try:
        write()  # type: ignore[operator]
    finally:
        event.remove(engine, "commit", count)
    return len(seen)


def test_a_batch_is_one_transaction_and_each_response_gets_its_own_answer(
    client: TestClient,  # noqa: F811
    session: Session,
    engine: Engine,
) -> None:
    slug = consultation_in(session, Stage.OPEN, slug="ott-2017").slug
    closed = consultation_in(session, Stage.CLOSED).slug
    web = client.app.state.web  # type: ignore[attr-defined]
    jobs = [job(slug), job(slug, email="b@example.org", language="fr"), job(slug),  # the first again: the same one
            job("no-such-consultation", email="c@example.org"), job(slug, email="d@example.org",
            answers=[{"question": 9, "text": "?"}]), job(closed, email="e@example.org"),
            job(slug, email="f@example.org", language="en")]  # fmt: skip
    web.intake.extend(jobs)
    assert commits_during(engine, web._write_waiting) == 1
    first, second, again, unknown, invalid, late, last = (outcome(j.done) for j in jobs)
    assert isinstance(first, Received) and first.created and first.link
    assert isinstance(again, Received) and not again.created
    assert again.submission.reference == first.submission.reference
    assert isinstance(unknown, NotFound) and isinstance(invalid, InvalidAnswer) and isinstance(late, NotAccepting)
    assert isinstance(second, Received) and isinstance(last, Received) and second.created and last.created
    references = {r.submission.reference for r in (first, second, last)}
    assert len(references) == 3  # each its own
    stored = session.exec(select(Submission.email, Submission.reference).order_by(Submission.id)).all()
    assert [email for email, _ in stored] == ["amal@example.sa", "b@example.org", "f@example.org"]
    assert {reference for _, reference in stored} == references
    receipts = session.exec(select(OutboxMessage.recipient_email, OutboxMessage.language)).all()
    assert sorted(receipts) == [("amal@example.sa", "ar"), ("b@example.org", "fr"), ("f@example.org", "en")]
    assert not web.intake


def test_a_failure_that_is_no_refusal_fails_only_the_response_that_caused_it(
    client: TestClient,  # noqa: F811
    session: Session,
    engine: Engine,
    tmp_path: Path,
) -> None:
    """Its attachment cannot be written (the folder is a file): the batch is rolled back,
    each response tried again alone; the others are stored, that one is not, nor its receipt."""
    slug = consultation_in(session, Stage.OPEN, slug="ott-2017").slug
    web = client.app.state.web  # type: ignore[attr-defined]
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    web.attachments = blocked
    broken = job(slug, email="x@example.org")
    broken.attachment_name, broken.attachment = "a.pdf", ("stored.pdf", b"%PDF-1.4")
    jobs = [job(slug), broken, job(slug, email="b@example.org")]
    web.intake.extend(jobs)
    assert commits_during(engine, web._write_waiting) == 2  # the batch's none, then each good one alone
    good, failed, other = (outcome(j.done) for j in jobs)
    assert isinstance(failed, OSError)
    assert isinstance(good, Received) and good.created and isinstance(other, Received) and other.created
    assert sorted(session.exec(select(Submission.email)).all()) == ["amal@example.sa", "b@example.org"]
    assert sorted(session.exec(select(OutboxMessage.recipient_email)).all()) == ["amal@example.sa", "b@example.org"]


@pytest.mark.parametrize("count", [1, 40])
def test_requests_at_once_are_each_answered_once(client: TestClient, session: Session, count: int) -> None:  # noqa: F811
    """Through the app: more at once than a batch holds; every one stored, every answer its own."""
    import asyncio

    import httpx

    slug = consultation_in(session, Stage.OPEN, slug="ott-2017").slug

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=client.app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await asyncio.gather(*(http.post(f"/api/consultations/{slug}/submissions",
                                                    json={**GOOD, "email": f"p{i}@example.org"})
                                          for i in range(count)))  # fmt: skip

    answers = asyncio.run(post_all())
    assert [a.status_code for a in answers] == [201] * count
    assert len({a.json()["reference"] for a in answers}) == count
    assert len(session.exec(select(Submission)).all()) == count

"""The HTTP edge speaks HTTP: errors by kind (404/409/422, HTML for pages in the reader's
language, JSON for the API), response schemas in OpenAPI, and an event loop that no
staff action blocks — a letter to 5,000 stakeholders issued from the board while
/healthz is polled."""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select
from sqlmodel import Session

from notifications.catcher import free_port
from states import Stage
from store.staff import add_staff
from store.tables import OutboxMessage, Stakeholder
from tests.factories import OTT, consultation_in
from tests.web_fixtures import NOW, STAFF, client  # noqa: F401 (fixture)


def _decision(slug: str) -> dict:
    return {**{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in OTT.items()}, "slug": slug}


def test_errors_by_kind_on_the_api(client: TestClient, session: Session) -> None:  # noqa: F811
    assert client.post("/api/consultations", json=_decision("dup-1"), auth=STAFF).status_code == 201
    duplicate = client.post("/api/consultations", json=_decision("dup-1"), auth=STAFF)
    assert duplicate.status_code == 409 and duplicate.json()["kind"] == "conflict"
    consultation_in(session, Stage.DECIDED, slug="letter-a")
    consultation_in(session, Stage.DECIDED, slug="letter-b")
    first = client.post("/api/consultations/letter-a/transitions/issue-letter", json={"letter_number": "CL-17/30"},
                        auth=STAFF)  # fmt: skip
    assert first.status_code == 200
    used = client.post("/api/consultations/letter-b/transitions/issue-letter", json={"letter_number": "CL-17/30"},
                       auth=STAFF)  # fmt: skip
    assert used.status_code == 409 and "already used" in used.json()["detail"]
    refused = client.post("/api/consultations/letter-b/transitions/cancel", json={}, auth=STAFF)
    assert refused.status_code == 422 and "reason_given" in refused.json()["detail"]
    assert refused.json()["kind"] == "refused"
    wrong_param = client.post("/api/consultations/letter-b/transitions/cancel",
                              json={"reason": "x", "meeting_summary": "y"}, auth=STAFF)  # fmt: skip
    assert wrong_param.status_code == 422 and "hold-meeting only" in wrong_param.json()["detail"]
    missing = client.get("/api/consultations/no-such-thing")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"


def test_pages_answer_errors_as_pages_in_the_reader_s_language(client: TestClient, session: Session) -> None:  # noqa: F811
    missing = client.get("/consultations/no-such-thing", headers={"Accept-Language": "ar"})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert 'lang="ar" dir="rtl"' in missing.text and "غير موجود" in missing.text
    assert "no consultation &#39;no-such-thing&#39;" in missing.text  # the message, escaped
    consultation_in(session, Stage.OPEN, slug="open-one")
    not_yet = client.get("/consultations/open-one/report?lang=es")
    assert not_yet.status_code == 404 and "No encontrado" in not_yet.text
    bad_format = client.get("/consultations/open-one/report?format=exe&lang=fr")
    assert bad_format.status_code == 422 and "Veuillez vérifier" in bad_format.text
    unknown_route = client.get("/nowhere?lang=zh")
    assert unknown_route.status_code == 404 and "未找到" in unknown_route.text


def test_staff_actions_on_unknown_things_are_404(client: TestClient, session: Session) -> None:  # noqa: F811
    client.get("/staff/login")
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/login").text)
    assert token is not None
    client.post("/staff/login", data={"name": STAFF[0], "password": STAFF[1], "csrf": token.group(1)})
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff").text)
    assert csrf is not None
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    gone = client.post("/staff/consultations/ott-2017/responses/R-NOPE/withhold",
                       data={"csrf": csrf.group(1), "reason": "spam"})  # fmt: skip
    assert gone.status_code == 404 and "no response &#39;R-NOPE&#39;" in gone.text


def test_openapi_describes_every_answer(client: TestClient) -> None:  # noqa: F811
    schema = client.get("/openapi.json").json()
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            ok = next(code for code in ("200", "201") if code in operation["responses"])
            content = operation["responses"][ok].get("content", {})
            assert content, f"{method.upper()} {path}: no response body described"
            if "application/json" in content:
                assert content["application/json"]["schema"], f"{method.upper()} {path}: no schema"
    components = schema["components"]["schemas"]
    assert {"ConsultationView", "ConsultationDetail", "Fired", "Receipt", "Health", "TransitionRequest"} <= set(
        components
    )
    assert set(components["TransitionRequest"]["properties"]) == {
        "letter_number", "meeting_summary", "reason", "new_deadline",
    }  # fmt: skip


def _serve(database_url: str, data: Path, now: datetime) -> tuple[subprocess.Popen, str]:
    """`consult serve` as operators run it, in a process of its own: what is measured is its
    event loop, not the test's."""
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CONSULT_", "PREFECT_"))},
           "CONSULT_DATABASE_URL": database_url, "CONSULT_DATA_DIR": str(data), "CONSULT_NOW": now.isoformat(),
           "CONSULT_SECRET_KEY": "test-secret", "CONSULT_SMTP_HOST": "127.0.0.1", "CONSULT_SMTP_PORT": "9"}  # fmt: skip
    proc = subprocess.Popen([str(Path(sys.executable).parent / "consult"), "serve", "--no-clock", "--demo",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("consult serve did not answer")


@pytest.mark.slow
def test_a_letter_to_5000_stakeholders_never_blocks_the_event_loop(
    engine: Engine, database_url: str, tmp_path: Path, session: Session
) -> None:
    consultation_in(session, Stage.DECIDED, slug="big-round")
    session.execute(insert(Stakeholder), [
        {"name": f"Stakeholder {i}", "organisation": None, "category": "other", "country": None,
         "email": f"person{i}@example.org", "language": ("ar", "zh", "en", "fr", "ru", "es")[i % 6],
         "unsubscribe_token": f"token-{i:05d}", "opted_out": False, "bounced": False, "created_at": NOW,
         "updated_at": NOW}
        for i in range(5000)
    ])  # fmt: skip
    add_staff(session=session, name=STAFF[0], password=STAFF[1], now=NOW)
    session.commit()
    letter_day = datetime(2017, 6, 14, 8, tzinfo=UTC)
    server, base = _serve(database_url, tmp_path, letter_day)
    waits: list[float] = []
    stop = threading.Event()

    def poll(base: str) -> None:
        with httpx.Client(base_url=base, timeout=10) as poller:
            while not stop.is_set():
                started = time.perf_counter()
                assert poller.get("/healthz").status_code == 200
                waits.append(time.perf_counter() - started)
                time.sleep(0.02)

    staff = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    poller = threading.Thread(target=poll, args=(base,))
    try:
        token = re.search(r'name="csrf" value="([^"]+)"', staff.get("/staff/login").text)
        assert token is not None
        staff.post("/staff/login", data={"name": STAFF[0], "password": STAFF[1], "csrf": token.group(1)})
        csrf = re.search(r'name="csrf" value="([^"]+)"', staff.get("/staff").text)
        assert csrf is not None
        poller.start()
        time.sleep(0.3)
        started = time.perf_counter()
        issued = staff.post("/staff/consultations/big-round/fire/issue-letter",
                            data={"csrf": csrf.group(1), "letter_number": "CL-17/45"})  # fmt: skip
        answered = time.perf_counter() - started
        deadline = time.monotonic() + 180
        queued = 0
        while queued < 5000 and time.monotonic() < deadline:
            time.sleep(0.25)
            with Session(engine) as s:
                queued = s.execute(select(func.count()).select_from(OutboxMessage)).scalar_one()
        time.sleep(0.3)
    finally:
        stop.set()
        if poller.is_alive():
            poller.join(30)
        staff.close()
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert issued.status_code == 303, issued.text
    assert queued == 5000  # every stakeholder's invitation, fanned out in the background
    assert answered < 2.0, f"the board answered after {answered:.2f} s"
    assert len(waits) > 20
    worst, median = max(waits) * 1000, statistics.median(waits) * 1000
    print(f"/healthz while 5,000 invitations were fanned out: worst {worst:.0f} ms, median {median:.0f} ms, "
          f"{len(waits)} polls; the board answered in {answered * 1000:.0f} ms")  # fmt: skip
    assert worst < 200, f"a /healthz poll waited {worst:.0f} ms (median {median:.0f} ms)"

"""Staff authentication that holds (OWASP ASVS level 2 as the yardstick): HTTP Basic only
for non-browser clients, sessions held on the server and ended by logout, removal or a new
password, throttled wrong passwords with a lockout before any check, no argon2 for unknown
names, a Secure cookie behind HTTPS, security headers (test_web_pages.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from states import Stage
from store import staff as staff_store
from store.staff import add_staff, remove_staff
from tests.factories import consultation_in
from tests.web_fixtures import NOW, STAFF, client, settings_for  # noqa: F401  (fixture)
from web.app import create_app

CANCEL = "/api/consultations/ott-2017/transitions/cancel"


def _login(c: TestClient, password: str = STAFF[1]):
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/staff/login").text).group(1)
    return c.post("/staff/login", data={"csrf": token, "name": STAFF[0], "password": password},
                  follow_redirects=False)  # fmt: skip


def test_basic_auth_is_refused_on_a_cross_site_browser_request(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    body = {"reason": "forged"}
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        refused = client.post(CANCEL, json=body, auth=STAFF, headers=headers)
        assert refused.status_code == 403 and "another site" in refused.json()["detail"]
    same = client.post(CANCEL, json={"reason": "withdrawn"}, auth=STAFF, headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200 and same.json()["consultation"]["stage"] == "cancelled"


def test_logout_and_removal_end_sessions_whatever_copy_of_the_cookie(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    assert _login(client).status_code == 303
    stolen = dict(client.cookies)
    board = client.get("/staff")
    assert board.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', board.text).group(1)
    client.post("/staff/logout", data={"csrf": csrf})
    thief = TestClient(client.app, cookies=stolen)
    assert thief.get("/staff", follow_redirects=False).headers["location"] == "/staff/login"

    assert _login(client).status_code == 303
    assert client.get("/staff", follow_redirects=False).status_code == 200
    assert remove_staff(session=session, name=STAFF[0])
    session.commit()
    assert client.get("/staff", follow_redirects=False).headers["location"] == "/staff/login"
    assert client.post(CANCEL, json={"reason": "x"}, auth=STAFF).status_code == 401  # Basic too, at once


def test_a_new_password_ends_sessions(client: TestClient, session: Session) -> None:  # noqa: F811
    assert _login(client).status_code == 303
    add_staff(session=session, name=STAFF[0], password="another long password", now=NOW)
    session.commit()
    assert client.get("/staff", follow_redirects=False).headers["location"] == "/staff/login"


def test_wrong_passwords_are_throttled_before_any_check(
    client: TestClient,  # noqa: F811
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks: list[int] = []
    real = staff_store._hasher

    class Counting:  # the real hasher, counted: it says whether argon2 ran at all
        def verify(self, *args):
            checks.append(1)
            return real.verify(*args)

        def hash(self, *args):
            return real.hash(*args)

    monkeypatch.setattr(staff_store, "_hasher", Counting())
    for _ in range(5):
        assert _login(client, "wrong password!").status_code == 401
    locked = _login(client)  # the right password, but locked out for now
    assert locked.status_code == 429 and 0 < int(locked.headers["retry-after"]) <= 60
    assert len(checks) == 5  # no argon2 spent while locked out
    basic = client.post(CANCEL, json={"reason": "x"}, auth=STAFF)
    assert basic.status_code == 429 and "retry-after" in basic.headers
    checks.clear()
    for _ in range(3):  # unknown names cost no argon2 at all
        assert client.post("/api/consultations/x/transitions/cancel", json={"reason": "x"},
                           auth=("nobody", "whatever password")).status_code in (401, 429)  # fmt: skip
    assert checks == []


def test_the_cookie_is_secure_behind_https(engine: Engine, database_url: str, tmp_path: Path, session: Session) -> None:
    from dataclasses import replace

    add_staff(session=session, name=STAFF[0], password=STAFF[1], now=NOW)
    session.commit()
    plain = settings_for(database_url, tmp_path)
    https = replace(plain, mail=replace(plain.mail, base_url="https://consult.example.org"))
    with TestClient(create_app(https, engine=engine), base_url="https://testserver") as secure:
        assert "secure" in _login(secure).headers["set-cookie"].lower()
    with TestClient(create_app(plain, engine=engine)) as insecure:
        assert "secure" not in _login(insecure).headers["set-cookie"].lower()

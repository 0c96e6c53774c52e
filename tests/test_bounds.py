"""Bounds at the edges (issue 16): extreme years, numbers past what the domain allows,
NUL characters, oversized chunked bodies, deeply nested files, a locked database — each
one clear 4xx (or 503 with Retry-After, or one CLI line), never a 500 or a traceback."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event
from sqlmodel import Session

from config import Settings
from states import Stage
from states.errors import ConsultError
from store.db import upgrade
from store.decision_file import parse_decision, read_raw
from tests.factories import OTT, POLICY, consultation_in
from tests.web_fixtures import NOW, client, settings_for  # noqa: F401  (a fixture)
from web.app import create_app

RESPONSE = {"name": "A", "category": "other", "country": "CH", "email": "a@example.org", "language": "en",
            "summary": "s", "answers": [{"question": 1, "text": "t"}]}  # fmt: skip


@pytest.mark.parametrize(("key", "value", "message"), [
    ("deadline", date(9999, 12, 31), "the year 9999 is outside 1990–2199"),
    ("meeting_on", date(1, 1, 1), "the year 1 is outside 1990–2199"),
    ("min_open_days", 10**9, "less than or equal to 366"),
    ("reminder_offsets_days", [10**6], "each from 1 to 366"),
])  # fmt: skip
def test_decision_values_are_bounded(key: str, value: object, message: str) -> None:
    with pytest.raises(ConsultError, match=message):
        parse_decision({**OTT, key: value}, policy=POLICY)


def test_nested_and_oversized_decision_files(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(ConsultError, match="nested too deeply|not valid TOML"):
        read_raw(deep)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 1_100_000 + "\n", encoding="utf-8")
    with pytest.raises(ConsultError, match="larger than 1 MB"):
        read_raw(big)


def test_nul_characters_are_refused_not_stored(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    answer = client.post("/api/consultations/ott-2017/submissions", json={**RESPONSE, "summary": "a\x00b"})
    assert answer.status_code == 422 and "NUL" in answer.text
    assert client.get("/consultations/ott%00x").status_code == 400
    assert client.get("/api/consultations?stage=open%00").status_code == 400
    form = client.post("/consultations/ott-2017/respond", data={**RESPONSE, "answer_1": "x\x00y"})
    assert form.status_code == 422
    assert client.get("/api/consultations/ott-2017/submissions").json() == []


def test_a_chunked_body_too_large_is_413(client: TestClient) -> None:  # noqa: F811
    def chunks():
        for _ in range(14):
            yield b"x" * (1024 * 1024)

    answer = client.post("/api/consultations/ott-2017/submissions", content=chunks(),
                         headers={"content-type": "application/json"})  # fmt: skip
    assert answer.status_code == 413 and answer.json()["detail"] == "request too large"


def test_a_locked_database_is_503_with_retry_after(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.3})

    @event.listens_for(engine, "connect")
    def _wal(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    upgrade(engine)
    with Session(engine) as session:
        consultation_in(session, Stage.OPEN, slug="ott-2017")
    app = create_app(settings_for(f"sqlite:///{path}", tmp_path), engine=engine, rate_limit=1000)
    holder = sqlite3.connect(path, timeout=0.1)
    with TestClient(app) as c:
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            answer = c.post("/api/consultations/ott-2017/submissions", json=RESPONSE)
            assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
            assert "nothing was written" in answer.json()["detail"]
            page = c.post("/consultations/ott-2017/respond", data={**RESPONSE, "answer_1": "t"})
            assert page.status_code == 503 and "try again" in page.text
        finally:
            holder.rollback()
            holder.close()
        # the lock released: the same response goes in
        assert c.post("/api/consultations/ott-2017/submissions", json=RESPONSE).status_code == 201


def test_extreme_times_on_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    env = {"CONSULT_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "CONSULT_NOW": ""}
    result = CliRunner().invoke(app, ["list", "--now=9999-12-31T23:59:59Z"], env=env)
    assert result.exit_code == 2 and result.stderr.strip() == "error: --now: the year 9999 is outside 1990–2199"
    bad_url = CliRunner().invoke(app, ["list"], env={**env, "CONSULT_DATABASE_URL": "nonsense://x"})
    assert bad_url.exit_code == 2 and bad_url.stderr.startswith("error: CONSULT_DATABASE_URL:")
    assert Settings().now is None and NOW.year == 2017

"""`consult demo` shows a live board at any date: beside the three historical rounds, one
consultation in each stage, the open one with its deadline ahead, stakeholders invited, a
few responses in and its reminders scheduled."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app

EVERY_STAGE = {"proposed", "decided", "letter_issued", "open", "compiled", "meeting_held", "reported"}


@pytest.mark.parametrize(
    "now",
    [
        None,  # today, as `python3 dev.py run` loads it
        "2027-03-28T01:30:00Z",  # the night Geneva's clocks go forward
        "2026-12-31T23:30:00Z",  # the letters of the live rounds straddle two years
        "2028-02-29T09:00:00Z",
    ],
)
def test_every_stage_is_occupied(now: str | None, database_url: str, session: Session) -> None:
    env = {"CONSULT_DATABASE_URL": database_url, "CONSULT_NOW": ""}
    runner = CliRunner()
    args = ["demo", *([f"--now={now}"] if now else [])]
    loaded = runner.invoke(app, args, env=env)
    assert loaded.exit_code == 0, loaded.output
    assert "staff login: demo / " in loaded.stdout
    listed = json.loads(runner.invoke(app, ["list", "--json"], env=env).stdout)
    assert {c["stage"] for c in listed} >= EVERY_STAGE
    at = datetime.fromisoformat(now) if now else datetime.now(UTC)
    (open_one,) = [c for c in listed if c["stage"] == "open"]
    assert datetime.fromisoformat(open_one["deadline"]) > at
    responses = session.execute(
        text("SELECT count(*) FROM submission WHERE consultation_id = :id"), {"id": open_one["id"]}
    ).scalar_one()
    assert responses >= 3
    languages = session.execute(
        text("SELECT DISTINCT language FROM submission WHERE consultation_id = :id"), {"id": open_one["id"]}
    ).scalars()
    assert {"ar", "fr", "zh"} <= set(languages)
    next_due = session.execute(
        text("SELECT next_due_at FROM consultation WHERE id = :id"), {"id": open_one["id"]}
    ).scalar_one()
    next_due = next_due if isinstance(next_due, datetime) else datetime.fromisoformat(str(next_due))
    next_due = next_due if next_due.tzinfo else next_due.replace(tzinfo=UTC)
    assert at < next_due < datetime.fromisoformat(open_one["deadline"])  # a reminder comes first
    invited = session.execute(
        text("SELECT count(*) FROM outbox_message WHERE purpose = 'invitation' AND consultation_id = :id"),
        {"id": open_one["id"]},
    ).scalar_one()
    assert invited == 8
    again = runner.invoke(app, args, env=env)
    assert again.exit_code == 0 and "multilingual-internet: already loaded" in again.stdout
    assert len(json.loads(runner.invoke(app, ["list", "--json"], env=env).stdout)) == len(listed)

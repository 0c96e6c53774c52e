"""The Prefect flows for real: under Prefect's test harness, and `consult tick` as a
process killed with SIGKILL in the middle of a batch, then restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from states import Stage
from store import consultations as repo
from tests.factories import POLICY, decision, geneva
from tests.processes import wait_for_count
from tests.smtp import SmtpTestServer
from tests.test_mail import add_people


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory):
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect")))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


def open_consultations(session: Session, n: int) -> None:
    """`n` consultations open with the deadline of 19 August 2017 and their meeting on the
    25th: a tick on the 20th closes each, drafts its compilation, and alerts its contact
    that none is published with the meeting days away — one message each."""
    for i in range(n):
        data, at = decision(slug=f"c-{i}", meeting_on=date(2017, 8, 25), meeting_gap_days=6), geneva(date(2017, 5, 25))
        c = repo.create_consultation(
            session=session, data=data, proposed=False, actor="staff:test", now=at, policy=POLICY
        ).consultation
        c.stage, c.letter_number, c.last_reminder_days = Stage.OPEN.value, f"CL-17/{i + 1}", 1
        repo.refresh_timer(c, policy=POLICY, now=geneva(date(2017, 6, 14)))
    session.commit()


@pytest.mark.slow
def test_tick_flow_under_prefect_harness(prefect_harness, session: Session, database_url: str) -> None:
    from flows.tick import tick_flow

    open_consultations(session, 3)
    since = datetime.now(UTC)  # the harness is shared by both backends: this run's events only
    result = asyncio.run(tick_flow(now="2017-08-20T12:00:00+00:00", database_url=database_url))
    assert result["due"] == 3 and len(result["actions"]) == 9 and result["skipped"] == []  # close, draft, alert
    assert "no SMTP server configured" in result["mail"]
    assert len(result["compilations"]) == 3 and all(Path(f, "compilation.csv").exists() for f in result["compilations"])
    session.expire_all()
    assert Counter(c.stage for c in repo.list_consultations(session=session)) == {"compiled": 3}
    named, artifact, events = asyncio.run(_what_the_run_said(since))
    assert named == "tick 2017-08-20 12:00 — 3 closed, 3 compiled", named
    assert "| c-0 | closed → compiled | compile |" in artifact and "3 closed, 3 compiled" in artifact
    assert sorted(e for e in events if e.startswith("consult.consultation.")) == ["consult.consultation.closed"] * 3 + [
        "consult.consultation.compiled"] * 3  # fmt: skip
    again = asyncio.run(tick_flow(now="2017-08-20T12:00:00+00:00", database_url=database_url))
    assert again["actions"] == []  # idempotent


@pytest.mark.slow
def test_compilation_and_mail_handed_off_to_their_own_flows(
    prefect_harness, session: Session, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deployed (`hand_off`), the tick leaves the files and the mail to the compile and
    deliver flows, starting them by events; those find their work in the database."""
    from flows.tick import COMPILATION_DUE, MAIL_DUE, compile_flow, deliver_flow, tick_flow

    open_consultations(session, 3)
    monkeypatch.setenv("CONSULT_DATA_DIR", str(tmp_path))
    since = datetime.now(UTC)
    result = asyncio.run(tick_flow(now="2017-08-20T12:00:00+00:00", database_url=database_url, hand_off=True))
    assert len(result["transitions"]) == 6 and "compilations" not in result
    assert result["mail"] == "3 message(s) due, left to the deliver deployment"
    assert not (tmp_path / "compilations").exists()
    *_, events = asyncio.run(_what_the_run_said(since, frozenset({COMPILATION_DUE, MAIL_DUE})))
    assert COMPILATION_DUE in events and MAIL_DUE in events
    ids = sorted(result["to_write"])
    written = asyncio.run(compile_flow(ids=ids[:2], database_url=database_url))  # the event names its consultations
    assert sorted(Path(f).name for f in written) == ["c-0", "c-1"]
    assert all((Path(f) / ".complete").exists() for f in written)
    assert asyncio.run(compile_flow(ids=ids, database_url=database_url)) == [str(tmp_path / "compilations" / "c-2")]
    assert asyncio.run(compile_flow(database_url=database_url)) == []  # nothing missing: nothing written again
    with SmtpTestServer() as smtp:
        monkeypatch.setenv("CONSULT_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("CONSULT_SMTP_PORT", str(smtp.port))
        said = asyncio.run(deliver_flow(database_url=database_url, now="2017-08-20T12:00:00+00:00"))
    assert len(smtp.received) == 3 and said.startswith("sent 3,"), said


async def _what_the_run_said(since: datetime, expect: frozenset[str] = frozenset()) -> tuple[str, str, list[str]]:
    """The newest tick run's name, its artifact, and the events Prefect received."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort

    async with get_client() as client:
        (run,) = await client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)
        (artifact,) = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["tick"])),
                                                  sort=ArtifactSort.CREATED_DESC, limit=1)  # fmt: skip
        events: list[str] = []
        for _ in range(50):  # events are written by the server's persister, a moment later
            window = {"occurred": {"since": since.isoformat(), "until": datetime.now(UTC).isoformat()}}
            answer = await client._client.post("/events/filter", json={"filter": window, "limit": 50})
            events = [e["event"] for e in answer.json().get("events", [])]
            if sum(e.startswith("consult.consultation.") for e in events) >= 6 and expect <= set(events):
                break
            await asyncio.sleep(0.2)
    return run.name, str(artifact.data), events


def consult_tick(database_url: str, smtp_port: int, now: str, home: Path) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CONSULT_", "PREFECT_"))},
        "CONSULT_DATABASE_URL": database_url, "CONSULT_SMTP_HOST": "127.0.0.1", "CONSULT_SMTP_PORT": str(smtp_port),
        "CONSULT_DATA_DIR": str(home), "CONSULT_MAIL_FROM": "Secretariat <cwg-internet@itu.int>",
    }  # fmt: skip
    consult = Path(sys.executable).parent / "consult"
    # A session of its own, so that killing it also kills the temporary Prefect server it started.
    return subprocess.Popen([str(consult), "tick", f"--now={now}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip


def count(engine_url_session: Session, sql: str) -> int:
    return engine_url_session.execute(text(sql)).scalar_one()


@pytest.mark.slow
def test_tick_killed_mid_batch_then_restarted(session: Session, database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("one backend is enough for this 30-second test; the locking it relies on is tested on both")
    add_people(session, [("Amal", "amal@example.sa", "member_state", "SA", "ar")])
    open_consultations(session, 300)
    now = datetime(2017, 8, 20, 12, tzinfo=UTC).isoformat()
    with SmtpTestServer() as server:
        first = consult_tick(database_url, server.port, now, tmp_path)
        wait_for_count(session, "SELECT count(*) FROM audit_entry WHERE trigger = 'close_submissions'",
                       at_least=60, seconds=120, every=0.02)  # fmt: skip
        os.killpg(first.pid, signal.SIGKILL)  # the tick and its temporary Prefect server
        first.wait(30)
        closed_before = count(session, "SELECT count(*) FROM audit_entry WHERE trigger = 'close_submissions'")
        assert 60 <= closed_before < 300, "the kill should land in the middle of the batch"
        session.rollback()
        second = consult_tick(database_url, server.port, now, tmp_path)
        out, err = second.communicate(timeout=180)
        assert second.returncode == 0, err
    per_consultation = session.execute(
        text("SELECT consultation_id, trigger, count(*) FROM audit_entry WHERE actor = 'system' "
             "GROUP BY consultation_id, trigger")
    ).all()  # fmt: skip
    assert len(per_consultation) == 600 and {n for *_, n in per_consultation} == {1}  # lost: 0, duplicates: 0
    ids = Counter(r.message["message-id"] for r in server.received)
    assert len(ids) == 300 and set(ids.values()) == {1}  # the staff alert, once each
    assert count(session, "SELECT count(*) FROM outbox_message WHERE status = 'sent'") == 300


@pytest.mark.slow
def test_the_embedded_clock_hands_due_work_to_a_triggered_deployment(
    prefect_harness, session: Session, database_url: str, tmp_path: Path
) -> None:
    """`consult deploy --triggered` and `consult serve` with CONSULT_TICK_DEPLOYMENT: the
    clock's firing only looks (milliseconds) and starts a run of the deployment, for the
    workers, when work is due — nothing at all runs while idle."""
    import time as timing
    from dataclasses import replace

    from config import Settings
    from flows.clock import Clock
    from flows.deploy import deploy

    name = f"triggered-{database_url.split(':')[0].split('+')[0]}"  # the harness is shared by both backends
    deploy(pool="consult-test", interval=2, name=name, scheduled=False)
    settings = replace(Settings(database_url=database_url, data_dir=tmp_path, policy=POLICY),
                       tick_deployment=f"tick/{name}", now=datetime(2017, 8, 20, 12, tzinfo=UTC))  # fmt: skip
    said: list[str] = []
    clock = Clock(settings=settings, interval=2, server=None, announce=said.append)
    try:
        started = timing.process_time()
        assert all(clock.fire() == "nothing due" for _ in range(10))
        idle = (timing.process_time() - started) / 10
        assert idle < 0.5, idle  # a firing while idle: a few queries, never a process
        assert asyncio.run(_runs_of(name)) == []
        open_consultations(session, 2)
        answer = clock.fire()
        assert answer.startswith("dispatched "), (answer, said)
        (run,) = asyncio.run(_runs_of(name))
        assert run.parameters["interval"] == 2 and run.parameters["chunk_deployment"] == "tick-chunk/chunk"
        assert answer == f"dispatched {run.name}"
    finally:
        clock.release()
    beat = session.execute(text("SELECT by FROM clock_beat")).scalar_one()
    assert beat.endswith("(idle)")  # a dispatch does not beat: the run does, when it completes


@pytest.mark.slow
def test_the_embedded_clock_writes_compilations_off_its_path(
    prefect_harness, session: Session, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`consult serve`'s clock commits a compilation and delivers the mail of the same
    firing at once; the files of a big compilation come from a writer process of their
    own, after — a reminder never waits behind them (issue 17: 56 s late behind one of
    100,000 responses). One writer at a time; the next firing starts none while it runs."""
    from prefect.settings import PREFECT_API_URL

    from config import Settings
    from documents.compilation import files_complete
    from flows.clock import Clock

    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))  # the harness's: no temporary server
    open_consultations(session, 2)
    big = repo.get(session=session, ref="c-0")
    published(session, big.id, 4000)
    with SmtpTestServer() as smtp:
        settings = Settings(database_url=database_url, data_dir=tmp_path, policy=POLICY, smtp_host="127.0.0.1",
                            smtp_port=smtp.port, now=datetime(2017, 8, 20, 12, tzinfo=UTC))  # fmt: skip
        said: list[str] = []
        clock = Clock(settings=settings, interval=2, server=None, announce=said.append)
        try:
            answer = clock.fire()
            assert "mail: sent 2," in answer and len(smtp.received) == 2, (answer, said)  # the contacts' alerts
            session.expire_all()
            assert {c.stage for c in repo.list_consultations(session=session)} == {"compiled"}
            assert clock.compiler.busy() and not files_complete(tmp_path, big), said  # written after, elsewhere
            assert [line for line in said if "to write" in line] == [
                f"clock: 2 compilation(s) to write: writer process {clock.compiler.process.pid}"]  # fmt: skip
            assert clock.fire() == "nothing due"
            assert len([line for line in said if "to write" in line]) == 1  # no second writer meanwhile
            assert clock.compiler.wait(180)
        finally:
            clock.release()
    assert all(files_complete(tmp_path, c) for c in repo.list_consultations(session=session))
    rows = (tmp_path / "compilations" / "c-0" / "compilation.csv").read_text(encoding="utf-8-sig").count("\n")
    assert rows == 4001  # the header and every published response


def published(session: Session, consultation_id: int, n: int) -> None:
    """`n` published responses, inserted as one statement (the form's path is not the point)."""
    import json

    rows = [{"consultation_id": consultation_id, "reference": f"R-{i:010x}", "name": f"Person {i}",
             "organisation": "Org", "category": "other", "country": "CH", "email": f"p{i}@example.org",
             "language": "en", "summary": "A summary.", "answers": json.dumps([{"question": 1, "text": "An answer."}]),
             "channel": "import", "published": True, "content_hash": "", "received_at": datetime(2017, 7, 1, 10),
             "version": 1, "confirmed_at": datetime(2017, 7, 1, 10), "confirmed_by": "import"}
            for i in range(n)]  # fmt: skip
    session.execute(text("INSERT INTO submission (consultation_id, reference, name, organisation, category, country, "
                         "email, language, summary, answers, channel, published, content_hash, received_at, version, "
                         "confirmed_at, confirmed_by) VALUES (:consultation_id, :reference, :name, :organisation, "
                         ":category, :country, :email, :language, :summary, :answers, :channel, :published, "
                         ":content_hash, :received_at, :version, :confirmed_at, :confirmed_by)"),
                    rows)  # fmt: skip
    session.commit()


async def _runs_of(deployment: str) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    async with get_client() as client:
        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
        )


def test_a_run_with_no_database_named_fails_saying_so(monkeypatch) -> None:
    """A worker without CONSULT_DATABASE_URL, on a deployment without --database-secret, once
    silently used a consult.db in its own folder."""
    from flows.tick import NoDatabase, _settings

    monkeypatch.delenv("CONSULT_DATABASE_URL", raising=False)
    with pytest.raises(NoDatabase, match="--database-secret"):
        _settings(None, None, None)
    assert _settings("sqlite:///x.db", None, None).database_url == "sqlite:///x.db"

"""The clock with an injected time: transitions, reminders, alerts, catch-up, concurrency."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from unittest.mock import patch

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from config import MailSettings, Settings
from flows import work
from states import Stage, Trigger
from states.timing import deadline_instant
from store import consultations as repo
from store.tables import AuditEntry, OutboxMessage
from tests.factories import POLICY, change_stage, consultation_in, decision, geneva
from tests.test_mail import PEOPLE, add_people

MAIL = MailSettings(sender="CWG secretariat <cwg-internet@itu.int>", base_url="https://consult.example")


def _purpose(m) -> str:
    """A reminder's purpose without the deadline it is keyed by (reminder:7:20170819T215959Z → reminder:7)."""
    return ":".join(m.purpose.split(":")[:2])


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, policy=POLICY, mail=MAIL)


def tick(engine: Engine, url: str, now: datetime) -> work.TickReport:
    return work.advance_all_due(engine=engine, now=now, settings=settings_for(url))


def outbox(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def letter_issued(session: Session, **overrides):
    c = consultation_in(session, Stage.LETTER_ISSUED)
    for key, value in overrides.items():
        setattr(c, key, value)
    repo.refresh_timer(c, policy=POLICY, now=geneva(date(2017, 6, 14)))
    session.commit()
    return c


def test_whole_consultation_driven_by_ticks(session: Session, engine: Engine, database_url: str) -> None:
    add_people(session)
    c = letter_issued(session)
    now, stop = geneva(date(2017, 6, 14), 9), geneva(date(2017, 9, 1))
    busy = 0
    while now < stop:  # a tick every six hours for eleven weeks
        report = tick(engine, database_url, now)
        busy += bool(report.actions)
        now += timedelta(hours=6)
    session.refresh(c)
    assert c.stage == "compiled"
    log = repo.audit_log(session=session, consultation_id=c.id)
    assert [(e.trigger, e.actor) for e in log][-3:] == [
        ("open_submissions", "system"), ("close_submissions", "system"), ("compile", "system"),
    ]  # fmt: skip
    opened, closed = log[-3].at, log[-2].at
    assert opened == geneva(date(2017, 6, 14), 9) and closed == datetime(
        2017, 8, 20, 1, tzinfo=UTC
    )  # first tick after 21:59:59Z
    purposes = Counter(_purpose(m) for m in outbox(session))
    # the draft compilation is staff's: stakeholders hear of it when it is published, not now
    assert purposes == {"reminder:14": 6, "reminder:7": 6, "reminder:1": 6}
    reminder_1 = next(m for m in outbox(session) if _purpose(m) == "reminder:1" and m.language == "en")
    assert reminder_1.created_at == datetime(2017, 8, 18, 7, tzinfo=UTC)  # 18 August, 09:00 in Geneva
    assert busy == 5  # open, three reminders, close+compile; the other ticks found nothing
    assert repo.replayed_stage(session=session, consultation_id=c.id) == Stage.COMPILED


def test_deadline_on_a_dst_day_closes_at_the_right_instant(session: Session, engine: Engine, database_url: str) -> None:
    c = consultation_in(session, Stage.OPEN)
    c.deadline = deadline_instant(date(2017, 10, 29), "Europe/Geneva")  # clocks go back that night
    c.meeting_on = date(2017, 11, 28)
    c.last_reminder_days = 1
    repo.refresh_timer(c, policy=POLICY, now=geneva(date(2017, 10, 1)))
    session.commit()
    assert c.next_due_at == datetime(2017, 10, 29, 23, 0, 0, tzinfo=UTC)
    assert tick(engine, database_url, datetime(2017, 10, 29, 22, 59, 59, tzinfo=UTC)).actions == []
    report = tick(engine, database_url, datetime(2017, 10, 29, 23, 0, 0, tzinfo=UTC))
    assert report.actions[0].endswith("open → closed (close-submissions)")
    session.refresh(c)
    assert c.stage == "compiled"


def test_downtime_across_two_reminders_and_the_deadline(session: Session, engine: Engine, database_url: str) -> None:
    add_people(session)
    c = letter_issued(session)
    tick(engine, database_url, geneva(date(2017, 6, 14), 12))  # opens
    tick(engine, database_url, geneva(date(2017, 8, 6), 12))  # the 14-day reminder
    # down from 6 August to 25 August: the 7- and 1-day reminders and the deadline pass unseen
    report = tick(engine, database_url, geneva(date(2017, 8, 25), 12))
    assert [a.split(": ", 1)[1] for a in report.actions] == [
        "open → closed (close-submissions)", "closed → compiled (compile)",
    ]  # fmt: skip
    session.refresh(c)
    assert c.stage == "compiled"
    assert Counter(_purpose(m) for m in outbox(session))["reminder:7"] == 0
    assert not [m for m in outbox(session) if m.purpose.startswith("reminder") and _purpose(m) != "reminder:14"]


def test_after_downtime_only_the_latest_reminder_goes(session: Session, engine: Engine, database_url: str) -> None:
    add_people(session, PEOPLE[:2])
    letter_issued(session)
    tick(engine, database_url, geneva(date(2017, 6, 14), 12))
    report = tick(engine, database_url, geneva(date(2017, 8, 17), 12))  # 14 and 7 days missed; 2 days left
    assert any("reminder 7 day(s)" in a for a in report.actions)
    assert Counter(_purpose(m) for m in outbox(session)) == {"reminder:7": 2}
    en = next(m for m in outbox(session) if _purpose(m) == "reminder:7" and m.language == "ar")
    assert "يومان" in en.subject or "2" in en.subject  # the time actually left, not "7 days"


def test_staff_alerts(session: Session, engine: Engine, database_url: str) -> None:
    c = letter_issued(session)
    tick(engine, database_url, geneva(date(2017, 6, 14), 12))
    c.meeting_on = date(2017, 8, 25)  # a meeting a week after the deadline, compilation pending
    c.meeting_gap_days = 6
    repo.refresh_timer(c, policy=POLICY, now=geneva(date(2017, 8, 1)))
    session.commit()
    report = tick(engine, database_url, geneva(date(2017, 8, 18), 12))
    assert any("alert_no_compilation" in a for a in report.actions)
    [alert] = [m for m in outbox(session) if m.purpose == "alert_no_compilation"]
    assert alert.recipient_email == "cwg-internet@itu.int" and "no compilation" in alert.subject
    again = tick(engine, database_url, geneva(date(2017, 8, 19), 12)).actions
    assert not [a for a in again if "alert" in a]  # once only
    tick(engine, database_url, geneva(date(2017, 8, 20), 12))  # closes and drafts the compilation
    session.refresh(c)
    change_stage(session=session, consultation=c, trigger=Trigger.PUBLISH_COMPILATION, actor="staff:test",
                 now=geneva(date(2017, 8, 21)), policy=POLICY)  # fmt: skip
    session.commit()
    assert tick(engine, database_url, geneva(date(2017, 8, 27), 12)).actions == []
    report = tick(engine, database_url, geneva(date(2017, 8, 28), 12))  # meeting + 3 days, no summary
    assert any("alert_no_summary" in a for a in report.actions)


def test_due_query_uses_the_index(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    with engine.connect() as conn:
        plan = conn.execute(
            text("EXPLAIN QUERY PLAN SELECT id FROM consultation WHERE next_due_at IS NOT NULL "
                 "AND next_due_at <= :now ORDER BY next_due_at LIMIT 500"), {"now": "2017-01-01"}
        ).all()  # fmt: skip
    described = " ".join(str(row) for row in plan)
    assert "SEARCH consultation USING COVERING INDEX ix_consultation_next_due_at" in described
    assert "SCAN" not in described


def test_nothing_due_starts_no_flow(engine: Engine, database_url: str) -> None:
    from flows.runtime import run_tick

    assert run_tick(settings=settings_for(database_url), now=datetime(2017, 1, 1, tzinfo=UTC)) is None


def _tick_in_process(url: str, now_iso: str, barrier, results) -> None:
    from store.db import make_engine

    engine = make_engine(url)
    barrier.wait(timeout=60)
    report = work.advance_all_due(engine=engine, now=datetime.fromisoformat(now_iso), settings=settings_for(url))
    results.put((len(report.actions), len(report.skipped)))
    engine.dispose()


@pytest.mark.slow
def test_two_ticks_at_once_over_1000_due(session: Session, engine: Engine, database_url: str) -> None:
    rows = [decision(slug=f"due-{i}") for i in range(1000)]
    for data in rows:
        c = repo.create_consultation(session=session, data=data, proposed=False, actor="staff:test",
                                     now=geneva(date(2017, 5, 25)), policy=POLICY).consultation  # fmt: skip
        c.stage = "open"
        repo.refresh_timer(c, policy=POLICY, now=geneva(date(2017, 6, 14)))
        c.last_reminder_days = 1
    session.commit()
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(2), spawn.Queue()
    now = datetime(2017, 8, 20, 1, tzinfo=UTC).isoformat()
    procs = [spawn.Process(target=_tick_in_process, args=(database_url, now, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    with engine.connect() as conn:
        closes = conn.execute(
            text("SELECT consultation_id, count(*) FROM audit_entry WHERE trigger = 'close_submissions' "
                 "GROUP BY consultation_id")
        ).all()  # fmt: skip
    assert len(closes) == 1000 and {n for _, n in closes} == {1}
    assert sum(actions for actions, _ in outcomes) == 2000  # each consultation: close + compile, once
    session.expire_all()
    assert Counter(c.stage for c in repo.list_consultations(session=session)) == {"compiled": 1000}
    assert session.exec(select(AuditEntry).where(AuditEntry.trigger == "compile")).all().__len__() == 1000


def test_compilation_files_lost_after_the_commit_are_written_by_the_next_run(
    session: Session, engine: Engine, database_url: str, tmp_path
) -> None:
    """The compiled stage is the durable marker; the files are a side effect: a run that
    died after committing the compilation (or a lost disk) leaves a folder missing or cut
    short, and the next run writes it again — the idle check sees it too."""
    from dataclasses import replace

    from documents.compilation import files_folder
    from flows.runtime import has_work

    settings = replace(settings_for(database_url), data_dir=tmp_path)
    c = consultation_in(session, Stage.COMPILED, slug="ott-2017")
    now = geneva(date(2017, 8, 21))
    assert has_work(settings=settings, now=now)  # compiled, and no files yet
    assert work.files_missing(engine=engine, settings=settings) == [c.id]
    written = work.write_compilations(engine=engine, ids=[], settings=settings)  # the run's step, nothing new
    folder = files_folder(tmp_path, c)
    assert written == [str(folder)] and (folder / "compilation.csv").exists()
    assert not has_work(settings=settings, now=now)
    (folder / ".complete").unlink()  # cut short: the marker is written last
    assert has_work(settings=settings, now=now) and work.files_missing(engine=engine, settings=settings) == [c.id]
    assert work.write_compilations(engine=engine, ids=[c.id], settings=settings) == [str(folder)]  # once


def test_a_real_time_tick_dates_each_change_when_it_commits(
    session: Session, engine: Engine, database_url: str
) -> None:
    """The tick decides what is due at its start; the audit row of each change says when the
    change was made (a 10,000-consultation tick runs for a minute). Time travel keeps `now`."""
    consultation_in(session, Stage.OPEN, slug="late")
    start = geneva(date(2017, 8, 20), 12)
    committed = start + timedelta(seconds=42)
    work.advance_all_due(engine=engine, now=start, settings=settings_for(database_url), stamp=lambda: committed)
    session.expire_all()
    stamped = session.exec(select(AuditEntry).where(AuditEntry.actor == "system")).all()
    assert [e.trigger for e in stamped] == ["open_submissions", "close_submissions", "compile"][-len(stamped) :]
    assert {e.at for e in stamped if e.trigger in {"close_submissions", "compile"}} == {committed}


def test_due_work_is_claimed_in_disjoint_chunks_until_done_or_expired(
    session: Session, engine: Engine, database_url: str
) -> None:
    """The tick hands due work out in chunks: a consultation is in one chunk only, left out
    of the due work while claimed, free again once its work is recorded — or once the claim
    runs out, if the run that took it died."""
    from tests.test_flows import open_consultations

    open_consultations(session, 5)
    now = geneva(date(2017, 8, 20), 12)
    chunks = work.claim_chunks(engine=engine, now=now, chunk=2, settings=settings_for(database_url))
    assert [len(c) for c in chunks] == [2, 2, 1] and len({i for c in chunks for i in c}) == 5
    assert (
        work.due_consultations(engine=engine, now=now) == []
        and work.claim_chunks(engine=engine, now=now, chunk=2, settings=settings_for(database_url)) == []
    )
    report = work.advance_due(engine=engine, ids=chunks[0], now=now, settings=settings_for(database_url))
    assert len(report.transitions) == 4  # two closed, two compiled
    session.expire_all()
    done = [repo.get(session=session, ref=i) for i in chunks[0]]
    assert all(c.claimed_until is None for c in done)
    # The runs holding the other chunks died: their claims lapse on the database's clock (a
    # claim is a lease on work in progress; the domain's `now` may be travelling in time).
    live = work.claim_chunks(engine=engine, now=now, chunk=2, settings=settings_for(database_url))
    assert live == []
    session.execute(text("UPDATE consultation SET claimed_until = :past WHERE claimed_until IS NOT NULL"),
                    {"past": datetime(2026, 1, 1, tzinfo=UTC)})  # fmt: skip
    session.commit()
    assert sorted(work.due_consultations(engine=engine, now=now)) == sorted(chunks[1] + chunks[2])


def test_a_chunk_run_renews_its_claim_while_it_works(session: Session, engine: Engine, database_url: str) -> None:
    """A chunk longer than the claim's life keeps its claim (renewed as it goes); the
    consultations it has done carry no claim, those left are claimed afresh."""
    from tests.test_flows import open_consultations

    open_consultations(session, 3)
    now = geneva(date(2017, 8, 20), 12)
    settings = replace(settings_for(database_url), claim_seconds=10)
    (ids,) = work.claim_chunks(engine=engine, now=now, chunk=3, settings=settings)
    old = datetime(2026, 1, 1, tzinfo=UTC)
    session.execute(text("UPDATE consultation SET claimed_until = :old"), {"old": old})
    session.commit()
    renewed: list[tuple[list[int], dict[int, datetime | None]]] = []
    real_renew = repo.renew_claims

    def renew(*, session: Session, ids: list[int], life: timedelta) -> None:
        real_renew(session=session, ids=ids, life=life)
        rows = session.execute(text("SELECT id, claimed_until FROM consultation")).all()
        renewed.append((ids, {r.id: r.claimed_until for r in rows}))

    seconds = iter([0.0, 1.0, 100.0])  # the claim's quarter-life passes while the first is worked on
    with (
        patch.object(work, "monotonic", lambda: next(seconds, 100.0)),
        patch.object(work.repo, "renew_claims", renew),
    ):
        report = work.advance_due(engine=engine, ids=ids, now=now, settings=settings, claimed=True)
    assert len(report.transitions) == 6
    (left, claims), *_ = renewed
    assert left == ids[1:]
    assert claims[ids[0]] is None  # done: its claim ended with its work, and stays ended
    assert all(str(claims[i]) > "2026-01-02" for i in ids[1:])  # the rest claimed afresh
    session.expire_all()
    assert all(repo.get(session=session, ref=i).claimed_until is None for i in ids)

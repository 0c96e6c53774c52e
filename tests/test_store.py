"""Storage on SQLite and PostgreSQL: creation, the one stage-changing function, optimistic
locking, the append-only audit log and its replay, letter numbers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session

from config import Policy
from states import ConsultError, GuardRefused, Stage, TimingError, Trigger, TriggerNotAllowed
from states.timing import deadline_instant
from store import consultations as repo
from store.db import _alembic_config
from tests.factories import POLICY, STAFF, change_stage, consultation_in, decision, geneva


def test_create_decided_writes_first_audit_row(session: Session) -> None:
    created = repo.create_consultation(
        session=session, data=decision(), proposed=False, actor=STAFF, now=geneva(date(2017, 5, 25)), policy=POLICY
    )
    session.commit()
    c = created.consultation
    assert c.stage == "decided" and c.version == 1 and created.warnings == []
    assert c.deadline == deadline_instant(date(2017, 8, 19), "Europe/Geneva")
    assert repo.get(session=session, ref="ott-2017").id == c.id
    assert repo.get(session=session, ref=str(c.id)).slug == "ott-2017"
    [entry] = repo.audit_log(session=session, consultation_id=c.id)
    assert (entry.from_stage, entry.to_stage, entry.trigger, entry.actor) == (None, "decided", "decide", STAFF)


def test_instants_come_back_aware_utc(session: Session, engine: Engine) -> None:
    c = consultation_in(session, Stage.DECIDED)
    with Session(engine) as fresh:
        again = repo.get(session=fresh, ref=c.slug)
        assert again.deadline == c.deadline and again.deadline.utcoffset().total_seconds() == 0


def test_duplicate_slug_is_refused(session: Session) -> None:
    consultation_in(session, Stage.DECIDED, slug="dup")
    with pytest.raises(ConsultError, match="already exists"):
        repo.create_consultation(
            session=session, data=decision(slug="dup"), proposed=False, actor=STAFF,
            now=geneva(date(2017, 5, 25)), policy=POLICY,
        )  # fmt: skip


def test_decision_without_questions_is_refused(session: Session) -> None:
    with pytest.raises(ConsultError, match="at least one question"):
        repo.create_consultation(
            session=session, data=decision(questions=[]), proposed=False, actor=STAFF,
            now=geneva(date(2017, 5, 25)), policy=POLICY,
        )  # fmt: skip


def test_incomplete_decision_is_refused_but_a_proposal_is_not(session: Session) -> None:
    with pytest.raises(GuardRefused, match="plan_complete"):
        repo.create_consultation(
            session=session, data=decision(meeting_on=None), proposed=False, actor=STAFF,
            now=geneva(date(2017, 5, 25)), policy=POLICY,
        )  # fmt: skip
    c = repo.create_consultation(
        session=session, data=decision(meeting_on=None, slug="idea"), proposed=True, actor=STAFF,
        now=geneva(date(2017, 2, 7)), policy=POLICY,
    ).consultation  # fmt: skip
    assert c.stage == "proposed"


def test_whole_lifecycle_and_replay(session: Session) -> None:
    c = consultation_in(session, Stage.REPORTED)
    log = repo.audit_log(session=session, consultation_id=c.id)
    assert [e.to_stage for e in log] == [
        "decided", "letter_issued", "open", "closed", "compiled", "published", "meeting_held", "reported",
    ]  # fmt: skip
    assert [e.seq for e in log] == list(range(1, 9))
    assert repo.replayed_stage(session=session, consultation_id=c.id) == Stage.REPORTED
    assert c.version == 8 and c.letter_number == "CL-17/1" and c.meeting_summary == "Agreed summary."


def test_refused_trigger_writes_nothing(session: Session) -> None:
    c = consultation_in(session, Stage.OPEN)
    with pytest.raises(TriggerNotAllowed, match="allowed there: cancel, close-submissions, extend-deadline"):
        change_stage(session=session, consultation=c, trigger=Trigger.REPORT, actor=STAFF,
                          now=geneva(date(2017, 7, 1)), policy=POLICY)  # fmt: skip
    with pytest.raises(GuardRefused):
        change_stage(session=session, consultation=c, trigger=Trigger.CLOSE_SUBMISSIONS, actor=STAFF,
                          now=geneva(date(2017, 7, 1)), policy=POLICY)  # fmt: skip
    session.commit()
    session.refresh(c)
    assert c.stage == "open" and c.version == 3
    assert len(repo.audit_log(session=session, consultation_id=c.id)) == 3


def test_stale_copy_gets_a_conflict_and_writes_nothing(session: Session, engine: Engine) -> None:
    c = consultation_in(session, Stage.LETTER_ISSUED)
    with Session(engine, expire_on_commit=False) as other:
        stale = repo.get(session=other, ref=c.slug)
        change_stage(session=session, consultation=c, trigger=Trigger.CANCEL, actor=STAFF,
                          now=geneva(date(2017, 6, 15)), policy=POLICY, reason="withdrawn")  # fmt: skip
        session.commit()
        with pytest.raises(repo.ConflictError, match="changed by someone else"):
            change_stage(session=other, consultation=stale, trigger=Trigger.OPEN_SUBMISSIONS, actor=STAFF,
                              now=geneva(date(2017, 6, 15)), policy=POLICY)  # fmt: skip
    session.refresh(c)
    assert c.stage == "cancelled"
    assert [e.trigger for e in repo.audit_log(session=session, consultation_id=c.id)][-1] == "cancel"


def test_an_intake_s_snapshot_is_read_again_once_the_consultation_changed(session: Session, engine: Engine) -> None:
    """A response's intake reads the consultation's stage and version at each submission
    and the whole row only when they changed (store/consultations.py snapshot): a
    cancellation, made through another session, is what the next intake sees."""
    c = consultation_in(session, Stage.OPEN)
    session.commit()
    with Session(engine) as reader:
        first = repo.snapshot(session=reader, ref=c.slug)
    with Session(engine) as reader:
        assert repo.snapshot(session=reader, ref=str(c.id)) is first  # unchanged: the copy kept
    change_stage(session=session, consultation=c, trigger=Trigger.CANCEL, actor=STAFF,
                 now=geneva(date(2017, 7, 1)), policy=POLICY, reason="withdrawn")  # fmt: skip
    session.commit()
    with Session(engine) as reader:
        now = repo.snapshot(session=reader, ref=c.slug)
    assert now is not first and now.stage == "cancelled" and first.stage == "open"


def test_single_references_drawn_by_two_processes_never_meet(engine: Engine) -> None:
    """On PostgreSQL a web process draws single references from a block of the sequence it
    keeps (store/references.py): two processes, interleaved, never draw the same one."""
    from store import references
    from store.db import make_engine

    if engine.dialect.name != "postgresql":
        pytest.skip("the block is PostgreSQL's; SQLite's counter is read in the writer's transaction")
    other = make_engine(str(engine.url.render_as_string(hide_password=False)))
    try:
        drawn: list[str] = []
        for _ in range(3 * references.BLOCK):
            for each in (engine, other):
                with Session(each) as s:
                    drawn += references.draw(session=s, count=1)
        assert len(drawn) == len(set(drawn)) == 6 * references.BLOCK
        with Session(engine) as s:  # both took whole blocks from the one sequence
            assert s.execute(text("SELECT last_value FROM reference_number")).scalar_one() == 6 * references.BLOCK - 1
    finally:
        other.dispose()


def test_the_record_is_append_only_in_the_database(session: Session, engine: Engine) -> None:
    """The audit log and the documents as issued: no UPDATE, DELETE, REPLACE (SQLite) or
    TRUNCATE (PostgreSQL) — whoever holds the database URL."""
    consultation_in(session, Stage.OPEN)
    sqlite = engine.dialect.name == "sqlite"
    replace = (
        "INSERT OR REPLACE INTO audit_entry (id, consultation_id, seq, from_stage, to_stage, trigger, actor, at,"
        " details) SELECT id, consultation_id, seq, from_stage, to_stage, trigger, 'mallory', at, details"
        " FROM audit_entry"
    )  # fmt: skip
    statements = [
        "UPDATE audit_entry SET actor = 'mallory'", "DELETE FROM audit_entry",
        "UPDATE document SET sha256 = 'forged'", "DELETE FROM document_file",
        "UPDATE document_file SET content = content",
        *([replace, "REPLACE INTO document SELECT * FROM document"] if sqlite
          else ["TRUNCATE audit_entry CASCADE", "TRUNCATE document_file"]),
    ]  # fmt: skip
    for statement in statements:
        with engine.connect() as conn, pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text(statement))


def test_extend_deadline_from_closed_reopens_and_records_both_dates(session: Session) -> None:
    c = consultation_in(session, Stage.CLOSED)
    new = deadline_instant(date(2017, 8, 26), "Europe/Geneva")
    entry = change_stage(session=session, consultation=c, trigger=Trigger.EXTEND_DEADLINE, actor=STAFF,
                              now=geneva(date(2017, 8, 20), 9), policy=POLICY, new_deadline=new,
                              reason="requests for more time")  # fmt: skip
    session.commit()
    assert c.stage == "open" and c.deadline == new
    assert entry.details["from"] == "2017-08-19T21:59:59+00:00" and entry.details["to"] == "2017-08-26T21:59:59+00:00"
    assert entry.details["document"]["kind"] == "addendum" and entry.details["document"]["seq"] == 1
    assert repo.replayed_stage(session=session, consultation_id=c.id) == Stage.OPEN


def test_extension_reopens_a_draft_but_not_a_published_compilation(session: Session) -> None:
    draft = consultation_in(session, Stage.COMPILED)
    change_stage(session=session, consultation=draft, trigger=Trigger.EXTEND_DEADLINE, actor=STAFF,
                 now=geneva(date(2017, 8, 21)), policy=POLICY,
                 new_deadline=deadline_instant(date(2017, 8, 26), "Europe/Geneva"))  # fmt: skip
    assert draft.stage == "open"
    c = consultation_in(session, Stage.PUBLISHED)
    with pytest.raises(TriggerNotAllowed, match="'published'"):
        change_stage(session=session, consultation=c, trigger=Trigger.EXTEND_DEADLINE, actor=STAFF,
                          now=geneva(date(2017, 8, 21)), policy=POLICY,
                          new_deadline=deadline_instant(date(2017, 8, 26), "Europe/Geneva"))  # fmt: skip


def test_extension_into_the_meeting_is_a_timing_error(session: Session) -> None:
    c = consultation_in(session, Stage.OPEN)
    with pytest.raises(TimingError, match="deadline_before_meeting"):
        change_stage(session=session, consultation=c, trigger=Trigger.EXTEND_DEADLINE, actor=STAFF,
                          now=geneva(date(2017, 8, 1)), policy=POLICY,
                          new_deadline=deadline_instant(date(2017, 9, 20), "Europe/Geneva"))  # fmt: skip


def test_letter_numbers_per_year_and_recorded_numbers(session: Session) -> None:
    first = consultation_in(session, Stage.LETTER_ISSUED)
    assert first.letter_number == "CL-17/1"
    c = consultation_in(session, Stage.DECIDED)
    change_stage(session=session, consultation=c, trigger=Trigger.ISSUE_LETTER, actor=STAFF,
                      now=geneva(date(2017, 6, 14)), policy=POLICY, letter_number="CL-17/30")  # fmt: skip
    session.commit()
    assert c.letter_number == "CL-17/30" and c.letter_issued_on == date(2017, 6, 14)
    third = consultation_in(session, Stage.LETTER_ISSUED)
    assert third.letter_number == "CL-17/31"
    d = consultation_in(session, Stage.DECIDED)
    for bad, message in (("CL-17/30", "already used"), ("CL-16/2", "year 2017"), ("17/30", "form CL-YY/NN")):
        with pytest.raises(ConsultError, match=message):
            change_stage(session=session, consultation=d, trigger=Trigger.ISSUE_LETTER, actor=STAFF,
                              now=geneva(date(2017, 6, 14)), policy=POLICY, letter_number=bad)  # fmt: skip
    assert d.stage == "decided"


def test_meeting_summary_is_locked_once_recorded(session: Session) -> None:
    c = consultation_in(session, Stage.MEETING_HELD)
    with pytest.raises(ConsultError, match="recorded with hold-meeting only"):
        change_stage(session=session, consultation=c, trigger=Trigger.REPORT, actor=STAFF,
                          now=geneva(date(2017, 10, 1)), policy=POLICY, meeting_summary="rewritten")  # fmt: skip
    assert c.meeting_summary == "Agreed summary."


def test_record_decision_on_a_proposal_then_decide(session: Session) -> None:
    c = consultation_in(session, Stage.PROPOSED)
    repo.record_decision(session=session, consultation=c, data=decision(slug=c.slug, deadline=date(2017, 8, 26)))
    change_stage(session=session, consultation=c, trigger=Trigger.DECIDE, actor=STAFF,
                      now=geneva(date(2017, 5, 25), 15), policy=POLICY)  # fmt: skip
    session.commit()
    assert c.stage == "decided" and c.deadline == deadline_instant(date(2017, 8, 26), "Europe/Geneva")


def test_migrations_match_the_models(engine: Engine) -> None:
    command.check(_alembic_config(engine))


def test_list_by_stage(session: Session) -> None:
    consultation_in(session, Stage.OPEN)
    consultation_in(session, Stage.CLOSED)
    consultation_in(session, Stage.OPEN)
    assert len(repo.list_consultations(session=session, stage=Stage.OPEN)) == 2
    assert len(repo.list_consultations(session=session)) == 3


def test_letter_numbers_are_the_registry_s_unless_the_tool_keeps_it(session: Session, tmp_path) -> None:
    """By default (config/policy.toml) the secretariat's registry numbers the letters: a
    letter issued without its number is refused — CL-17/1 from a counter of our own
    would clash with the real CL-17/1. When the tool keeps the registry, it numbers from
    the configured first number."""
    from config.policy import PolicyError, load_policy

    registry = load_policy()
    assert registry.letter_numbers == "registry" and not registry.tool_numbers_letters
    c = consultation_in(session, Stage.DECIDED)
    with pytest.raises(GuardRefused, match="letter_number_known"):
        change_stage(session=session, consultation=c, trigger=Trigger.ISSUE_LETTER, actor=STAFF,
                     now=geneva(date(2017, 6, 14)), policy=registry)  # fmt: skip
    session.rollback()
    entry = change_stage(session=session, consultation=c, trigger=Trigger.ISSUE_LETTER, actor=STAFF,
                         now=geneva(date(2017, 6, 14)), policy=registry, letter_number="CL-17/30")  # fmt: skip
    assert entry.details["letter_number"] == "CL-17/30" and entry.details["document"]["kind"] == "letter"
    session.commit()
    kept = Policy(letter_numbers="tool", first_letter_number=40)
    numbers = []
    for _ in range(2):
        d = consultation_in(session, Stage.DECIDED)
        change_stage(session=session, consultation=d, trigger=Trigger.ISSUE_LETTER, actor=STAFF,
                     now=geneva(date(2017, 6, 15)), policy=kept)  # fmt: skip
        session.commit()
        numbers.append(d.letter_number)
    assert numbers == ["CL-17/40", "CL-17/41"]
    bad = tmp_path / "policy.toml"
    bad.write_text('letter_numbers = "counter"\n', encoding="utf-8")
    with pytest.raises(PolicyError, match="registry"):
        load_policy(bad)


def test_verify_finds_a_rewritten_record(session: Session, engine: Engine, database_url: str, tmp_path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    env = {"CONSULT_DATABASE_URL": database_url, "CONSULT_DATA_DIR": str(tmp_path)}
    c = consultation_in(session, Stage.OPEN)
    ok = CliRunner().invoke(app, ["verify"], env=env)
    assert ok.exit_code == 0 and ok.stdout.startswith("ok: 1 consultation(s), 1 document(s) in 4 file(s)")
    with engine.begin() as conn:  # someone with the database's owner rights, around the triggers
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER document_file_no_update"))
        else:
            conn.execute(text("ALTER TABLE document_file DISABLE TRIGGER document_file_append_only"))
        conn.execute(text("UPDATE document_file SET content = :forged WHERE name = 'letter.en.html'"),
                     {"forged": b"<p>a deadline nobody was given</p>"})  # fmt: skip
        conn.execute(text("UPDATE consultation SET stage = 'reported' WHERE id = :id"), {"id": c.id})
    found = CliRunner().invoke(app, ["verify"], env=env)
    assert found.exit_code == 1
    assert f"{c.slug}: stage reported, but its audit log replays to open" in found.stdout
    assert f"{c.slug}: letter 1: letter.en.html no longer matches its SHA-256 recorded when issued" in found.stdout


def test_a_statement_on_the_driver_converts_values_as_its_own_engine_does(tmp_path: Path) -> None:
    """store/statements.py first_row keeps its compiled form per engine: an engine whose JSON
    keeps Arabic as written is not given another's (the staff search reads that text)."""
    import json

    from sqlalchemy import JSON, Column, Integer, MetaData, Table, create_engine

    from store.db import make_engine
    from store.statements import first_row, insert_new

    table = Table("note", MetaData(), Column("id", Integer, primary_key=True), Column("body", JSON, unique=True))
    statement = insert_new(table, columns=("body",), conflict=("body",), returning="body")
    url = f"sqlite:///{tmp_path / 'notes.db'}"
    plain, ours = create_engine(url), make_engine(url)
    table.metadata.create_all(plain)
    for engine, expected in ((plain, json.dumps(["شف"])), (ours, json.dumps(["شف"], ensure_ascii=False))):
        with engine.begin() as conn:
            assert first_row(connection=conn, statement=statement, values={"body": ["شف"]})
        with engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT body FROM note ORDER BY id DESC LIMIT 1").scalar()
        assert stored == expected
    plain.dispose()
    ours.dispose()

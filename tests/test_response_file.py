"""`consult responses import` underneath: a file of responses, validated like the form,
stored all or nothing, on both backends (the bulk insert goes straight to the driver)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, select

from states import Stage
from states.errors import ConsultError
from store.response_file import import_file, read_responses
from store.submissions import AlreadyResponded, NotAccepting, published
from store.tables import Submission
from tests.factories import consultation_in, geneva

NOW = geneva(date(2017, 7, 1))


def _record(i: int, **change) -> dict:
    return {"name": f"Person {i}", "organisation": "Org", "category": "academia", "country": "fr",
            "email": f"Person.{i}@Example.ORG", "language": "fr", "summary": f"Summary {i}",
            "answers": [{"question": 1, "text": f"Answer {i} — «réponse»"}], **change}  # fmt: skip


def _jsonl(tmp_path: Path, records: list[dict], name: str = "in.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_import_stores_every_field_as_the_form_would(session: Session, tmp_path: Path) -> None:
    c = consultation_in(session, Stage.OPEN, slug="imp-ok")
    path = _jsonl(tmp_path, [_record(i) for i in range(3)])
    assert import_file(session=session, consultation=c, path=path, now=NOW) == (3, 0)
    session.commit()
    rows = published(session=session, consultation_id=c.id)
    assert [r.name for r in rows] == ["Person 0", "Person 1", "Person 2"]
    first = rows[0]
    assert first.email == "person.0@example.org" and first.country == "FR" and first.channel == "import"
    assert first.answers == [{"question": 1, "text": "Answer 0 — «réponse»"}]
    assert first.received_at == NOW and first.published is True and first.reference.startswith("R-")
    assert len({r.reference for r in rows}) == 3
    # the same file again: nothing new; the same response through the API would match too
    assert import_file(session=session, consultation=c, path=path, now=NOW) == (0, 3)


def test_a_bad_record_stops_everything_with_its_line(session: Session, tmp_path: Path) -> None:
    c = consultation_in(session, Stage.OPEN, slug="imp-bad")
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(_record(1)) + "\n\n" + json.dumps(_record(2, email="not-an-address")) + "\n")
    with pytest.raises(ConsultError, match=r"bad.jsonl:3: field 'email': value is not a valid email address"):
        import_file(session=session, consultation=c, path=path, now=NOW)
    path.write_text(json.dumps(_record(1)) + "\n{not json\n")
    with pytest.raises(ConsultError, match=r"bad.jsonl:2: not JSON"):
        import_file(session=session, consultation=c, path=path, now=NOW)
    path.write_text(json.dumps(_record(1, answers=[{"question": 7, "text": "x"}])) + "\n")
    with pytest.raises(ConsultError, match="response 1: answers: question 7 does not exist"):
        import_file(session=session, consultation=c, path=path, now=NOW)
    path.write_text(json.dumps(_record(1)) + "\n" + json.dumps(_record(1, summary="other")) + "\n")
    with pytest.raises(AlreadyResponded, match="appears twice in the file"):
        import_file(session=session, consultation=c, path=path, now=NOW)
    session.rollback()
    assert session.exec(select(Submission).where(Submission.consultation_id == c.id)).all() == []


def test_csv_answer_columns_and_unknown_columns(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("name,category,country,email,summary,answer_1,answer_3\nQ,other,ch,q@example.org,s,one,three\n")
    (row,) = read_responses(path)
    assert [(a.question, a.text) for a in row.answers] == [(1, "one"), (3, "three")] and row.country == "CH"
    path.write_text("name,category,country,email,summary,answer_1,answer_x\nQ,other,CH,q@example.org,s,one,x\n")
    with pytest.raises(ConsultError, match=r"in.csv:2: field 'answer_x': unknown key"):
        read_responses(path)
    with pytest.raises(ConsultError, match="use a .jsonl or .csv file"):
        read_responses(tmp_path / "in.txt")


def test_imports_in_the_processing_window_not_once_published(session: Session, tmp_path: Path) -> None:
    """A contribution e-mailed on time is keyed in while the compilation is a draft; once it
    is published, what it holds is fixed."""
    draft = consultation_in(session, Stage.COMPILED, slug="imp-draft")
    assert import_file(session=session, consultation=draft, path=_jsonl(tmp_path, [_record(1)]), now=NOW) == (1, 0)
    session.commit()
    c = consultation_in(session, Stage.PUBLISHED, slug="imp-late")
    with pytest.raises(NotAccepting, match="until the compilation is published"):
        import_file(session=session, consultation=c, path=_jsonl(tmp_path, [_record(1)]), now=NOW)


def test_driver_errors_come_out_as_sqlalchemy_errors(session: Session) -> None:
    """The bulk insert bypasses SQLAlchemy's execution; a unique key still surfaces as
    IntegrityError, which the import turns into a clear refusal."""
    from sqlalchemy.exc import IntegrityError

    from store.statements import insert_rows

    c = consultation_in(session, Stage.OPEN, slug="imp-dup")
    table = Submission.__table__
    columns = ("consultation_id", "reference", "name", "category", "country", "email", "language", "summary",
               "answers", "channel", "published", "content_hash", "received_at")  # fmt: skip
    row = (c.id, "R-1", "n", "other", "CH", "a@example.org", "en", "s", "[]", "import", True, "h", "2017-07-01")
    with pytest.raises(IntegrityError):
        insert_rows(connection=session.connection(), table=table, columns=columns, rows=[row, row])
    session.rollback()


PDF = b"%PDF-1.4\n% an e-mailed contribution\n"


def test_import_keeps_received_at_and_files_and_takes_attachment_only(session: Session, tmp_path: Path) -> None:
    c = consultation_in(session, Stage.CLOSED, slug="imp-files")  # the processing window: after the deadline
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "Kenya submission.pdf").write_bytes(PDF)
    on_time = "2017-08-18T16:30:00+02:00"
    path = _jsonl(tmp_path, [
        _record(1, received_at=on_time, attachment="mail/Kenya submission.pdf", answers=[]),  # the file is the answer
        _record(2),
    ])  # fmt: skip
    attachments = tmp_path / "attachments"
    assert import_file(session=session, consultation=c, path=path, now=NOW.replace(month=8, day=25),
                       attachments=attachments) == (2, 0)  # fmt: skip
    session.commit()
    first, second = session.exec(select(Submission).order_by(Submission.id)).all()
    assert first.received_at.isoformat() == "2017-08-18T14:30:00+00:00" and first.answers == []
    assert first.attachment_name == "Kenya submission.pdf"
    assert (attachments / first.attachment_path).read_bytes() == PDF
    assert second.attachment_path is None and second.received_at == NOW.replace(month=8, day=25)


@pytest.mark.parametrize(("change", "message"), [
    ({"attachment": "missing.pdf"}, r"response 1: attachment .*missing.pdf: no such file"),
    ({"attachment": "fake.pdf"}, r"response 1: attachment .*fake.pdf: not a PDF or DOCX file"),
    ({"answers": []}, r"response 1: answers: answer at least one question, or attach the contribution"),
    ({"received_at": "2017-08-20T09:00:00+02:00"}, r"response 1: received_at .* is after the deadline"),
    ({"received_at": "2017-08-19T12:00:00"}, r"in.jsonl:1: field 'received_at': .*timezone"),
])  # fmt: skip
def test_import_refuses_bad_files_and_late_or_naive_times(session: Session, tmp_path: Path, change, message) -> None:
    c = consultation_in(session, Stage.CLOSED, slug="imp-refused")
    (tmp_path / "fake.pdf").write_bytes(b"MZ\x90 an executable named .pdf")
    path = _jsonl(tmp_path, [_record(1, **change), _record(2)])
    with pytest.raises(ConsultError, match=message):
        import_file(session=session, consultation=c, path=path, now=NOW.replace(month=8, day=25),
                    attachments=tmp_path / "attachments")  # fmt: skip
    session.rollback()
    assert session.exec(select(Submission)).all() == []
    assert not (tmp_path / "attachments").exists() or not any((tmp_path / "attachments").iterdir())


def test_references_are_unique_by_construction_and_a_stored_one_met_is_drawn_again(
    session: Session, tmp_path: Path, monkeypatch
) -> None:
    """References were 40 random bits: at a million rows two met about one import in three
    (the birthday bound), reported as "an address arrived during the import". They are now
    numbers from a counter through a keyed permutation (store/references.py): distinct by
    construction. One can still meet a random reference written before that scheme — the
    chunk draws again; three times in a row says so."""
    from store import references, submissions

    numbers = [references.permute(n, (7, 11, 13, 17)) for n in range(1 << 16)]
    assert len(set(numbers)) == 1 << 16 and max(numbers) < references.SPACE  # a bijection: no two alike
    c = consultation_in(session, Stage.OPEN, slug="imp-refs")
    drawn = references.draw(session=session, count=3) + references.draw(session=session, count=2)
    assert len(set(drawn)) == 5 and all(len(r) == 12 and r.startswith("R-") for r in drawn)
    real = submissions._references
    draws: list[int] = []

    def colliding(session: Session, count: int) -> list[str]:
        draws.append(count)
        return [drawn[0]] * count if len(draws) == 1 else real(session, count)

    session.add(Submission(consultation_id=c.id, reference=drawn[0], name="Legacy", category="other", country="CH",
                           email="legacy@example.org", language="en", summary="s", answers=[], channel="web",
                           content_hash="h", received_at=NOW))  # fmt: skip
    session.flush()
    monkeypatch.setattr(submissions, "_references", colliding)
    path = _jsonl(tmp_path, [_record(i) for i in range(3)])
    assert import_file(session=session, consultation=c, path=path, now=NOW) == (3, 0)
    session.commit()
    rows = session.exec(select(Submission).where(Submission.consultation_id == c.id)).all()
    assert len(draws) == 2 and len({r.reference for r in rows}) == 4

    monkeypatch.setattr(submissions, "_references", lambda session, count: [drawn[0]] * count)
    always = _jsonl(tmp_path, [_record(i) for i in range(10, 12)], name="again.jsonl")
    with pytest.raises(ConsultError, match="references collided 3 times with references already stored"):
        import_file(session=session, consultation=c, path=always, now=NOW)
    assert len(session.exec(select(Submission).where(Submission.consultation_id == c.id)).all()) == 4


def test_an_address_that_answers_through_the_web_during_an_import_is_named(
    session: Session, tmp_path: Path, monkeypatch
) -> None:
    from store import submissions
    from store.models import SubmissionCreate

    c = consultation_in(session, Stage.OPEN, slug="imp-race")

    def web_meanwhile(folder, files):  # between the duplicate check and the insert
        data = SubmissionCreate.model_validate({**_record(20), "answers": [{"question": 1, "text": "via web"}]})
        submissions.submit(session=session, consultation=c, data=data, now=NOW, channel="web")
        return []

    monkeypatch.setattr(submissions, "_write_files", web_meanwhile)
    path = _jsonl(tmp_path, [_record(i) for i in range(19, 22)])
    with pytest.raises(AlreadyResponded, match="arrived through the web during the import; nothing was imported"):
        import_file(session=session, consultation=c, path=path, now=NOW)


def test_a_file_is_streamed_in_chunks_and_a_late_bad_record_leaves_nothing(
    session: Session, tmp_path: Path, monkeypatch
) -> None:
    """The import reads, checks and inserts a chunk at a time (flat memory for a docket of
    millions), in one transaction: a bad record in a later chunk rolls back the earlier
    chunks and removes their attachments; an address twice in the file is found across
    chunks (in the database, not in a set of every address); progress is told per chunk."""
    from store import response_file

    monkeypatch.setattr(response_file, "CHUNK", 2)
    c = consultation_in(session, Stage.CLOSED, slug="imp-stream")
    (tmp_path / "a.pdf").write_bytes(PDF)
    attachments = tmp_path / "attachments"
    on_time = "2017-08-18T16:30:00+02:00"
    good = [_record(i, received_at=on_time, attachment="a.pdf") for i in range(5)]
    told: list[tuple[int, int]] = []
    path = _jsonl(tmp_path, good)
    assert import_file(session=session, consultation=c, path=path, now=NOW.replace(month=8, day=25),
                       attachments=attachments, progress=lambda n, at: told.append((n, at))) == (5, 0)  # fmt: skip
    assert [n for n, _ in told] == [2, 4, 5] and told[-1][1] == path.stat().st_size
    session.rollback()  # not committed: nothing of it stays
    for f in attachments.iterdir():
        f.unlink()

    late_bad = _jsonl(tmp_path, [*good, _record(9, email="not-an-address")], name="late.jsonl")
    with pytest.raises(ConsultError, match=r"late.jsonl:6: field 'email'"):
        import_file(session=session, consultation=c, path=late_bad, now=NOW.replace(month=8, day=25),
                    attachments=attachments)  # fmt: skip
    assert session.exec(select(Submission)).all() == [] and not any(attachments.iterdir())

    twice = _jsonl(tmp_path, [_record(1), _record(2), _record(3), _record(1, summary="again")], name="twice.jsonl")
    with pytest.raises(AlreadyResponded, match="response 4: person.1@example.org appears twice in the file"):
        import_file(session=session, consultation=c, path=twice, now=NOW)
    assert session.exec(select(Submission)).all() == []


def test_a_byte_that_is_not_utf8_is_named_by_its_line(session: Session, tmp_path: Path) -> None:
    c = consultation_in(session, Stage.OPEN, slug="imp-bytes")
    path = tmp_path / "latin.jsonl"
    path.write_bytes(json.dumps(_record(1)).encode() + b"\n" + json.dumps(_record(2)).encode()[:-3] + b'\xe9"}\n')
    with pytest.raises(ConsultError, match=r"latin.jsonl:2: not UTF-8 text .*nothing was imported"):
        import_file(session=session, consultation=c, path=path, now=NOW)

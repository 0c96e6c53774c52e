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


def test_references_drawn_twice_are_drawn_again_and_a_web_race_is_named(
    session: Session, tmp_path: Path, monkeypatch
) -> None:
    """References are 40 random bits: at a million rows two meet about one import in three
    (the birthday bound), and that failure was reported as "an address arrived during the
    import". A reference collision now draws the file's references again; an address taken
    meanwhile is named as such. Collisions are forced here: at test scale they never occur."""
    from store import submissions

    c = consultation_in(session, Stage.OPEN, slug="imp-refs")
    real = submissions._references
    draws: list[int] = []

    def colliding(count: int) -> list[str]:
        draws.append(count)
        return ["R-0000000000"] * count if len(draws) == 1 else real(count)

    monkeypatch.setattr(submissions, "_references", colliding)
    path = _jsonl(tmp_path, [_record(i) for i in range(3)])
    assert import_file(session=session, consultation=c, path=path, now=NOW) == (3, 0)
    session.commit()
    rows = session.exec(select(Submission).where(Submission.consultation_id == c.id)).all()
    assert (
        len(draws) == 2 and len({r.reference for r in rows}) == 3 and "R-0000000000" not in {r.reference for r in rows}
    )

    monkeypatch.setattr(submissions, "_references", lambda count: ["R-0000000000"] * count)
    always = _jsonl(tmp_path, [_record(i) for i in range(10, 12)], name="again.jsonl")
    with pytest.raises(ConsultError, match="references collided 3 times; nothing was imported"):
        import_file(session=session, consultation=c, path=always, now=NOW)
    session.rollback()
    assert session.exec(select(Submission).where(Submission.consultation_id == c.id)).all().__len__() == 3


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

"""Closing as the secretariat does it, on the real gender-divide round of 2017 (letter
10 October, deadline 23 December, meeting 22 January 2018), with an injected clock: the
deadline closes submissions, the clock drafts the compilation for staff only, an e-mailed
contribution received on time is imported after the deadline, a spam response is
withheld, staff publish the compilation — and only then are stakeholders told, once.
The compilation, `show --json`, the public page and the chairman's report then count the
same contributions."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.main import app
from config import MailSettings, Settings
from documents import compilation, report
from documents.archive import Renderer, find
from flows import work
from notifications.effects import receive
from states import Document, Stage, Trigger
from store import consultations as repo
from store import submissions
from store.counts import response_counts
from store.models import SubmissionCreate
from store.response_file import import_file
from store.tables import OutboxMessage
from tests.factories import POLICY, change_stage, confirm_received, decision, geneva
from tests.test_mail import add_people

GENDER = {
    "slug": "gender-2017", "decided_on": date(2017, 10, 2), "letter_date": date(2017, 10, 10),
    "deadline": date(2017, 12, 23), "meeting_on": date(2018, 1, 22),
    "title": {"en": "Bridging the gender digital divide", "ar": "سد الفجوة الرقمية بين الجنسين"},
    "questions": [{"en": "What are the main barriers?", "ar": "ما هي العوائق الرئيسية؟"}],
}  # fmt: skip
PDF = b"%PDF-1.4\n% Kenya's contribution, sent by e-mail\n"
SETTINGS = Settings(policy=POLICY, mail=MailSettings(sender="CWG <cwg-internet@itu.int>", base_url="https://x.example"))


def _response(name: str, email: str, summary: str) -> SubmissionCreate:
    return SubmissionCreate(name=name, organisation=f"{name} Org", category="member_state", country="EG",
                            email=email, language="en", summary=summary,
                            answers=[{"question": 1, "text": f"{name}'s answer"}])  # fmt: skip


def _purposes(session: Session) -> Counter[str]:
    session.expire_all()
    return Counter(m.purpose for m in session.exec(select(OutboxMessage)))


def test_the_2017_gender_divide_round(session: Session, engine: Engine, database_url: str, tmp_path: Path) -> None:
    add_people(session)
    settings = SETTINGS
    c = repo.create_consultation(session=session, data=decision(**GENDER), proposed=False, actor="staff:test",
                                 now=geneva(date(2017, 10, 2)), policy=POLICY).consultation  # fmt: skip
    change_stage(session=session, consultation=c, trigger=Trigger.ISSUE_LETTER, actor="staff:test",
                 now=geneva(date(2017, 10, 10)), policy=POLICY, letter_number="CL-17/45")  # fmt: skip
    session.commit()
    work.advance_all_due(engine=engine, now=geneva(date(2017, 10, 10), 12), settings=settings)  # opens
    session.refresh(c)
    for name, email, summary in (("Egypt", "mcit@example.eg", "Egypt's contribution"),
                                 ("Spam", "spam@example.com", "Buy now")):  # fmt: skip
        received = receive(session=session, consultation=c, data=_response(name, email, summary),
                           now=geneva(date(2017, 11, 2)), settings=settings, channel="web")  # fmt: skip
        confirm_received(session=session, received=received, now=geneva(date(2017, 11, 2), 11))
    session.commit()

    # The deadline passes: closed, and the clock drafts the compilation — for staff only.
    report_ = work.advance_all_due(engine=engine, now=geneva(date(2017, 12, 24), 9), settings=settings)
    assert [a.split(": ", 1)[1] for a in report_.actions if "→" in a] == [
        "open → closed (close-submissions)", "closed → compiled (compile)",
    ]  # fmt: skip
    session.refresh(c)
    assert c.stage == Stage.COMPILED.value and "compiled" not in _purposes(session)

    # A contribution e-mailed on 20 December, a PDF, is keyed in after the deadline; the spam is withheld.
    emailed = tmp_path / "emailed.jsonl"
    (tmp_path / "Kenya contribution.pdf").write_bytes(PDF)
    emailed.write_text(json.dumps({"name": "Kenya ICT Authority", "category": "member_state", "country": "KE",
                                   "email": "ict@example.ke", "language": "en", "summary": "Sent by e-mail",
                                   "received_at": "2017-12-20T15:12:00+01:00",
                                   "attachment": "Kenya contribution.pdf"}) + "\n", encoding="utf-8")  # fmt: skip
    assert import_file(session=session, consultation=c, path=emailed, now=geneva(date(2017, 12, 28)),
                       attachments=tmp_path / "attachments") == (1, 0)  # fmt: skip
    spam = next(s for s in submissions.all_for(session=session, consultation_id=repo.key(c)) if s.name == "Spam")
    submissions.moderate(session=session, consultation=c, reference=spam.reference, publish=False, reason="spam",
                         actor="staff:test", now=geneva(date(2017, 12, 28)))  # fmt: skip
    session.commit()

    # Staff publish the compilation: now, and only now, stakeholders are told — once.
    change_stage(session=session, consultation=c, trigger=Trigger.PUBLISH_COMPILATION, actor="staff:test",
                 now=geneva(date(2018, 1, 8)), policy=POLICY, documents=Renderer(settings))  # fmt: skip
    session.commit()
    for _ in range(2):
        work.advance_all_due(engine=engine, now=geneva(date(2018, 1, 8), 12), settings=settings)
    assert _purposes(session)["compiled"] == 6  # one per stakeholder, however many ticks

    counts = response_counts(session.connection(), repo.key(c))
    assert (counts.received, counts.published, counts.withheld, counts.online, counts.other) == (3, 2, 1, 2, 1)
    conn = session.connection()
    assert compilation.count(conn, repo.key(c)) == 2
    csv_out = io.StringIO()
    compilation.write_csv(conn, c, csv_out)
    assert len(csv_out.getvalue().strip().splitlines()) == 1 + 2  # header + the published contributions
    assert "Sent by e-mail" in csv_out.getvalue() and "Buy now" not in csv_out.getvalue()  # summaries, not spam
    html = compilation.html_string(conn, c, lang="en")
    assert "Kenya ICT Authority" in html and "Spam" not in html and "Sent by e-mail" in html  # its summary

    # As published: archived with the transition, the attachment listed, linked and bundled.
    kenya = next(s for s in submissions.all_for(session=session, consultation_id=repo.key(c)) if s.channel == "import")
    assert kenya.received_at.isoformat() == "2017-12-20T14:12:00+00:00" and kenya.answers == []
    published = find(session=session, consultation=c, kind=Document.COMPILATION, extension="html", lang="en")
    assert published is not None
    page = published.content.decode()
    assert "Sent by e-mail" in page and "Egypt&#39;s contribution" in page and "Buy now" not in page
    assert f'href="https://x.example/consultations/gender-2017/responses/{kenya.reference}/attachment"' in page
    assert ">Kenya contribution.pdf</a>" in page
    bundle = tmp_path / "bundle.zip"
    assert compilation.write_zip(conn, c, bundle, attachments=tmp_path / "attachments") == 1
    with zipfile.ZipFile(bundle) as z:
        (name,) = z.namelist()
        assert name.endswith(f"-{kenya.reference}.pdf") and z.read(name) == PDF
    as_json = json.loads(find(session=session, consultation=c, kind=Document.COMPILATION, extension="json").content)
    assert [r["attachment"] for r in as_json["responses"] if r["attachment"]] == [{"name": "Kenya contribution.pdf",
                                                                                  "file": name}]  # fmt: skip

    shown = json.loads(CliRunner().invoke(app, ["show", "gender-2017", "--json"],
                                          env={"CONSULT_DATABASE_URL": database_url}).stdout)  # fmt: skip
    assert shown["stage"] == "published"
    assert shown["responses"] == {"received": 3, "published": 2, "withheld": 1, "unconfirmed": 0, "withdrawn": 0,
                                  "private": 0, "by_channel": {"online": 2, "other": 1}}  # fmt: skip

    # The chairman's report counts what the published compilation holds.
    change_stage(session=session, consultation=c, trigger=Trigger.HOLD_MEETING, actor="staff:test",
                 now=geneva(date(2018, 1, 22), 17), policy=POLICY, meeting_summary="Agreed.")  # fmt: skip
    session.commit()
    built = report.build(session, c, lang="en", settings=settings)
    assert built.counts[-1][1] == compilation.count(session.connection(), repo.key(c)) == 2
    summary = built.sections[0][1][0]
    assert "2 contributions were published — 1 received online" in summary and "1 by e-mail or on paper" in summary
    change_stage(session=session, consultation=c, trigger=Trigger.REPORT, actor="staff:test",
                 now=geneva(date(2018, 2, 1)), policy=POLICY)  # fmt: skip
    session.commit()
    submitted = find(session=session, consultation=c, kind=Document.REPORT, extension="html", lang="en")
    assert submitted is not None and "2 contributions were published" in submitted.content.decode()
    assert find(session=session, consultation=c, kind=Document.REPORT, extension="pdf", lang="ar") is not None


def _cli(database_url: str, tmp_path: Path, *args: str) -> bytes:
    """The command's standard output, as bytes (a letter is served byte for byte)."""
    result = CliRunner().invoke(app, list(args), env={"CONSULT_DATABASE_URL": database_url,
                                                      "CONSULT_DATA_DIR": str(tmp_path)})  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def test_letters_are_frozen_as_issued_and_an_extension_issues_an_addendum(
    session: Session, database_url: str, tmp_path: Path
) -> None:
    from pypdf import PdfReader

    c = repo.create_consultation(session=session, data=decision(**GENDER), proposed=False, actor="staff:test",
                                 now=geneva(date(2017, 10, 2)), policy=POLICY).consultation  # fmt: skip
    change_stage(session=session, consultation=c, trigger=Trigger.ISSUE_LETTER, actor="staff:test",
                 now=geneva(date(2017, 10, 10)), policy=POLICY, letter_number="CL-17/45")  # fmt: skip
    change_stage(session=session, consultation=c, trigger=Trigger.OPEN_SUBMISSIONS, actor="system",
                 now=geneva(date(2017, 10, 10), 12), policy=POLICY)  # fmt: skip
    session.commit()
    before = {(lang, fmt): _cli(database_url, tmp_path, "letter", "gender-2017", "--lang", lang, "--format", fmt,
                                *(["-o", str(tmp_path / f"before.{lang}.pdf")] if fmt == "pdf" else []))
              for lang in ("en", "ar") for fmt in ("html", "pdf")}  # fmt: skip
    assert "23 December 2017" in before["en", "html"].decode() and "CL-17/45" in before["en", "html"].decode()

    new = geneva(date(2018, 1, 12), 23, 59)
    change_stage(session=session, consultation=c, trigger=Trigger.EXTEND_DEADLINE, actor="staff:test",
                 now=geneva(date(2017, 12, 15)), policy=POLICY, new_deadline=new, reason="more time asked")  # fmt: skip
    session.commit()
    for lang in ("en", "ar"):
        assert _cli(database_url, tmp_path, "letter", "gender-2017", "--lang", lang) == before[lang, "html"]
        _cli(database_url, tmp_path, "letter", "gender-2017", "--lang", lang, "--format", "pdf",
             "-o", str(tmp_path / f"after.{lang}.pdf"))  # fmt: skip
        assert (tmp_path / f"after.{lang}.pdf").read_bytes() == (tmp_path / f"before.{lang}.pdf").read_bytes()

    shown = json.loads(_cli(database_url, tmp_path, "show", "gender-2017", "--json"))
    letter, addendum = shown["documents"]
    assert (letter["kind"], letter["number"], letter["languages"]) == ("letter", "CL-17/45", ["ar", "en"])
    assert letter["issued_at"] == "2017-10-10T08:00:00+00:00"
    files = {f["name"]: f for f in letter["files"]}
    assert files["letter.en.html"]["sha256"] == hashlib.sha256(before["en", "html"]).hexdigest()
    listing = "".join(f"{f['sha256']}  {f['name']}\n" for f in sorted(letter["files"], key=lambda f: f["name"]))
    assert letter["sha256"] == hashlib.sha256(listing.encode()).hexdigest()  # what `sha256sum` would list
    audit = [e for e in shown["audit"] if e["trigger"] == "issue_letter"][0]
    assert audit["details"]["document"]["sha256"] == letter["sha256"]  # recorded with the transition

    assert (addendum["kind"], addendum["number"]) == ("addendum", "Addendum 1 to CL-17/45")
    text = _cli(database_url, tmp_path, "documents", "gender-2017", "addendum-1.en.html").decode()
    assert "Addendum 1 to CL-17/45" in text and "12 January 2018" in text and "10 October 2017" in text
    _cli(database_url, tmp_path, "documents", "gender-2017", "addendum-1.ar.pdf", "-o", str(tmp_path / "add.pdf"))
    arabic = "".join(page.extract_text() for page in PdfReader(tmp_path / "add.pdf").pages)
    assert "CL-17/45" in arabic and "2018" in arabic

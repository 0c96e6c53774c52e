"""Documents: the circular letter CL-17/30 in Arabic and English, read back from the PDF;
letter numbers under concurrency; the streamed compilation in HTML, CSV, JSON and ZIP."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import re
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlmodel import Session

from config import Settings
from documents import compilation
from documents.letter import letter_html
from documents.pdf import write_pdf
from states import Stage, Trigger
from store import consultations as repo
from store.decision_file import read_decision_file
from store.models import SubmissionCreate
from tests.factories import POLICY, STAFF, change_stage, consultation_in, geneva, submit_confirmed

OTT = Path(__file__).parents[1] / "demo" / "data" / "ott-2017.toml"
SETTINGS = Settings(policy=POLICY)
BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def ott_letter(session: Session):
    data = read_decision_file(OTT, policy=POLICY)
    c = repo.create_consultation(session=session, data=data, proposed=False, actor=STAFF,
                                 now=geneva(date(2017, 5, 25), 15), policy=POLICY).consultation  # fmt: skip
    change_stage(session=session, consultation=c, trigger=Trigger.ISSUE_LETTER, actor=STAFF,
                      now=geneva(date(2017, 6, 14)), policy=POLICY, letter_number="CL-17/30")  # fmt: skip
    session.commit()
    return c


def pdf_text(html: str, tmp_path: Path) -> str:
    target = tmp_path / "letter.pdf"
    write_pdf(html, target)
    text = "".join(page.extract_text() for page in PdfReader(target).pages)
    return " ".join(BIDI.sub("", text).split())


def arabic_date(text: str, day: int, month: str, year: int) -> bool:
    """pypdf returns right-to-left lines in visual order: `2017 أغسطس19` for `19 أغسطس 2017`."""
    logical = rf"{day}\s*{month}\s*{year}"
    visual = rf"{year}\s*{month}\s*{day}"
    return bool(re.search(logical, text) or re.search(visual, text))


def test_cl_17_30_in_arabic(session: Session, tmp_path: Path) -> None:
    c = ott_letter(session)
    html = letter_html(c, lang="ar", settings=SETTINGS, now=datetime(2017, 6, 14, tzinfo=UTC))
    assert '<html lang="ar" dir="rtl">' in html and "19 أغسطس 2017" in html and "18 سبتمبر 2017" in html
    text = pdf_text(html, tmp_path)
    assert "CL-17/30" in text and "cwg-internet@itu.int" in text
    # The address inside the Arabic sentence is isolated: read back whole, in order, right
    # after the words that announce it (it came out as "://http … /127.0.0.1:8000" before).
    url = f"{SETTINGS.mail.base_url}/consultations/ott-2017?lang=ar"
    assert f"من خلال الرابط التالي {url} حيث" in text
    assert f'<a href="{url}" dir="ltr" class="address">' in html and '<bdi dir="ltr">CL-17/30</bdi>' in html
    assert arabic_date(text, 19, "أغسطس", 2017) and arabic_date(text, 18, "سبتمبر", 2017)
    assert arabic_date(text, 14, "يونيو", 2017) and arabic_date(text, 25, "مايو", 2017)
    for word in ("والتداعيات", "التنظيمية", "وخصوصيته", "النمو", "نموذجية"):  # one from each of the 5 questions
        assert word in text, word
    assert "هولين جاو" in text and "(توقيع)" in text


def test_cl_17_30_in_english(session: Session, tmp_path: Path) -> None:
    c = ott_letter(session)
    text = pdf_text(letter_html(c, lang="en", settings=SETTINGS, now=datetime(2017, 6, 14, tzinfo=UTC)), tmp_path)
    expected_words = ("CL-17/30", "Geneva, 14 June 2017", "25 May 2017", "19 August 2017", "18 September 2017",
                      "Mr Preetam Maloor", "cwg-internet@itu.int", "(signed)", "Houlin Zhao")  # fmt: skip
    for expected in (*expected_words, "Secretary-General"):
        assert expected in text, expected
    data = read_decision_file(OTT, policy=POLICY)
    for question in data.questions:
        assert " ".join(question["en"].split()) in text


@pytest.mark.parametrize("lang", ["zh", "fr", "ru", "es"])
def test_letter_in_the_other_languages(session: Session, tmp_path: Path, lang: str) -> None:
    c = ott_letter(session)
    html = letter_html(c, lang=lang, settings=SETTINGS, now=datetime(2017, 6, 14, tzinfo=UTC))
    expected = {"zh": "2017年8月19日", "fr": "19 août 2017", "ru": "19 августа 2017", "es": "19 de agosto de 2017"}
    assert expected[lang] in html and f'lang="{lang}"' in html
    assert expected[lang] in pdf_text(html, tmp_path).replace("\u202f", " ")


def _issue(url: str, slug: str, barrier, results) -> None:
    from store.db import make_engine

    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        c = repo.get(session=s, ref=slug)
        barrier.wait(timeout=30)
        change_stage(session=s, consultation=c, trigger=Trigger.ISSUE_LETTER, actor="staff:race",
                          now=datetime(2017, 6, 14, 8, tzinfo=UTC), policy=POLICY)  # fmt: skip
        s.commit()
        results.put(c.letter_number)
    engine.dispose()


@pytest.mark.slow
def test_two_letters_at_once_get_consecutive_numbers(session: Session, database_url: str) -> None:
    first = consultation_in(session, Stage.LETTER_ISSUED)  # CL-17/1
    slugs = [consultation_in(session, Stage.DECIDED).slug for _ in range(2)]
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(2), spawn.Queue()
    procs = [spawn.Process(target=_issue, args=(database_url, slug, barrier, results)) for slug in slugs]
    for p in procs:
        p.start()
    numbers = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    assert first.letter_number == "CL-17/1" and numbers == ["CL-17/2", "CL-17/3"]


def _open_with_responses(session: Session):
    c = consultation_in(session, Stage.OPEN, slug="ott-2017")
    people = [("Zed", "other", "DE"), ("Amal", "member_state", "SA"), ("Li", "sector_member", "CN"),
              ("Eve <b>", "academia", "FR")]  # fmt: skip
    for i, (name, category, country) in enumerate(people):
        data = SubmissionCreate(name=name, category=category, country=country, email=f"p{i}@example.org",
                                summary=f"summary {i}", answers=[{"question": 1, "text": f"answer {i}"},
                                                                  {"question": 3, "text": f"third {i}"}])  # fmt: skip
        submit_confirmed(session=session, consultation=c, data=data, now=geneva(date(2017, 7, 1 + i)), channel="api")
    session.commit()
    return c


def test_compilation_html_csv_json(session: Session) -> None:
    c = _open_with_responses(session)
    conn = session.connection()
    html = compilation.html_string(conn, c, lang="en")
    assert "4 responses received by <bdi>19 August 2017</bdi>" in html
    assert "Eve &lt;b&gt;" in html and "Eve <b>" not in html and "@example.org" not in html
    index = re.findall(r"<tr><td>(\d+)</td><td>(\w+)</td>", html)
    assert index == [("4", "academia"), ("2", "member_state"), ("1", "other"), ("3", "sector_member")]
    assert html.index("Contribution 1: <bdi>Zed</bdi>") < html.index(
        "Contribution 2: <bdi>Amal</bdi>"
    )  # numbers in the order received
    assert "Responses to question 2" in html and "third 3" in html
    summaries = html[html.index("Summaries of the contributions") : html.index("Responses to question 1")]
    assert [f"summary {i}" in summaries for i in range(4)] == [True] * 4  # each respondent's own summary
    out = io.StringIO()
    compilation.write_csv(conn, c, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue().removeprefix("\ufeff"))))
    assert [r["contribution"] for r in rows] == ["1", "2", "3", "4"] and rows[0]["answer_1"] == "answer 0"
    assert "email" not in rows[0]
    out = io.StringIO()
    compilation.write_json(conn, c, out)
    data = json.loads(out.getvalue())
    assert [r["contribution"] for r in data["responses"]] == [1, 2, 3, 4] and data["letter_number"] == c.letter_number


def test_the_compilation_pdf_printed_in_parts_reads_as_one(session: Session, tmp_path: Path) -> None:
    """A compilation's PDF is printed a few contributions at a time and the parts joined
    (WeasyPrint lays a whole document out in memory): one cover, every section in order,
    every contribution once in each — the same text as the document printed whole."""
    from documents.pdf import write_pdf_parts

    c = _open_with_responses(session)
    conn = session.connection()
    parts = list(compilation.html_parts(conn, c, lang="en", size=3))
    # index 3+1, summaries 3+1, questions 1 and 3: 3+1 each, the others: their heading alone
    assert len(parts) == 8 + len(c.questions) - 2 and sum('<section class="cover">' in p for p in parts) == 1
    pages = write_pdf_parts(iter(parts), tmp_path / "compilation.pdf")
    text = " ".join(BIDI.sub("", "".join(p.extract_text() for p in PdfReader(tmp_path / "compilation.pdf").pages))
                    .split())  # fmt: skip
    assert pages == len(PdfReader(tmp_path / "compilation.pdf").pages) >= len(parts)
    whole = pdf_text(compilation.html_string(conn, c, lang="en"), tmp_path)
    for phrase in ("4 responses received by 19 August 2017", "Summaries of the contributions",
                   "Responses to question 2", "Eve <b>", "third 3", "summary 0", "answer 3"):  # fmt: skip
        assert text.count(phrase) == whole.count(phrase) >= 1, phrase
    assert text.index("Summaries of the contributions") < text.index("Responses to question 1")
    assert text.index("Responses to question 1") < text.index("Responses to question 3")


def test_compilation_zip_of_attachments(session: Session, tmp_path: Path) -> None:
    c = consultation_in(session, Stage.OPEN, slug="ott-2017")
    (tmp_path / "att").mkdir()
    (tmp_path / "att" / "abc.pdf").write_bytes(b"%PDF-1.7 test")
    data = SubmissionCreate(name="A", category="other", country="CH", email="a@example.org", summary="s",
                            answers=[{"question": 1, "text": "x"}])  # fmt: skip
    received = submit_confirmed(session=session, consultation=c, data=data, now=geneva(date(2017, 7, 1)),
                                channel="web", attachment_name="mine.pdf", attachment_path="abc.pdf")  # fmt: skip
    session.commit()
    target = tmp_path / "attachments.zip"
    assert compilation.write_zip(session.connection(), c, target, attachments=tmp_path / "att") == 1
    with zipfile.ZipFile(target) as archive:
        assert archive.namelist() == [f"00001-{received.submission.reference}.pdf"]


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_chairmans_report(session: Session, tmp_path: Path, lang: str) -> None:
    from docx import Document

    from documents.report import build, report_docx, report_html

    c = _open_with_responses(session)
    with pytest.raises(Exception, match="needs the meeting summary"):
        build(session, c, lang=lang, settings=SETTINGS)
    c.meeting_summary = "The participants agreed this brief summary."
    session.commit()
    report = build(session, c, lang=lang, settings=SETTINGS)
    html = report_html(report)
    assert f'lang="{lang}"' in html and "The participants agreed this brief summary." in html
    counts = dict(report.counts)
    labels = {"en": ("Member States", "Total"), "ar": ("الدول الأعضاء", "المجموع")}[lang]
    assert counts[labels[0]] == 1 and counts[labels[1]] == 4
    text = pdf_text(html, tmp_path)
    assert ("Majed M. Al-Mazyed" in text) if lang == "en" else ("المزيّد" in text or "المزي" in text)
    target = tmp_path / "report.docx"
    target.write_bytes(report_docx(report))
    doc = Document(str(target))
    body = "\n".join(p.text for p in doc.paragraphs)
    assert "The participants agreed this brief summary." in body
    assert [row.cells[1].text for row in doc.tables[0].rows][-1] == "4"
    if lang == "ar":
        assert any(
            p._p.pPr is not None
            and p._p.pPr.find("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}bidi") is not None
            for p in doc.paragraphs
        )

"""A translation the council's decision lacks is never a silent switch of language: the
page marks it in the reader's language, and staff see which field lacks which language
before the letter goes out in them."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlmodel import Session

from states import Stage
from states.languages import untranslated
from store import consultations as repo
from tests.factories import POLICY, STAFF, consultation_in, decision
from tests.web_fixtures import NOW, client  # noqa: F401
from tests.web_fixtures import STAFF as WEB_STAFF


def test_untranslated_lists_each_field_s_missing_languages() -> None:
    title = {"en": "T", "ar": "ع", "fr": "T"}
    questions = [{"en": "Q1", "ar": "س", "fr": "Q"}, {"en": "Q2", "fr": " "}, {"zh": "问题"}]
    assert untranslated(title, questions) == [
        ("title", ["zh"]), ("question 1", ["zh"]), ("question 2", ["ar", "zh", "fr"]),
        ("question 3", ["ar", "en", "fr"]),
    ]  # fmt: skip
    assert untranslated({"en": "T"}, [{"en": "Q"}]) == []


def test_a_missing_translation_is_marked_in_the_reader_s_language(client: TestClient, session: Session) -> None:  # noqa: F811
    c = consultation_in(session, Stage.OPEN, slug="ott-2017")
    c.questions = [*c.questions[:1], {"en": "Only in English?"}, *c.questions[2:]]
    session.commit()
    page = client.get("/consultations/ott-2017?lang=ar").text
    assert "السؤال 1؟" in page  # given in Arabic: shown as is, unmarked
    marked = re.search(
        r'<span lang="en" dir="ltr">Only in English\?</span> <small class="untranslated">\(([^)]+)\)', page
    )
    assert marked and marked.group(1) == "غير متاح باللغة العربية — معروض باللغة الإنجليزية"
    form = client.get("/consultations/ott-2017/respond?lang=fr").text
    assert "non disponible en français — affiché en anglais" in form
    assert "not available" not in client.get("/consultations/ott-2017/respond?lang=en").text


def test_staff_see_what_lacks_a_translation_and_are_warned_before_the_letter(
    client: TestClient,  # noqa: F811
    session: Session,
) -> None:
    data = decision(slug="half-done", questions=[{"en": "Q1?", "ar": "س١؟"}, {"en": "Q2?"}])
    repo.create_consultation(session=session, data=data, proposed=False, actor=STAFF, now=NOW, policy=POLICY)
    session.commit()
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/login").text).group(1)
    client.post("/staff/login", data={"csrf": token, "name": WEB_STAFF[0], "password": WEB_STAFF[1]})
    board = client.get("/staff").text
    report = re.search(r'data-untranslated="half-done">(.*?)</div>', board, re.S)
    assert report and "question 2: no AR" in report.group(1) and "title" not in report.group(1)
    warning = re.search(r'data-confirm="([^"]*Issue it anyway\?)"', board)
    assert warning and "question 2: ar" in warning.group(1)

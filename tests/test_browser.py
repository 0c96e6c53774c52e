"""Real pages in a real headless Chromium (Debian's, driven by Playwright): a stakeholder
responds in Arabic; staff log in, start a consultation, issue its letter and watch it
move column on the board. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifications.catcher import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"
BIN = Path(sys.executable).parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
PASSWORD = "browser test password"
SIX = ("ar", "zh", "en", "fr", "ru", "es")
DATABASE: dict[str, str] = {}  # the server's database URL, for reading what it mailed

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (python3 dev.py test installs it)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("browser")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CONSULT_", "PREFECT_"))},
           "CONSULT_DATABASE_URL": f"sqlite:///{folder / 'consult.db'}", "CONSULT_DATA_DIR": str(folder),
           "CONSULT_NOW": "2017-07-01T08:00:00Z"}  # fmt: skip
    DATABASE["url"] = env["CONSULT_DATABASE_URL"]
    consult = str(BIN / "consult")
    subprocess.run([consult, "demo"], env=env, check=True, capture_output=True)
    for name, role in (("secretariat", "editor"), ("moderator", "moderator"), ("viewer", "viewer")):
        subprocess.run([consult, "staff", "add", name, "--role", role, "--password-stdin"], input=PASSWORD + "\n",
                       text=True, env=env, check=True, capture_output=True)  # fmt: skip
    port = free_port()
    proc = subprocess.Popen([consult, "serve", "--port", str(port), "--no-clock"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_stakeholder_responds_in_arabic(server: str, browser) -> None:
    page = browser.new_page(locale="ar")
    page.goto(f"{server}/consultations/ott-2017?lang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert "اعتبارات السياسات العامة" in page.locator("h1").inner_text()
    page.click("#respond-link")
    page.fill("input[name=name]", "أمل السعود")
    page.fill("input[name=organisation]", "هيئة الاتصالات")
    page.select_option("select[name=category]", "member_state")
    page.select_option("select[name=country]", "SA")
    page.fill("input[name=email]", "amal@example.sa")
    page.fill("textarea[name=summary]", "ملخص الرد")
    page.fill("textarea[name=answer_1]", "الفرص كبيرة")
    page.screenshot(path=str(ARTIFACTS / "respond-ar-form.png"), full_page=True)
    page.click("button[type=submit]")
    page.wait_for_selector("#reference")
    assert "تم استلام ردكم" in page.content()
    assert page.locator("#reference").inner_text().startswith("R-")
    page.screenshot(path=str(ARTIFACTS / "respond-ar-receipt.png"), full_page=True)
    page.goto(f"{server}/consultations/ott-2017/responses?lang=ar")
    assert "أمل السعود" not in page.content()  # stored, not public until the address is confirmed
    page.goto(f"{server}{_receipt_link('amal@example.sa')}?lang=ar")  # the link in the receipt
    assert page.locator("#state").get_attribute("data-state") == "unconfirmed"
    page.click("#confirm")
    page.wait_for_selector("#done")
    assert "تم تأكيد ردكم" in page.locator("#done").inner_text()
    page.fill("textarea[name=summary]", "ملخص الرد بعد التعديل")  # amended before the deadline
    page.check("input[name=publication][value=anonymous]")
    page.click("#amend button[type=submit]")
    page.wait_for_selector("#done")
    page.screenshot(path=str(ARTIFACTS / "respond-ar-amended.png"), full_page=True)
    page.goto(f"{server}/consultations/ott-2017/responses?lang=ar")
    content = page.content()
    assert "ملخص الرد بعد التعديل" in content and "أمل السعود" not in content and "amal@example.sa" not in content
    assert "مشارك مجهول الهوية" in content  # published without the name, as chosen
    page.close()


def _receipt_link(email: str) -> str:
    from sqlmodel import Session

    from store.db import make_engine
    from tests.factories import receipt_link

    engine = make_engine(DATABASE["url"])
    try:
        with Session(engine) as session:
            return receipt_link(session, email)
    finally:
        engine.dispose()


def _serious(page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['nodes'][0]['html'][:120]}" for v in found
            if v["impact"] in {"serious", "critical"}]  # fmt: skip


@pytest.mark.parametrize("lang", SIX)
def test_the_form_in_each_language_with_an_error_and_no_serious_axe_violation(server: str, browser, lang) -> None:
    """WCAG 2.1 AA by axe-core, in each of the six languages (Arabic right to left): the
    public pages, and the form sent with an e-mail address it refuses — the error in the
    page's language, tied to its field, the focus on it."""
    from web.i18n import field_label, words

    page = browser.new_page(locale=lang)
    for path in ("/", "/board", "/consultations/ott-2017", "/consultations/ott-2017/respond",
                 "/consultations/ott-2017/responses"):  # fmt: skip
        page.goto(f"{server}{path}?lang={lang}")
        assert _serious(page) == [], path
    page.goto(f"{server}/consultations/ott-2017/respond?lang={lang}")
    page.fill("input[name=name]", "X")
    page.select_option("select[name=category]", "member_state")
    page.select_option("select[name=country]", "CH")
    page.fill("input[name=email]", "someone@nowhere")  # the browser lets it through; the server does not
    page.fill("textarea[name=summary]", "s")
    page.fill("textarea[name=answer_1]", "a")
    page.click("button[type=submit]")
    page.wait_for_selector("#errors")
    t = words(lang)
    assert t["err_email"].format(field=field_label("email", lang)) in page.locator("#errors").inner_text()
    assert page.locator('#errors a[href="#f-email"]').count() == 1
    assert page.evaluate("document.activeElement.id") == "f-email"
    assert page.locator("#f-email").get_attribute("aria-invalid") == "true"
    assert page.locator("html").get_attribute("dir") == ("rtl" if lang == "ar" else "ltr")
    assert _serious(page) == []
    page.screenshot(path=str(ARTIFACTS / f"respond-{lang}-error.png"), full_page=True)
    page.close()


def test_staff_pages_have_no_serious_axe_violation(server: str, browser) -> None:
    page = _log_in(browser, server, "secretariat")
    for path in ("/staff", "/staff/consultations/ott-2017/responses", "/staff/stakeholders", "/staff/new",
                 "/staff/consultations/ott-2017/mail"):  # fmt: skip
        page.goto(f"{server}{path}")
        assert _serious(page) == [], path
    page.close()


def test_staff_start_issue_and_watch_the_board(server: str, browser) -> None:
    page = browser.new_page()
    page.goto(f"{server}/staff/login")
    page.fill("input[name=name]", "secretariat")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/staff")
    page.click("#new-consultation")
    page.fill("input[name=slug]", "gender-2017")
    page.fill("input[name=title_en]", "Bridging the gender digital divide")
    page.fill("input[name=title_ar]", "سد الفجوة الرقمية بين الجنسين")
    page.fill("textarea[name=questions_en]", "What approaches work?\nWhat is the role of governments?")
    page.fill("input[name=decided_on]", "2017-06-30")
    page.fill("input[name=letter_date]", "2017-07-01")
    page.fill("input[name=deadline]", "2017-09-15")
    page.fill("input[name=meeting_on]", "2017-10-15")
    page.click("#create")
    page.wait_for_url(f"{server}/staff?done=created+gender-2017")
    assert page.locator("p.ok").inner_text() == "created gender-2017"  # a success, not in the error box
    decided = page.locator('section[data-stage="decided"] .card[data-slug="gender-2017"]')
    assert decided.count() == 1
    page.screenshot(path=str(ARTIFACTS / "staff-decided.png"), full_page=True)
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))  # issuing is irreversible
    letter = page.locator(
        'section[data-stage="decided"] form:has(button[data-trigger="issue-letter"][data-slug="gender-2017"])'
    )
    letter.locator("input[name=letter_number]").fill("CL-17/45")  # the registry's number
    page.click('section[data-stage="decided"] button[data-trigger="issue-letter"][data-slug="gender-2017"]')
    page.wait_for_selector('section[data-stage="letter_issued"] .card[data-slug="gender-2017"]')
    assert page.locator('section[data-stage="decided"] .card[data-slug="gender-2017"]').count() == 0
    assert asked and "cannot be undone" in asked[0]
    page.screenshot(path=str(ARTIFACTS / "staff-letter-issued.png"), full_page=True)
    page.goto(f"{server}/?lang=en")  # the public home: what is open, and what is coming
    assert page.locator('#coming .card[data-slug="gender-2017"]').count() == 1
    page.goto(f"{server}/board?lang=en")  # the public stage board
    assert page.locator('section[data-stage="letter_issued"] .card[data-slug="gender-2017"]').count() == 1
    page.close()


def _log_in(browser, server: str, name: str):
    page = browser.new_context().new_page()  # a context each: its own cookies
    page.goto(f"{server}/staff/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/staff")
    return page


def test_editor_moderator_and_viewer(server: str, browser) -> None:
    """An editor fixes a question's typo before the letter; a moderator withholds a
    response with a reason; a viewer reads everything and every action is refused."""
    import json

    response = {"name": "Nadia Haddad", "organisation": None, "category": "other", "country": "LB",
                "email": "nadia@example.lb", "language": "ar", "summary": "ملخص",
                "answers": [{"question": 1, "text": "رقم هاتفي الخاص"}]}  # fmt: skip
    posted = urllib.request.Request(f"{server}/api/consultations/ott-2017/submissions", method="POST",
                                    data=json.dumps(response).encode(),
                                    headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(posted, timeout=30) as answer:  # one to moderate, whichever tests ran before
        assert answer.status in (200, 201)
    respondent = browser.new_page()
    respondent.goto(f"{server}{_receipt_link('nadia@example.lb')}")  # confirmed: published, so moderated
    if respondent.locator("#confirm").count():
        respondent.click("#confirm")
        respondent.wait_for_selector("#done")
    respondent.close()
    editor = _log_in(browser, server, "secretariat")
    editor.click("#new-consultation")
    editor.fill("input[name=slug]", "typo-2017")
    editor.fill("input[name=title_en]", "Fixing typos")
    editor.fill("textarea[name=questions_en]", "Waht approaches work?\nWho pays?")
    editor.fill("textarea[name=questions_ar]", "ما هي المقاربات الناجحة؟\nمن يدفع؟")
    for field, value in (("decided_on", "2017-06-30"), ("letter_date", "2017-07-03"), ("deadline", "2017-09-15"),
                         ("meeting_on", "2017-10-16")):  # fmt: skip
        editor.fill(f"input[name={field}]", value)
    editor.click("#create")
    editor.wait_for_url("**/staff?done=created+typo-2017")
    editor.click('a[data-edit="typo-2017"]')
    box = editor.locator("textarea[name=questions_en]")
    box.fill(box.input_value().replace("Waht", "What"))
    editor.click("#save")
    editor.wait_for_url("**/staff?done=*")
    assert editor.locator("p.ok").inner_text() == "typo-2017: changed questions"
    editor.goto(f"{server}/consultations/typo-2017?lang=en")
    assert "What approaches work?" in editor.content() and "Waht" not in editor.content()
    assert "edit" in editor.content()  # the audit log shows the edit
    editor.screenshot(path=str(ARTIFACTS / "editor-fixed-typo.png"), full_page=True)

    moderator = _log_in(browser, server, "moderator")
    assert moderator.locator("button[data-trigger]").count() == 0  # no trigger is a moderator's
    moderator.click('a[data-responses="ott-2017"]')
    first = moderator.locator("table.responses tr[data-reference] a").first
    reference = first.inner_text()
    first.click()
    moderator.fill("input[name=reason]", "contains a private phone number")
    moderator.once("dialog", lambda dialog: dialog.accept())
    moderator.click('button[data-moderate="withhold"]')
    moderator.wait_for_url("**/responses?done=*")
    assert moderator.locator("p.ok").inner_text() == f"{reference} withheld"
    moderator.goto(f"{server}/staff/consultations/ott-2017/responses/{reference}")
    assert "Withheld from the public pages" in moderator.content()
    assert "contains a private phone number" in moderator.locator("table[data-history]").inner_text()
    moderator.screenshot(path=str(ARTIFACTS / "moderator-withheld.png"), full_page=True)
    public = moderator.request.get(f"{server}/consultations/ott-2017/responses").text()
    assert reference not in public

    viewer = _log_in(browser, server, "viewer")
    assert viewer.locator("button[data-trigger]").count() == 0 and viewer.locator("a[data-edit]").count() == 0
    viewer.goto(f"{server}/staff/consultations/ott-2017/responses/{reference}")
    assert "contains a private phone number" in viewer.content()  # reads everything, withheld ones too
    assert viewer.locator("button[data-moderate]").count() == 0
    csrf = viewer.locator("input[name=csrf]").first.get_attribute("value")
    for path, form in ((f"/staff/consultations/ott-2017/responses/{reference}/publish", {"reason": "x"}),
                       ("/staff/consultations/typo-2017/fire/issue-letter", {"letter_number": "CL-17/50"}),
                       ("/staff/consultations/typo-2017/edit", {"meeting_place": "Bern"}),
                       ("/staff/consultations/ott-2017/mail/hold", {})):  # fmt: skip
        refused = viewer.request.post(f"{server}{path}", form={"csrf": csrf, **form}, max_redirects=0)
        assert refused.status == 403, path
    viewer.goto(f"{server}/staff/new")
    assert "needs the editor role" in viewer.content()
    viewer.screenshot(path=str(ARTIFACTS / "viewer-refused.png"), full_page=True)

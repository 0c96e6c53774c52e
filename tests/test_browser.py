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
    consult = str(BIN / "consult")
    subprocess.run([consult, "demo"], env=env, check=True, capture_output=True)
    subprocess.run([consult, "staff", "add", "secretariat", "--password-stdin"], input=PASSWORD + "\n", text=True,
                   env=env, check=True, capture_output=True)  # fmt: skip
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
    page.fill("input[name=country]", "SA")
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
    assert "أمل السعود" in page.content() and "amal@example.sa" not in page.content()
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
    page.goto(f"{server}/?lang=en")
    assert page.locator('section[data-stage="letter_issued"] .card[data-slug="gender-2017"]').count() == 1
    page.close()

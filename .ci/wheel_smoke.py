"""The installed package on its own: run by the Python of a clean venv holding only the
wheel, from a folder outside the checkout (stdlib only, so it needs nothing else).

init, demo, the Arabic letter as PDF, the compilation, then `consult serve`: the board,
a consultation's page in six languages and the Arabic response form, then SIGTERM and a
clean exit with nothing left running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
CONSULT = str(BIN / "consult")
HERE = Path.cwd()


def run(*args: str) -> str:
    print("+ consult", " ".join(args), flush=True)
    done = subprocess.run([CONSULT, *args], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        sys.exit(f"consult {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode()


def main() -> None:
    checkout = os.environ.get("CONSULT_CHECKOUT", "")
    located = subprocess.run([sys.executable, "-c", "import web, documents; print(web.__file__)"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    if checkout and located.startswith(checkout):
        sys.exit(f"the smoke test imports the checkout ({located}), not the installed wheel")
    print(f"package installed at {Path(located).parent.parent}")
    run("init")
    run("demo")
    run("letter", "ott-2017", "--lang", "ar", "--format", "pdf", "-o", "letter-ar.pdf")
    pdf = (HERE / "letter-ar.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000, "the Arabic letter is not a PDF"
    run("compile", "internet-connectivity", "--format", "html", "-o", "compilation.html")
    assert "Expanding Internet connectivity" in (HERE / "compilation.html").read_text(encoding="utf-8")
    port = free_port()
    server = subprocess.Popen([CONSULT, "serve", "--port", str(port), "--demo"], start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                board = fetch(f"{base}/")
                break
            except OSError:
                time.sleep(0.5)
        else:
            sys.exit("consult serve did not answer")
        assert 'data-slug="multilingual-internet"' in board, "the board lacks the open demo consultation"
        for lang in ("ar", "zh", "en", "fr", "ru", "es"):
            page = fetch(f"{base}/consultations/ott-2017?lang={lang}")
            assert f'lang="{lang}"' in page, f"the {lang} page is not in {lang}"
        form = fetch(f"{base}/consultations/multilingual-internet/respond?lang=ar")
        assert 'dir="rtl"' in form and "تعدد اللغات على الإنترنت" in form, "the Arabic form is wrong"
        print("pages: the board, ott-2017 in six languages, the Arabic response form")
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(60)
    if code != 0:
        sys.exit(f"consult serve exited with {code} on SIGTERM")
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", f"{BIN}/python -m uvicorn"], capture_output=True, text=True).stdout.split()
    if left:
        sys.exit(f"processes left running after consult serve stopped: {left}")
    print("wheel smoke test passed")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The project's two commands, for a fresh machine with only python3:

    python3 dev.py run    set up, load the real demo consultations, serve the dashboard on
                          http://127.0.0.1:8000/ (`run --check`: start, check, stop)
    python3 dev.py test   set up (PostgreSQL included) and run lint and the whole suite
    python3 dev.py bench  set up and run the benchmarks, writing BENCHMARKS.md

Set-up is idempotent: the virtual environment in .venv is reinstalled only when
pyproject.toml changes.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"


def sh(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv(extra: str | None) -> None:
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{extra or 'base'}-{digest}"
    if stamp.exists():
        return
    target = f".[{extra}]" if extra else "."
    sh(BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", target)
    stamp.touch()


def ensure_debian(package: str, *, present: bool, otherwise: str, required: bool = False) -> None:
    """Install a Debian package the suite needs when it is missing and we are root; else say
    what follows (and stop, when the suite cannot run without it)."""
    if present:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        sh("apt-get", "update", "-qq")
        sh("apt-get", "install", "-y", "-qq", package)
        return
    if required:
        sys.exit(otherwise)
    print(otherwise, flush=True)


def ensure_chromium() -> None:
    """The browser tests drive Debian's chromium (never a downloaded browser build)."""
    present = bool(shutil.which("chromium")) or Path("/usr/bin/chromium").exists()
    ensure_debian("chromium", present=present,
                  otherwise="no chromium and no way to install it: browser tests will be skipped")  # fmt: skip


def ensure_cjk_font() -> None:
    """WeasyPrint finds Arabic in DejaVu Sans, but a fresh machine has no Chinese font."""
    present = bool(glob.glob("/usr/share/fonts/truetype/wqy/*") or glob.glob("/usr/share/fonts/opentype/noto/*CJK*"))
    ensure_debian("fonts-wqy-zenhei", present=present,
                  otherwise="no CJK font and no way to install one: Chinese PDFs will show empty boxes")  # fmt: skip


def ensure_postgres() -> None:
    """The suite runs on a throwaway PostgreSQL cluster too; install the server if missing."""
    present = bool(shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    ensure_debian("postgresql", present=present, required=True,
                  otherwise="PostgreSQL server binaries (initdb, pg_ctl) are missing: install PostgreSQL 15, "
                            "or set CONSULT_TEST_BACKENDS=sqlite to leave it out")  # fmt: skip


def run(args: list[str]) -> None:
    ensure_venv(None)
    ensure_cjk_font()
    env = dict(os.environ)
    sh(BIN / "consult", "init", env=env)
    sh(BIN / "consult", "demo", env=env)
    sh(BIN / "consult", "list", env=env)
    port = env.get("CONSULT_PORT", "8000")
    serve = [str(BIN / "consult"), "serve", "--port", port, "--demo"]
    if "--check" in args:
        check(serve, env, port)
        return
    print_urls(env, port)
    os.execv(serve[0], serve)


def print_urls(env: dict[str, str], port: str) -> None:
    """The three pages worth opening first, and where the caught mail goes."""
    import json

    listed = subprocess.run([str(BIN / "consult"), "list", "--json", "--stage", "open"], env=env, cwd=ROOT,
                            capture_output=True, text=True, check=True)  # fmt: skip
    slugs = [c["slug"] for c in json.loads(listed.stdout)]
    base = f"http://127.0.0.1:{port}"
    print(f"\nOpen in a browser:\n  what is open now:     {base}/\n  the stage board:      {base}/board")
    if slugs:
        print(f"  respond, in Arabic:   {base}/consultations/{slugs[-1]}/respond?lang=ar")
    print(f"  staff login:          {base}/staff/login   (login 'demo', password printed above by `consult demo`)")
    mail = ROOT / env.get("CONSULT_DATA_DIR", "data") / "mail"
    print(f"Mail goes to a local catcher and is kept in {mail.resolve()} (Maildir).\n", flush=True)


def check(serve: list[str], env: dict[str, str], port: str) -> None:
    """Start the engine, fetch the home page and the stage board, stop: what CI runs instead
    of serving forever."""
    import re
    import time
    import urllib.request

    server = subprocess.Popen(serve, env=env, cwd=ROOT, start_new_session=True)
    try:
        for _ in range(120):
            try:
                home = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                board = urllib.request.urlopen(f"http://127.0.0.1:{port}/board", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        else:
            sys.exit("the dashboard did not answer")
        columns = re.split(r'(?=data-stage=")', board)[1:]
        stages = [c.split('"')[1] for c in columns if "data-slug=" in c]
        shown = re.findall(r'data-slug="([a-z0-9-]+)"', board)
        print(f"dashboard answered on port {port}: {len(shown)} consultations in {len(stages)} stages")
        historical = {"ott-2017", "developmental-aspects-2016", "enabling-environment-2016"}
        if not historical <= set(shown) or "multilingual-internet" not in shown:
            sys.exit(f"the demo consultations are not on the board: {shown}")
        open_now = home.split('id="open-now"', 1)[-1].split('id="coming"', 1)[0]
        if 'data-slug="multilingual-internet"' not in open_now:
            sys.exit("the home page does not list the open demo consultation under what is open now")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
    if server.returncode not in (0, -signal.SIGTERM):
        sys.exit(f"consult serve stopped with code {server.returncode}")


def test(pytest_args: list[str]) -> None:
    ensure_venv("test")
    if "postgresql" in os.environ.get("CONSULT_TEST_BACKENDS", "sqlite,postgresql"):
        ensure_postgres()
    ensure_chromium()
    ensure_cjk_font()
    sh(BIN / "ruff", "check", ".")
    sh(BIN / "ruff", "format", "--check", ".")
    sh(BIN / "mypy")  # the whole tree but the tests (pyproject: [tool.mypy]); zero errors
    sh(BIN / "python", "-m", "pytest", *pytest_args)


def bench(names: list[str]) -> None:
    ensure_venv("test")
    sh(BIN / "python", "-m", "bench.run", *names)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test", "bench"}:
        sys.exit(__doc__)
    {"run": run, "test": test, "bench": bench}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()

"""A temporary Prefect API server owned by one of our processes, when PREFECT_API_URL is unset.

Prefect has no API-less mode: without PREFECT_API_URL its first flow run starts a server
subprocess of its own and stops it only from `atexit`, so a `consult serve` stopped by
SIGTERM (how systemd and containers stop a service) or killed with SIGKILL left a server of
~200 MB running (five were found after a day). We start the same server ourselves instead:

- with `PR_SET_PDEATHSIG`, so the kernel stops it whenever its parent dies, however it dies;
- once per process, in the background, with a progress line, so `consult serve` answers
  pages at once and every tick in it reuses the one server;
- never when PREFECT_API_URL names a real server.

Our flow runs are then pointed at it with Prefect's own `temporary_settings`, so nothing
writes to `os.environ`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from notifications.catcher import free_port

PR_SET_PDEATHSIG = 1
STARTUP_TIMEOUT = 180.0  # a cold start on a busy 2-core machine took up to 40 s


class PrefectServerError(RuntimeError):
    """The temporary Prefect server did not start; the message says what it printed."""


def prefect_environment(data_dir: Path) -> dict[str, str]:
    """Prefect's files inside our data folder and its telemetry off (DESIGN §12), for the
    server subprocess and for the process that imports Prefect."""
    home = (data_dir / "prefect").resolve()
    home.mkdir(parents=True, exist_ok=True)  # Prefect does not create missing parents
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }


def _die_with_parent(parent: int) -> Callable[[], None]:
    def setup() -> None:  # runs in the child between fork and exec
        os.setsid()  # its own session: a Ctrl-C meant for `serve` reaches it only through our stop()
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return setup


class TemporaryPrefectServer:
    """One Prefect server subprocess for this process; `api_url` once it answers."""

    def __init__(self, *, data_dir: Path, announce: Callable[[str], None]) -> None:
        self.data_dir, self.announce = data_dir, announce
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._error: str | None = None
        self._log = data_dir / "prefect" / "server.log"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> TemporaryPrefectServer:
        """Start the subprocess from the calling thread (PDEATHSIG follows the thread that
        forked, so call this from a thread that lives as long as the process: the main one)
        and watch for its health in the background."""
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env.update(prefect_environment(self.data_dir))
        env.update({"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"})
        args = [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app", "--host",
                "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"]  # fmt: skip
        with open(self._log, "ab") as log:
            self.process = subprocess.Popen(
                args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509 - started before other threads
            )  # fmt: skip
        self.announce(f"prefect: starting a temporary server on 127.0.0.1:{self.port} for the clock's flow runs "
                      "(set PREFECT_API_URL to use a running one)")  # fmt: skip
        threading.Thread(target=self._watch, name="prefect-server-watch", daemon=True).start()
        return self

    def _watch(self) -> None:
        started = time.monotonic()
        assert self.process is not None
        while time.monotonic() - started < STARTUP_TIMEOUT:
            if self.process.poll() is not None:
                self._error = (
                    f"the temporary Prefect server exited with code {self.process.returncode} (see {self._log})"
                )
                break
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        self.announce(f"prefect: temporary server ready in {time.monotonic() - started:.0f} s")
                        break
            except OSError:
                pass
            time.sleep(0.25)
        else:
            self._error = (
                f"the temporary Prefect server did not answer within {STARTUP_TIMEOUT:.0f} s (see {self._log})"
            )
        self._ready.set()

    def wait_ready(self) -> str:
        """Block until the server answers; its API URL, or PrefectServerError."""
        self._ready.wait(STARTUP_TIMEOUT + 5)
        if self._error or not self._ready.is_set():
            raise PrefectServerError(self._error or "the temporary Prefect server did not start")
        return self.api_url

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def prefect_api(
    *, data_dir: Path, server: TemporaryPrefectServer | None, announce: Callable[[str], None]
) -> Iterator[None]:
    """Flow runs inside this block talk to PREFECT_API_URL when set, else to `server`, else
    to a temporary server started for the block and stopped after it (`consult tick`)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    own = None
    if server is None:
        server = own = TemporaryPrefectServer(data_dir=data_dir, announce=announce).start()
        announce("prefect: waiting for the temporary server before running the tick")
    try:
        home = prefect_environment(data_dir)["PREFECT_HOME"]
        with temporary_settings(updates={PREFECT_API_URL: server.wait_ready(), PREFECT_HOME: home}):
            yield
    finally:
        if own is not None:
            own.stop()

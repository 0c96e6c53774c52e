"""Finding processes the suite started and left behind.

Every process the suite starts inherits CONSULT_TEST_SESSION (set in conftest before any
test runs); at the end of the session, any process but pytest itself still carrying it is
a leak: a temporary Prefect server, a `consult serve`, a worker, a mail catcher."""

from __future__ import annotations

from pathlib import Path

MARK = "CONSULT_TEST_SESSION"


def marked(token: str, *, exclude: set[int]) -> list[tuple[int, str]]:
    """(pid, command line) of live processes whose environment carries MARK=token."""
    needle = f"{MARK}={token}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in exclude:
            continue
        try:
            if needle not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            state = next((line for line in (proc / "status").read_text().splitlines() if line.startswith("State:")), "")
            if "Z" in state.split()[1:2]:  # a zombie is already dead, waiting for its parent to reap it
                continue
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            if "multiprocessing.resource_tracker" in cmdline:  # pytest's own helper; it ends with pytest
                continue
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        found.append((int(proc.name), cmdline))
    return found

"""A progress bar for a long file import, on a terminal only (a pipe or a log gets the
closing line alone): how many records, how fast, and how long is left — from the bytes
read, the one measure known before the end of the file."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

Report = Callable[[int, int], None]  # (records so far, bytes read so far)


@contextmanager
def file_progress(path: Path, *, what: str) -> Iterator[Report | None]:
    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[records]:,} " + what),
               TextColumn("{task.fields[rate]:,.0f}/s"), TimeRemainingColumn())  # fmt: skip
    start = time.monotonic()
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(path.name, total=max(path.stat().st_size, 1), records=0, rate=0.0)

        def report(records: int, position: int) -> None:
            rate = records / max(time.monotonic() - start, 1e-6)
            bar.update(task, completed=position, records=records, rate=rate)

        yield report

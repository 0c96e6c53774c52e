"""The embedded clock's compilation writer: the files of compiled consultations, written in
a process of their own, off the clock's path.

A tick commits a consultation as compiled in milliseconds; writing its HTML, CSV and JSON
takes as long as it has responses (about a minute and a half per million, per language).
Written inside the tick, that time held up every reminder and receipt behind it
(bench/clock_path: a reminder 9.6 s late behind 100,000 contributions, 0.2 s with this).
Here the clock only looks whether files are missing (the stage is the durable marker,
flows/work.py files_missing) and starts one writer process when none is running; the next
firings go on ticking and delivering mail meanwhile, and a writer cut short (a stop, a
crash) leaves a folder without its `.complete` marker, which the next writer writes again.

A process, not a thread: the writing is pure Python and would share the GIL with the web
app and the tick. Spawned, not forked: `consult serve` is threaded.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess

from sqlalchemy import Engine

from config import Settings
from flows import work
from store.db import make_engine


class CompilationWriter:
    """At most one writer process at a time, started by `poke` when files are missing."""

    def __init__(self, *, settings: Settings, engine: Engine, announce: Callable[[str], None]) -> None:
        """`engine`: the clock's own, for the look at what is missing (the writer opens its own)."""
        self.settings, self.engine, self.announce = settings, engine, announce
        self.process: BaseProcess | None = None

    def busy(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def poke(self) -> str | None:
        """Start a writer if files are missing and none runs; what was started, if anything."""
        if self.busy():
            return None
        if self.process is not None and self.process.exitcode not in (0, None):
            self.announce(f"clock: the compilation writer stopped with exit code {self.process.exitcode}; "
                          "its files are written again")  # fmt: skip
        self.process = None
        missing = work.files_missing(engine=self.engine, settings=self.settings)
        if not missing:
            return None
        process = multiprocessing.get_context("spawn").Process(
            target=write_missing, args=(self.settings,), name="consult-compilations", daemon=True
        )
        process.start()
        self.process = process
        return f"{len(missing)} compilation(s) to write: writer process {process.pid}"

    def wait(self, timeout: float | None = None) -> bool:
        """Until the running writer is done (tests, and a clean stop that may wait)."""
        if self.process is not None:
            self.process.join(timeout)
        return not self.busy()

    def stop(self) -> None:
        """Stop a writer under way: its folder has no marker yet and is written again."""
        if self.busy():
            assert self.process is not None
            self.process.terminate()
            self.process.join(10)


def write_missing(settings: Settings) -> None:
    """The writer process: every compiled consultation whose files are not all there, with a
    progress line every few seconds on `consult serve`'s output."""
    from notifications.fanout import stop_with_parent

    stop_with_parent()
    engine = make_engine(settings.database_url)
    try:
        written = work.write_compilations(engine=engine, ids=[], settings=settings, redrive=True,
                                          progress=progress_lines(lambda line: print(line, flush=True)))  # fmt: skip
        for folder in written:
            print(f"clock: compilation written: {folder}", flush=True)
    finally:
        engine.dispose()


def progress_lines(say: Callable[[str], None], *, every: float = 5.0) -> work.Progress:
    """A progress reporter for write_compilations: one line per consultation started and
    then at most one every `every` seconds — readable in a log, unlike a bar."""
    last: dict[str, float] = {}

    def report(slug: str, done: int, total: int) -> None:
        now = time.monotonic()
        if slug in last and now - last[slug] < every:
            return
        last[slug] = now
        share = f"{100 * done // total}%" if total else "no rows"
        say(f"clock: compiling {slug}: {share} ({done:,} of {total:,} rows written)")

    return report

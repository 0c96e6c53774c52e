"""What every route needs: the app's `Web` context (settings, engine, clock, templates,
the response writer), the session dependency, and rendering a page in the reader's
language. Routers import this module, never web/app.py, so the app can import them."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlmodel import Session

from config import Settings
from documents.archive import Renderer
from notifications.effects import receive
from notifications.fanout import fan_out_for, stop_with_parent
from states import Stage
from states.clock import next_step
from states.contract import Role
from states.dates import long_date, long_instant
from states.errors import ConsultError, Forbidden, NotFound
from states.languages import LANGUAGES, pick
from states.timing import zone
from store import consultations as repo
from store.consultations import snapshot
from store.models import SubmissionCreate
from store.submissions import AlreadyResponded, InvalidAnswer, NotAccepting, Received
from store.tables import Consultation
from web import i18n
from web.access import identity
from web.security import CredentialCache, LoginThrottle, RateLimit, csrf_ok

MAX_BODY = 12 * 1024 * 1024  # a 10 MB attachment plus the form around it
INTAKE_BATCH = 32  # responses written in one transaction at most (Web.take_response)
# The intake's refusals: each is raised before its response writes anything.
REFUSALS = (NotFound, NotAccepting, AlreadyResponded, InvalidAnswer)


@dataclass
class _Intake:
    """A response waiting to be written, and where its outcome goes."""

    ref: str
    data: SubmissionCreate
    now: datetime
    channel: str
    attachment_name: str | None
    attachment: tuple[str, bytes] | None
    done: Future[Received] = field(default_factory=Future)


def _settle(job: _Intake, outcome: Received | BaseException) -> None:
    if isinstance(outcome, BaseException):
        job.done.set_exception(outcome)
    else:
        job.done.set_result(outcome)


@dataclass
class Web:
    settings: Settings
    engine: Engine
    clock: Callable[[], datetime]
    submissions_limit: RateLimit
    templates: Jinja2Templates
    attachments: Path
    writer: ThreadPoolExecutor
    notices: NoticeWorker
    documents: Renderer  # renders what a transition issues, for the archive
    warnings: list[str]  # shown on the staff pages: what would make real mail wrong
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    basic_cache: CredentialCache = field(default_factory=CredentialCache)
    intake: deque[_Intake] = field(default_factory=deque)  # responses waiting for a writer thread

    async def take_response(
        self, *, ref: str, data: SubmissionCreate, now: datetime, channel: str,
        attachment_name: str | None = None, attachment: tuple[str, bytes] | None = None,
    ) -> Received:  # fmt: skip
        """Store a response and queue its receipt, on the writer; committed before it
        returns. An attachment (stored name, bytes) is written only for a new response.

        Responses that arrive together are written together: each writer thread takes what
        waits, up to `INTAKE_BATCH`, and stores them one after the other in one transaction
        — the order and the outcome each would have alone, one connection, one snapshot of
        each consultation and one commit for all. On PostgreSQL a submission's own
        connection, snapshot and commit were a third of the web's work per submission
        (bench/http_postgres.py). A refusal (closed, invalid, already responded) is decided
        before its response writes anything and leaves the others be; any other failure
        rolls the batch back and each of its responses is tried again alone, so it fails
        only the one that caused it."""
        job = _Intake(ref=ref, data=data, now=now, channel=channel, attachment_name=attachment_name,
                      attachment=attachment)  # fmt: skip
        self.intake.append(job)
        self.writer.submit(self._write_waiting)
        return await asyncio.wrap_future(job.done)

    def _write_waiting(self) -> None:
        """On the writer threads (web/app.py response_writers), off the event loop:
        responses are the writes that come in bursts. On SQLite one thread, in arrival
        order: request threads queueing on a lock spent their time handing the GIL to each
        other, and queueing in SQLite's busy handler sleeps up to 100 ms between tries
        (bench/http_submissions.py). Staff actions are rare and keep the thread pool."""
        batch: list[_Intake] = []
        while len(batch) < INTAKE_BATCH:
            try:
                batch.append(self.intake.popleft())
            except IndexError:  # taken by another writer thread, or none left
                break
        if not batch:
            return
        try:
            outcomes = self._store(batch)
        except Exception as exc:
            if len(batch) == 1:  # alone already
                _settle(batch[0], exc)
                return
            for job in batch:
                try:
                    (alone,) = self._store([job])
                except Exception as failed:
                    _settle(job, failed)
                else:
                    _settle(job, alone)
            return
        for job, outcome in zip(batch, outcomes, strict=True):
            _settle(job, outcome)

    def _store(self, batch: list[_Intake]) -> list[Received | ConsultError]:
        outcomes: list[Received | ConsultError] = []
        with Session(self.engine, expire_on_commit=False) as session:
            consultations: dict[str, Consultation] = {}
            for job in batch:
                try:
                    if job.ref not in consultations:  # read where the write happens: the stage now
                        consultations[job.ref] = snapshot(session=session, ref=job.ref)
                    received = receive(session=session, consultation=consultations[job.ref], data=job.data,
                                       now=job.now, settings=self.settings, channel=job.channel,
                                       attachment_name=job.attachment_name,
                                       attachment_path=job.attachment[0] if job.attachment else None)  # fmt: skip
                except REFUSALS as refused:  # raised before this response wrote anything
                    outcomes.append(refused)
                    continue
                if job.attachment and received.created:
                    (self.attachments / job.attachment[0]).write_bytes(job.attachment[1])
                outcomes.append(received)
            session.commit()
        return outcomes

    def fan_out(self) -> None:
        self.notices.submit(self.settings, self.clock())


class NoticeWorker:
    """One worker process, started on first use (spawned: no fork of a threaded server),
    reused by every fan-out, stopped with the app; it leaves by itself if the server dies."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, settings: Settings, now: datetime) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=stop_with_parent)
            self._pool.submit(fan_out_for, settings, now)

    def stop(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)  # a fan-out under way finishes and commits
                self._pool = None


def web(request: Request) -> Web:
    return request.app.state.web


def session_for(request: Request) -> Iterator[Session]:
    with Session(web(request).engine, expire_on_commit=False) as session:
        yield session


DB = Annotated[Session, Depends(session_for)]


def writing_session(request: Request) -> Session:
    """A session for a handler's work in the thread pool (it commits itself)."""
    return Session(web(request).engine, expire_on_commit=False)


async def checked_form(request: Request) -> dict[str, str]:
    """A staff form's text fields; refused (403) unless it carries this session's CSRF token."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if not csrf_ok(request, values.get("csrf")):
        raise Forbidden("this form has expired or came from another site: reload the page and try again")
    for name, value in values.items():
        if "\x00" in value:
            raise ConsultError(f"{name.replace('_', ' ')}: contains a NUL character")
    return values


RESPONDENT_FIELDS = ("name", "organisation", "category", "country", "email", "language", "summary", "publication")


def response_payload(values: dict[str, str], questions: int) -> dict[str, Any]:
    """A response form's fields as SubmissionCreate reads them: blanks left out (so the
    model's own "required" speaks), answers numbered from 1."""
    answers = [{"question": n, "text": values.get(f"answer_{n}", "")} for n in range(1, questions + 1)
               if values.get(f"answer_{n}", "").strip()]  # fmt: skip
    payload = {k: values[k] for k in RESPONDENT_FIELDS if (values.get(k) or "").strip()}
    return {**payload, "answers": answers}


def fan_out_later(background: BackgroundTasks, context: Web) -> None:
    """After the answer: the notices a committed transition owes, one message per
    stakeholder (thousands, for a letter), in the web's fan-out process.

    Not in this process: rendering 5,000 messages is seconds of Python holding the GIL,
    and a thread doing it stalled the event loop's answers by 200–650 ms (measured with
    tests/test_http_contract.py); a process of its own stalls nothing. A notice left
    unqueued (the worker died) is fanned out by the next tick."""
    background.add_task(context.fan_out)


def render(
    request: Request, template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    lang = i18n.negotiate(request)
    return web(request).templates.TemplateResponse(
        request, template,
        {"lang": lang, "dir": i18n.direction(lang), "t": i18n.words(lang), "languages": LANGUAGES, "pick": pick,
         "autonym": i18n.autonym, "countries": i18n.countries, "tr": lambda texts: i18n.translated(texts, lang),
         "when": lambda t, tz: long_instant(t, lang, tz, with_zone=True) if t else "—",
         "day": lambda d: long_date(d, lang) if d else "—",
         "staff": request.session.get("staff"), "who": identity(request), "Role": Role,
         "server_now": web(request).clock().isoformat(), **context},
        status_code=status, headers=headers,
    )  # fmt: skip


def card(c, now: datetime) -> dict[str, Any]:
    due = next_step(Stage(c.stage), repo.plan_of(c))
    return {
        "c": c, "due": due, "due_at": due.at.isoformat() if due and due.at else None,
        "overdue": bool(due and due.overdue(now)),
        "local": lambda t: t.astimezone(zone(c.timezone)).strftime("%Y-%m-%d %H:%M %Z") if t else "—",
    }  # fmt: skip

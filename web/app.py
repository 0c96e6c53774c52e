"""The FastAPI application: JSON API, public pages, staff dashboard.

Built by `create_app(settings)`; nothing is read from the environment here. The clock
is injected: `settings.now` (CONSULT_NOW) freezes it for demos and tests.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from config import Settings
from notifications.effects import receive
from states.errors import ConsultError, GuardRefused, TimingError, TriggerNotAllowed
from store.consultations import ConflictError, NotFound, snapshot
from store.db import make_engine
from store.models import SubmissionCreate
from store.submissions import AlreadyResponded, NotAccepting, Received
from web.security import BodyLimit, RateLimit

T = TypeVar("T")
MAX_BODY = 12 * 1024 * 1024  # a 10 MB attachment plus the form around it


@dataclass
class Web:
    settings: Settings
    engine: Engine
    clock: Callable[[], datetime]
    submissions_limit: RateLimit
    templates: Jinja2Templates
    attachments: Path
    writer: ThreadPoolExecutor | None

    async def take_response(
        self, *, ref: str, data: SubmissionCreate, now: datetime, channel: str,
        attachment_name: str | None = None, attachment: tuple[str, bytes] | None = None,
    ) -> Received:  # fmt: skip
        """Store a response and queue its receipt in one transaction of its own, on the
        writer; an attachment (stored name, bytes) is written only for a new response."""

        def work() -> Received:
            with Session(self.engine, expire_on_commit=False) as session:
                c = snapshot(session=session, ref=ref)  # read where the write happens: the stage now
                received = receive(session=session, consultation=c, data=data, now=now, settings=self.settings,
                                   channel=channel, attachment_name=attachment_name,
                                   attachment_path=attachment[0] if attachment else None)  # fmt: skip
                if attachment and received.created:
                    (self.attachments / attachment[0]).write_bytes(attachment[1])
                session.commit()
                return received

        return await self._write(work)

    async def _write(self, work: Callable[[], T]) -> T:
        """Run a response's intake (its own session and commit) off the event loop.

        Responses are the writes that come in bursts, and SQLite has one writer at a time:
        on SQLite they run on one thread, in arrival order. Request threads queueing on a
        lock spent their time handing the GIL to each other, and queueing in SQLite's busy
        handler sleeps up to 100 ms between tries (bench/http_submissions.py: 0.40 → 0.66
        of a bare endpoint's rate). Staff actions are rare and keep the thread pool, as
        does everything on PostgreSQL, which writes concurrently.
        """
        if self.writer is None:
            return await run_in_threadpool(work)
        return await asyncio.get_running_loop().run_in_executor(self.writer, work)


def _secret_key(settings: Settings) -> str:
    """CONSULT_SECRET_KEY, else one generated once and kept in the data folder."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def create_app(settings: Settings, *, engine: Engine | None = None, rate_limit: int = 30) -> FastAPI:
    engine = engine or make_engine(settings.database_url)
    writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer") if engine.dialect.name == "sqlite" else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if writer is not None:
            writer.shutdown(wait=True)  # writes under way finish and commit

    app = FastAPI(title="Consultation lifecycle engine", version="0.1.0", lifespan=lifespan)
    templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))  # autoescape on for .html
    app.state.web = Web(
        settings=settings,
        engine=engine,
        clock=lambda: (settings.now or datetime.now(UTC)).astimezone(UTC),
        submissions_limit=RateLimit(rate_limit, 60.0),
        templates=templates,
        attachments=settings.data_dir / "attachments",
        writer=writer,
    )
    app.add_middleware(SessionMiddleware, secret_key=_secret_key(settings), same_site="lax", https_only=False)
    app.add_middleware(BodyLimit, limit=MAX_BODY)

    @app.exception_handler(ConsultError)
    async def _domain_error(request: Request, exc: ConsultError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))

    from web import api, pages, staff

    app.include_router(api.router)
    app.include_router(staff.router)
    app.include_router(pages.router)
    return app


def status_for(exc: ConsultError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, NotAccepting | AlreadyResponded | TriggerNotAllowed | ConflictError):
        return 409
    if isinstance(exc, GuardRefused | TimingError):
        return 409 if isinstance(exc, GuardRefused) else 422
    return 422


def web(request: Request) -> Web:
    return request.app.state.web


def session_for(request: Request) -> Iterator[Session]:
    with Session(web(request).engine, expire_on_commit=False) as session:
        yield session

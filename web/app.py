"""The FastAPI application: JSON API, public pages, staff dashboard.

Built by `create_app(settings)`; nothing is read from the environment here. The clock
is injected: `settings.now` (CONSULT_NOW) freezes it for demos and tests. The routers
depend on web/context.py, never on this module, so the imports run one way.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.middleware.sessions import SessionMiddleware

from config import Settings
from documents.archive import Renderer
from states.contract import Role
from store.db import make_engine
from store.staff import session_user
from web import api, errors, pages, respondent, staff, staff_mail, staff_registry, staff_responses
from web.access import Identity
from web.context import NoticeWorker, Web
from web.security import BodyLimit, NoNul, RateLimit, SecurityHeaders, StaffSessions

MAX_BODY = 12 * 1024 * 1024  # a 10 MB attachment plus the form around it


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


SERVED_DEMO = "CONSULT_SERVED_DEMO"  # set by `consult serve --demo --workers N` for its worker processes


def served_app() -> FastAPI:
    """The app of one worker process of `consult serve --workers N` (uvicorn's factory):
    its settings from the environment `serve` prepared, the same in every worker; the
    clock and the mail catcher stay in `serve`'s own process."""
    import os

    return create_app(Settings.from_env(), demo=os.environ.get(SERVED_DEMO) == "1", watch_clock=True)


def response_writers(engine: Engine) -> int:
    """How many responses are written at once: one on SQLite (one writer at a time), as many
    as the engine's pool holds connections on PostgreSQL. A burst then queues on the event
    loop, which costs nothing, instead of in 40 threads fighting for 15 connections and the
    GIL: under 64 connections that fight starved uvicorn's health check and its supervisor
    killed a worker mid-request (bench/http_postgres.py)."""
    if engine.dialect.name == "sqlite":
        return 1
    size = getattr(engine.pool, "size", None)  # a QueuePool's; a NullPool has no bound
    return size() if callable(size) else 8


def create_app(
    settings: Settings, *, engine: Engine | None = None, rate_limit: int = 30, demo: bool = False,
    watch_clock: bool = False,
) -> FastAPI:  # fmt: skip
    """`demo`: localhost links and a placeholder sender are expected, not warned of.
    `watch_clock`: alert staff when the clock stops (notifications/watchdog.py); `consult serve`."""
    engine = engine or make_engine(settings.database_url)
    writer = ThreadPoolExecutor(response_writers(engine), thread_name_prefix="response-writer")
    notices = NoticeWorker()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        watching = None
        if watch_clock:
            from notifications.watchdog import watch

            watching = asyncio.create_task(watch(engine=engine, settings=settings, clock=app.state.web.clock))
        yield
        if watching is not None:
            watching.cancel()
        writer.shutdown(wait=True)  # writes under way finish and commit
        notices.stop()

    app = FastAPI(title="Consultation lifecycle engine", version="0.1.0", lifespan=lifespan)
    templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))  # autoescape on for .html
    app.state.web = Web(
        settings=settings,
        engine=engine,
        clock=lambda: (settings.now or datetime.now(UTC)).astimezone(UTC),
        submissions_limit=RateLimit(rate_limit, 60.0),
        templates=templates,
        attachments=settings.attachments_dir,
        writer=writer,
        notices=notices,
        documents=Renderer(settings),
        warnings=[] if demo else settings.placeholder_warnings(),
    )

    def staff_of(token: str) -> Identity | None:
        with Session(engine) as session:
            user = session_user(session=session, token=token) if token else None
            return Identity(user.name, Role(user.role)) if user else None

    app.add_middleware(StaffSessions, lookup=staff_of)  # inside the session middleware: it reads the session
    app.add_middleware(SessionMiddleware, secret_key=_secret_key(settings), same_site="lax",
                       https_only=settings.mail.base_url.startswith("https://"))  # Secure behind HTTPS  # fmt: skip
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    app.add_middleware(NoNul)
    app.add_middleware(SecurityHeaders)
    errors.install(app)
    app.include_router(api.router)
    app.include_router(staff.router)
    app.include_router(staff_responses.router)
    app.include_router(staff_mail.router)
    app.include_router(staff_registry.router)
    app.include_router(pages.router)
    app.include_router(respondent.router)
    return app

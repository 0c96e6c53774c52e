"""What every command needs: settings built once, the database, the injected clock,
the acting person, and the error contract (one line on stderr, exit 2 for bad input)."""

from __future__ import annotations

import functools
import getpass
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlmodel import Session

from config import Settings
from config.policy import PolicyError
from config.settings import SettingsError, parse_instant
from states.errors import ConsultError
from store.db import current_revision, head_revision, make_engine, session_scope, upgrade

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handles_errors(command: F) -> F:
    """Turn domain errors into the CLI contract; anything else is a bug and keeps its traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConsultError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except (SettingsError, PolicyError) as exc:
            raise fail(str(exc)) from None
        except ArgumentError as exc:  # CONSULT_DATABASE_URL is not a URL SQLAlchemy knows
            raise fail(f"CONSULT_DATABASE_URL: {exc}") from None
        except OperationalError as exc:  # locked past the timeout, full, or unreachable
            raise fail(f"the database is not available: {str(exc.orig).strip().splitlines()[0]}", 1) from None
        except OSError as exc:  # an output path that cannot be written, a full disk
            raise fail(f"{exc.filename or 'file'}: {exc.strerror or exc}", 1) from None

    return wrapper  # type: ignore[return-value]


class App:
    """Settings and the engine, built once per command invocation."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def now(self, option: str | None) -> datetime:
        """--now, else CONSULT_NOW, else the real clock: the one place it is read."""
        if option:
            return parse_instant(option, what="--now").astimezone(UTC)
        if self.settings.now:
            return self.settings.now.astimezone(UTC)
        return datetime.now(UTC)

    def ensure_schema(self) -> None:
        """Bring the schema to head when it is behind; one cheap query when it is not."""
        try:
            if current_revision(self.engine) == head_revision():
                return
        except OperationalError as exc:
            raise ConsultError(f"cannot open database {self.settings.database_url}: {exc.orig}") from None
        upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        self.ensure_schema()
        try:
            with session_scope(self.engine) as session:
                yield session
        except (OperationalError, ProgrammingError) as exc:
            raise ConsultError(f"database error: {exc.orig}") from None


def app_from_env() -> App:
    try:
        return App(Settings.from_env())
    except (SettingsError, PolicyError) as exc:
        raise fail(str(exc)) from None


def actor() -> str:
    """Who acts, for the audit log: CONSULT_ACTOR, else the login name."""
    name = os.environ.get("CONSULT_ACTOR")
    if name:
        return name
    try:
        return f"staff:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "staff:unknown"

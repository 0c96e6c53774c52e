"""Errors at the HTTP edge, mapped once: a domain error's kind gives the status (DESIGN §6:
not found 404, conflict 409, refused or invalid 422, busy 503 with Retry-After); the API
answers JSON, a page answers an HTML page in the reader's language."""

from __future__ import annotations

import errno
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException

from states.errors import ConsultError, Kind
from web.access import LoginRequired
from web.context import render

STATUS = {
    Kind.BAD_INPUT: 422,
    Kind.NOT_FOUND: 404,
    Kind.REFUSED: 422,
    Kind.CONFLICT: 409,
    Kind.BUSY: 503,
    Kind.INTEGRITY: 500,
    Kind.FORBIDDEN: 403,
}
RETRY_AFTER = "5"
log = logging.getLogger("consult.web")


def status_for(exc: ConsultError) -> int:
    return STATUS[exc.kind]


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path == "/healthz" or path in {"/openapi.json", "/docs"}


def error_page(request: Request, status: int, message: str) -> Response:
    """The page's own language, the page's own layout: what a reader sees for any error."""
    from web.i18n import negotiate, words

    t = words(negotiate(request))
    heading = t.get(f"error_{status}", t["error"])
    headers = {"Retry-After": RETRY_AFTER} if status == 503 else None
    page = render(request, "error.html", status=status, heading=heading, message=message)
    if headers:
        page.headers.update(headers)
    return page


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__


def _busy(request: Request, message: str) -> Response:
    if not wants_json(request):
        return error_page(request, 503, message)
    return JSONResponse({"detail": message, "kind": "busy"}, status_code=503, headers={"Retry-After": RETRY_AFTER})


def install(app: FastAPI) -> None:
    @app.exception_handler(ConsultError)
    async def _domain(request: Request, exc: ConsultError) -> Response:
        status = status_for(exc)
        if not wants_json(request):
            return error_page(request, status, str(exc))
        headers = {"Retry-After": RETRY_AFTER} if status == 503 else None
        return JSONResponse({"detail": str(exc), "kind": exc.kind.value}, status_code=status, headers=headers)

    @app.exception_handler(OperationalError)
    async def _unavailable(request: Request, exc: OperationalError) -> Response:
        """The database is locked past its timeout, full, or gone: not the request's fault,
        and nothing was written (the transaction rolled back): try again shortly."""
        log.warning("database unavailable for %s %s: %s", request.method, request.url.path, exc.orig)
        return _busy(request, f"the database is not available just now ({_first_line(exc.orig)}); nothing was "
                              "written — please try again in a moment")  # fmt: skip

    @app.exception_handler(OSError)
    async def _disk(request: Request, exc: OSError) -> Response:
        log.warning("storage error for %s %s: %s", request.method, request.url.path, exc)
        what = "the disk is full" if exc.errno == errno.ENOSPC else f"storage is not available ({exc.strerror})"
        return _busy(request, f"{what}; please try again later")

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        message = f"a value does not fit the database: {_first_line(exc.orig)}"
        if not wants_json(request):
            return error_page(request, 422, message)
        return JSONResponse({"detail": message, "kind": "bad_input"}, status_code=422)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": "staff login required"}, status_code=401,
                                headers={"WWW-Authenticate": "Basic"})  # fmt: skip
        return RedirectResponse("/staff/login", status_code=303)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if not wants_json(request):
            return error_page(request, exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        if not wants_json(request):
            return error_page(request, 422, "; ".join(f"{p['field']}: {p['message']}" for p in problems))
        return JSONResponse({"detail": problems}, status_code=422)

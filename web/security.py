"""CSRF tokens bound to the session, a per-IP rate limit on
public submissions, and a request size limit."""

from __future__ import annotations

import hmac
import math
import secrets
import threading
import time
from collections import deque

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, submitted: str | None) -> bool:
    expected = request.session.get("csrf")
    return bool(expected and submitted and hmac.compare_digest(expected, submitted))


class RateLimit:
    """At most `limit` requests per `window` seconds per client address (in memory: one
    process; behind several workers, put the limit in the reverse proxy)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.hits: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self.lock:
            hits = self.hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


def refusal(scope: Scope, status: int, message: str) -> Response:
    """A middleware's refusal, in the API's JSON error shape on API paths (documented in the
    OpenAPI schema), as plain text elsewhere."""
    path = scope.get("path", "")
    if path.startswith("/api/") or path == "/healthz":
        return JSONResponse({"detail": message, "kind": "bad_input"}, status_code=status)
    return PlainTextResponse(message, status_code=status)


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await refusal(scope, 413, "request too large")(scope, receive, send)
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await refusal(scope, 413, "request too large")(scope, receive, send)


class _TooLarge(HTTPException):
    """Raised while a body streams in past the limit. An HTTPException, so FastAPI's body
    parsing passes it on as 413 instead of wrapping it as "error parsing the body" (400)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="request too large")


class NoNul:
    """A NUL character in the address is never a real one, and PostgreSQL would refuse it
    as a slug or a reference deep inside a query (a 500): refused at the door with 400."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"")):
            return await refusal(scope, 400, "a NUL character in the address")(scope, receive, send)
        await self.app(scope, receive, send)


CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
HEADERS = [
    (b"x-frame-options", b"DENY"),  # older browsers; frame-ancestors for the others
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """On every response: no framing (the staff board cannot be framed for clickjacking),
    no MIME sniffing, no referrer to other sites, and a content security policy (inline
    scripts are the pages' own small ones; the API docs page, which loads its viewer from
    a CDN, is left without the policy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        docs = scope.get("path", "").startswith(("/docs", "/redoc"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS if k not in present]
                if not docs and b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", CSP.encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


class LoginThrottle:
    """Wrong passwords, counted per staff name and per client address over `window`
    seconds (failures older are forgotten). From `per_name` (or `per_address`) failures
    on, the next attempt waits — refused before any password is checked — a minute after
    the last failure, doubling with each further failure, at most `window` (a lockout with
    backoff; in memory, for one process)."""

    def __init__(self, *, per_name: int = 5, per_address: int = 20, window: float = 900.0) -> None:
        self.per_name, self.per_address, self.window = per_name, per_address, window
        self.failures: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self.failures.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def wait(self, *, name: str, address: str) -> int:
        """Seconds to wait before trying again (0: go ahead)."""
        now = time.monotonic()
        with self.lock:
            waits = []
            for key, limit in ((f"name:{name.strip().lower()}", self.per_name), (f"addr:{address}", self.per_address)):
                hits = self._recent(key, now)
                if len(hits) >= limit:
                    backoff = min(60.0 * 2 ** (len(hits) - limit), self.window)
                    remaining = hits[-1] + backoff - now
                    if remaining > 0:
                        waits.append(math.ceil(remaining))
            return max(waits, default=0)

    def failed(self, *, name: str, address: str) -> None:
        now = time.monotonic()
        with self.lock:
            for key in (f"name:{name.strip().lower()}", f"addr:{address}"):
                self._recent(key, now).append(now)

    def succeeded(self, *, name: str) -> None:
        with self.lock:
            self.failures.pop(f"name:{name.strip().lower()}", None)


# argon2 takes 64 MiB and ~50 ms a check: at most two at once, whatever the number of
# clients, so password checks cannot exhaust the server's memory.
ARGON2_SLOTS = threading.BoundedSemaphore(2)


def cross_site(request: Request) -> bool:
    """A browser's request made by another site (a form or script on it): the signals
    browsers send, Sec-Fetch-Site and Origin. Non-browser API clients send neither."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") != host


class StaffSessions:
    """A staff cookie counts only while its session is held on the server (ended by logout,
    by `consult staff remove`, by a new password): otherwise the cookie's staff identity is
    dropped before the request is handled. `lookup(token)` gives the user's identity (name
    and role) or None."""

    def __init__(self, app: ASGIApp, *, lookup) -> None:
        self.app, self.lookup = app, lookup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            data = scope.get("session")
            if data and data.get("staff"):
                from starlette.concurrency import run_in_threadpool

                found = await run_in_threadpool(self.lookup, data.get("sid") or "")
                if found is None or found.name != data.get("staff"):
                    data.clear()
                else:  # read by web/access.py: the role as stored now
                    scope.setdefault("state", {})["staff_identity"] = found
        await self.app(scope, receive, send)


class CredentialCache:
    """Right Basic credentials, remembered for `ttl` seconds by an HMAC under a key of this
    process (never the password itself), bound to the stored hash: a new password misses."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl, self.key = ttl, secrets.token_bytes(32)
        self.entries: dict[str, tuple[bytes, float]] = {}
        self.lock = threading.Lock()

    def _mac(self, name: str, password: str, stored: str) -> bytes:
        return hmac.new(self.key, f"{name}\0{password}\0{stored}".encode(), "sha256").digest()

    def get(self, name: str, password: str, stored: str) -> bool:
        with self.lock:
            entry = self.entries.get(name)
        return bool(
            entry and entry[1] > time.monotonic() and hmac.compare_digest(entry[0], self._mac(name, password, stored))
        )

    def put(self, name: str, password: str, stored: str) -> None:
        with self.lock:
            self.entries[name] = (self._mac(name, password, stored), time.monotonic() + self.ttl)

"""uvicorn's worker processes, each listening on a socket of its own.

uvicorn's `--workers N` binds one listening socket and hands it to every worker; two faults
come with it, both measured by bench/http_postgres.py on this machine:

- Its socket says protocol 0, the connections accepted from it inherit that, and asyncio
  turns Nagle's algorithm off only on sockets that say IPPROTO_TCP. Each answer is written
  as head and body: the body waited for the client's delayed ACK, ~40 ms, on every
  keep-alive request after the first — 23 requests a second on one connection; two workers
  answered 360 req/s where one answered 1,100 (uvicorn issue #3149, open in 0.54).
- All workers wait on the one socket and each accepts every connection it can at once:
  the first awake took all 16 of the bench's keep-alive connections, the other none, so a
  second worker added nothing.

Here each worker binds its own socket to the address with SO_REUSEPORT (as gunicorn's
`--reuse-port` does): the kernel spreads new connections over the workers, and the sockets
are TCP's. The supervisor's socket only holds the address (bound, never listening, so the
kernel gives it no connection); it travels to each worker as the address it holds. One
worker is not affected by either fault: uvicorn hands asyncio a host and port.
"""

from __future__ import annotations

import socket
from typing import Any, cast

import uvicorn
from uvicorn.supervisors import Multiprocess


class _SharedPort(socket.socket):
    """The supervisor's socket: pickled for a worker as its address, which the worker
    binds a socket of its own to (`_listener`)."""

    def __reduce__(self) -> tuple[Any, tuple[int, tuple]]:
        return _listener, (self.family, self.getsockname())


def _listener(family: int, address: tuple, kind: type[socket.socket] = socket.socket) -> socket.socket:
    """A TCP socket bound to `address` beside the others on it (SO_REUSEPORT)."""
    sock = kind(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def shared_port(host: str, port: int) -> _SharedPort:
    """The address all workers listen on, held (bound, not listening) by the supervisor;
    port 0 picks a free one, which the workers then share.

    SO_REUSEPORT would also let a second server on the same port in, silently taking half
    the connections (an old version left running, say): a plain socket is bound first, and
    fails, as uvicorn's does, while anything listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a stopped server's TIME_WAIT is no obstacle
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"error while attempting to bind on address {(host, port)}: {exc.strerror}") from None
        port = probe.getsockname()[1]
    return cast(_SharedPort, _listener(family, (host, port), _SharedPort))


def run_workers(app: str, *, workers: int, host: str, port: int, **options: Any) -> None:
    """`uvicorn.run(app, factory=True, workers=workers, host=host, port=port, **options)`,
    each worker on its own socket. `app` is an import string ("module:factory"): each
    worker builds its own."""
    if workers == 1:  # one process, no supervisor: uvicorn binds through asyncio (unaffected)
        uvicorn.run(app, factory=True, host=host, port=port, **options)
        return
    config = uvicorn.Config(app, factory=True, workers=workers, host=host, port=port, **options)
    Multiprocess(config, sockets=[shared_port(host, port)]).run()

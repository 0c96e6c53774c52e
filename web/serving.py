"""uvicorn's worker processes, with TCP_NODELAY kept on their connections.

With `--workers N` uvicorn binds the listening socket itself (`Config.bind_socket`) and
leaves its protocol number at 0; accepted connections inherit it, and asyncio turns Nagle's
algorithm off only on sockets that say IPPROTO_TCP. Each answer is written as head and body:
the body then waited for the client's delayed ACK, ~40 ms on Linux, on every keep-alive
request after the first — 23 requests a second on one connection, and the two-worker web
intake bench fell from 1,100 to 360 req/s with the machine two-thirds idle (uvicorn issue
#3149, open in 0.54). One worker is not affected: uvicorn hands asyncio a host and port.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess


class _TcpConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return sock
        # The same descriptor, its protocol read back from the kernel (IPPROTO_TCP).
        return socket.socket(fileno=sock.detach())


def run_workers(app: str, *, workers: int, **options: Any) -> None:
    """`uvicorn.run(app, factory=True, workers=workers, **options)`, with Nagle off.
    `app` is an import string ("module:factory"): each worker builds its own."""
    if workers == 1:  # one process, no supervisor: uvicorn binds through asyncio (unaffected)
        uvicorn.run(app, factory=True, **options)
        return
    config = _TcpConfig(app, factory=True, workers=workers, **options)
    Multiprocess(config, sockets=[config.bind_socket()]).run()

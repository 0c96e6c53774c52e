"""`consult serve --workers N`'s listening socket (web/serving.py): the connections its
workers accept have Nagle's algorithm off, as one worker's do."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from web.serving import _TcpConfig


async def _accepted_nodelay(listener: socket.socket) -> int:
    """TCP_NODELAY on a connection asyncio accepted from `listener`, as a worker serves it."""
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Report(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Report, sock=listener)
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        result = await asyncio.wait_for(seen, 10)
        writer.close()
        return result
    finally:
        server.close()


def test_the_workers_socket_keeps_nagle_off_on_accepted_connections() -> None:
    ours = _TcpConfig("web.app:served_app", factory=True, workers=2, host="127.0.0.1", port=0).bind_socket()
    assert ours.proto == socket.IPPROTO_TCP and ours.get_inheritable()
    assert asyncio.run(_accepted_nodelay(ours)) == 1


def test_uvicorn_s_own_socket_still_loses_it() -> None:
    """The fault web/serving.py works around (uvicorn #3149): when uvicorn binds the socket
    itself, accepted connections keep Nagle on. When this fails, uvicorn has fixed it and
    `_TcpConfig` can go."""
    theirs = uvicorn.Config("web.app:served_app", factory=True, workers=2, host="127.0.0.1", port=0).bind_socket()
    assert asyncio.run(_accepted_nodelay(theirs)) == 0

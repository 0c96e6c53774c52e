"""`consult serve --workers N`'s sockets (web/serving.py): each worker listens on its own,
the kernel spreads connections over them, and accepted connections have Nagle's algorithm
off, as one worker's do."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import uvicorn

from notifications.catcher import free_port
from web.serving import shared_port

ROOT = Path(__file__).resolve().parents[1]


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


def test_a_worker_s_socket_is_its_own_on_the_shared_address_with_nagle_off() -> None:
    held = shared_port("127.0.0.1", 0)
    mine = pickle.loads(ForkingPickler.dumps(held))  # as the supervisor hands it to a worker
    assert mine.fileno() != held.fileno() and mine.getsockname() == held.getsockname()
    assert mine.proto == socket.IPPROTO_TCP
    assert asyncio.run(_accepted_nodelay(mine)) == 1


def test_uvicorn_s_own_socket_still_loses_nagle() -> None:
    """The fault web/serving.py works around (uvicorn #3149): when uvicorn binds the socket
    itself, accepted connections keep Nagle on. When this fails, uvicorn has fixed it."""
    theirs = uvicorn.Config("web.app:served_app", factory=True, workers=2, host="127.0.0.1", port=0).bind_socket()
    assert asyncio.run(_accepted_nodelay(theirs)) == 0


def pid_app():  # noqa: ANN201  (a uvicorn factory for the test below)
    async def app(scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            return
        body = str(os.getpid()).encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def test_two_workers_both_take_connections_and_stop_together() -> None:
    """Sixteen keep-alive connections opened at once: with uvicorn's one socket the first
    worker awake accepted all of them; here the kernel spreads them (all on one worker
    has odds of 1 in 30,000 a round). A second server on that port is refused, as uvicorn's
    would be. SIGTERM to the supervisor stops both."""
    port = free_port()
    launch = (f"from web.serving import run_workers; run_workers('tests.test_serving:pid_app', workers=2, "
              f"host='127.0.0.1', port={port}, log_level='error')")  # fmt: skip
    server = subprocess.Popen([sys.executable, "-c", launch], cwd=ROOT, stdin=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)  # fmt: skip

    async def pids() -> list[int]:
        async def one() -> int:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
            writer.close()
            return int(body)

        return list(await asyncio.gather(*(one() for _ in range(16))))

    try:
        deadline = time.monotonic() + 60
        while True:  # the first answer: a worker is up; the other starts alongside
            try:
                asyncio.run(pids())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        time.sleep(3)
        rounds = [asyncio.run(pids()) for _ in range(3)]
        assert all(len(set(seen)) == 2 for seen in rounds), rounds
        seen = rounds[0]
        second = subprocess.Popen([sys.executable, "-c", launch], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                  stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)  # fmt: skip
        try:
            _, said = second.communicate(timeout=60)
        finally:
            if second.poll() is None:
                os.killpg(second.pid, signal.SIGKILL)
        assert second.returncode == 1 and "address already in use" in said.lower(), said
        os.kill(server.pid, signal.SIGTERM)
        assert server.wait(30) == 0
        for pid in set(seen):
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)

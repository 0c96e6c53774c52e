"""Real SMTP servers on 127.0.0.1 (aiosmtpd) that accept, refuse or drop, for the tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from notifications.catcher import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    connection: int = 0  # which SMTP session it came on

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Behaviour:
    """Replies by recipient; `on_data` may return a reply (None = accept) or drop the line."""

    rcpt: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    drop_data_for: set[str] = field(default_factory=set)
    on_accept: Callable[[Received], None] | None = None


class _Handler:
    def __init__(self, server: SmtpTestServer) -> None:
        self.owner = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        reply = self.owner.behaviour.rcpt.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        rcpt = envelope.rcpt_tos[0]
        if rcpt in self.owner.behaviour.drop_data_for:
            self.owner.behaviour.drop_data_for.discard(rcpt)  # drop once, then behave
            server.transport.close()
            return "421 dropped"
        reply = self.owner.behaviour.data.get(rcpt)
        if reply:
            return reply
        data = envelope.original_content or envelope.content
        item = Received(envelope.mail_from, list(envelope.rcpt_tos), data, connection=id(session))
        with self.owner.lock:
            self.owner.received.append(item)
        if self.owner.behaviour.on_accept:
            self.owner.behaviour.on_accept(item)
        return "250 OK queued"


class SmtpTestServer:
    def __init__(self, *, smtputf8: bool = False) -> None:
        self.port = free_port()
        self.behaviour = Behaviour()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=smtputf8)

    def __enter__(self) -> SmtpTestServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def by_recipient(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        for r in self.received:
            out.setdefault(r.recipients[0], []).append(r)
        return out

"""A local mail catcher for development: an SMTP server on 127.0.0.1 that keeps every
message in a Maildir and prints a line for each, so nothing reaches real people."""

from __future__ import annotations

import mailbox
import socket
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller


def free_port() -> int:
    """aiosmtpd's Controller(port=0) does not work (DESIGN §12): pick a port ourselves."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Keep:
    def __init__(self, box: mailbox.Maildir, announce: Callable[[str], None]) -> None:
        self.box, self.announce = box, announce

    async def handle_DATA(self, server, session, envelope) -> str:
        data = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        self.box.add(data)
        parsed = message_from_bytes(data, policy=policy.default)
        self.announce(f"caught: {envelope.mail_from} → {', '.join(envelope.rcpt_tos)}: {parsed['subject']}")
        return "250 OK caught"


class MailCatcher:
    def __init__(self, folder: Path, *, port: int | None = None, announce: Callable[[str], None] = print) -> None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.box = mailbox.Maildir(folder, create=True)
        self.port = port or free_port()
        self.controller = Controller(_Keep(self.box, announce), hostname="127.0.0.1", port=self.port)

    def start(self) -> MailCatcher:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def caught(self) -> list:
        return [message_from_bytes(self.box.get_bytes(key), policy=policy.default) for key in sorted(self.box.keys())]

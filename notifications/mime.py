"""Outbox row → MIME bytes. Header values are collapsed to one line first, and the SMTP
policy refuses any CR/LF that might remain, so user text can never add a header."""

from __future__ import annotations

import email.policy
import hashlib
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from store.tables import OutboxMessage


def one_line(text: str) -> str:
    """Collapse every kind of line break and run of whitespace into single spaces."""
    return " ".join(text.split())


def _address(name: str | None, addr: str) -> Address:
    return Address(display_name=one_line(name or ""), addr_spec=one_line(addr))


def build(message: OutboxMessage, *, sender: str) -> EmailMessage:
    sender_name, sender_addr = parseaddr(sender)
    mime = EmailMessage(policy=email.policy.SMTP)
    mime["From"] = _address(sender_name, sender_addr)
    mime["To"] = _address(message.recipient_name, message.recipient_email)
    mime["Subject"] = one_line(message.subject)
    mime["Date"] = format_datetime(message.created_at)
    mime["Message-ID"] = message.message_id
    if message.unsubscribe_url:
        mime["List-Unsubscribe"] = f"<{one_line(message.unsubscribe_url)}>"
        mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if message.purpose.startswith(("reminder", "alert")):
        mime["Auto-Submitted"] = "auto-generated"
    mime.set_content(message.body_text, charset="utf-8")
    mime.add_alternative(message.body_html, subtype="html", charset="utf-8")
    mime["Content-Language"] = message.language  # after set_content, which clears Content-* headers
    # A boundary derived from the Message-ID makes a resend byte-for-byte the same message.
    mime.set_boundary("=_" + hashlib.sha256(message.message_id.encode()).hexdigest()[:32])
    return mime


def envelope_sender(sender: str) -> str:
    return parseaddr(sender)[1]

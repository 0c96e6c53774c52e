"""Rendered mail → MIME bytes (multipart/alternative, text + HTML, UTF-8, base64).

Written out directly rather than through `email.message.EmailMessage`, which costs about
1.6 ms a message here, four times what SMTP delivery itself takes (bench/). The bytes
are built once, when the message is queued, and stored in the outbox. The stdlib
still does the encoding that matters (`formataddr`, `base64`), and the tests
parse every message back with the stdlib parser. Every header value is collapsed to one
line first, so user text can never add a header.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from functools import cache, lru_cache

import idna


def one_line(text: str) -> str:
    """Collapse every kind of line break and run of whitespace into single spaces."""
    return " ".join(text.split())


@cache
def _idna(domain: str) -> str:
    """An internationalised domain as DNS and SMTP know it (UTS #46, then punycode)."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"the domain {domain!r} cannot be written in ASCII (IDNA: {exc})") from None


def smtp_address(addr: str) -> tuple[str, bool]:
    """(the address as sent, whether it needs SMTPUTF8): an internationalised domain goes
    as punycode, which every server takes; a non-ASCII local part needs a server that
    offers SMTPUTF8 (RFC 6531), and the message's headers in UTF-8 (RFC 6532)."""
    local, _, domain = one_line(addr).rpartition("@")
    address = f"{local}@{_idna(domain)}"
    return address, not local.isascii()


def _address(name: str | None, addr: str) -> str:
    address, utf8 = smtp_address(addr)
    if not utf8:
        return formataddr((one_line(name or ""), address), charset="utf-8")
    display = _encoded(name or "")
    return f"{display} <{address}>" if display else f"<{address}>"  # UTF-8 as it is: RFC 6532


@lru_cache(maxsize=256)  # a fan-out's subject is one per language
def _encoded(text: str) -> str:
    """RFC 2047 base64 encoded-words, folded; cut on character boundaries (`Header`
    does the same but weighs quoted-printable first, ten times slower)."""
    text = one_line(text)
    if text.isascii():
        return text
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        if size + n > 45:  # 45 bytes → 60 base64 characters: the word fits a 76-column line
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += n
    words.append("".join(chunk))
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode()).decode()}?=" for w in words)


_LINE = re.compile(rb".{1,76}")  # RFC 2045: base64 in lines of at most 76 characters


def _base64(text: str) -> bytes:
    """What `base64.encodebytes` gives, with CRLF, its lines cut in C (a fan-out encodes
    two parts of every message: `encodebytes` cuts them in a Python loop)."""
    encoded = base64.b64encode(text.encode("utf-8"))
    return b"\r\n".join(_LINE.findall(encoded)) + b"\r\n" if encoded else b""


_date = lru_cache(maxsize=16)(format_datetime)  # one `now` for a whole fan-out


@cache
def _from_header(sender: str) -> str:
    return _address(*parseaddr(sender))


def build_bytes(
    *, message_id: str, sender: str, recipient_name: str | None, recipient_email: str, subject: str, text: str,
    html: str, language: str, purpose: str, unsubscribe_url: str | None, date: datetime, reply_to: str | None = None,
) -> bytes:  # fmt: skip
    # A boundary derived from the Message-ID makes a resend byte-for-byte the same message.
    boundary = "=_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
    headers = [
        f"From: {_from_header(sender)}",
        f"To: {_address(recipient_name, recipient_email)}",
        f"Subject: {_encoded(subject)}",
        f"Date: {_date(date)}",
        f"Message-ID: {one_line(message_id)}",
    ]
    if reply_to:
        headers.append(f"Reply-To: {_address(None, reply_to)}")
    if unsubscribe_url:
        headers.append(f"List-Unsubscribe: <{one_line(unsubscribe_url)}>")
        headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    if purpose.startswith(("reminder", "alert")):
        headers.append("Auto-Submitted: auto-generated")
    headers += [
        f"Content-Language: {one_line(language)}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    part = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    # ASCII headers, except an internationalised mailbox's own (sent with SMTPUTF8).
    return b"".join(
        [
            "\r\n".join(headers).encode("utf-8"),
            b"\r\n\r\n",
            f"--{boundary}\r\n{part.format('plain')}".encode(),
            _base64(text),
            f"--{boundary}\r\n{part.format('html')}".encode(),
            _base64(html),
            f"--{boundary}--\r\n".encode(),
        ]
    )


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)  # the default policy builds EmailMessage
    return message


def text_of(raw: bytes) -> str:
    """The plain-text part, for people reading the outbox."""
    return parse(raw).get_body(("plain",)).get_content()  # type: ignore[union-attr]


def envelope_sender(sender: str) -> str:
    return parseaddr(sender)[1]

"""The transactional outbox: messages written in the transaction of their cause.

The idempotency key (consultation, recipient, purpose) is unique, and inserts skip a key
already present, so the same intent is queued once however often it is recorded. The
Message-ID derives from the key, so a resend after a crash carries the same Message-ID.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import insert as sa_insert
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from notifications.mime import build_bytes
from notifications.render import Rendered
from store.installation import installation_key
from store.statements import bound_value, first_row, insert_new, insert_new_rows, insert_new_with, insert_rows
from store.tables import Consultation, OutboxBody, OutboxMessage


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a deliverer, under a lease
    SENT = "sent"
    FAILED = "failed"  # permanent (5xx) or gave up after the retries
    BOUNCED = "bounced"  # the server refused the address itself (5.1.x): no more mail goes to it
    SKIPPED = "skipped"  # the address bounced or opted out before delivery
    SUPERSEDED = "superseded"  # no longer true when due: never sent (see delivery.py)


def idempotency_key(*, consultation_id: int | None, recipient: str, purpose: str) -> str:
    return f"{consultation_id or '-'}|{recipient.lower()}|{purpose}"


def message_id(key: str, domain: str, installation: str) -> str:
    """From the message's key and this installation's random id: the same on a resend (a
    crash, a retry), never the same as another installation's message to the same address."""
    return f"<{hashlib.sha256(f'{installation}|{key}'.encode()).hexdigest()[:40]}@{domain}>"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to queue: who, why, and what it says."""

    consultation_id: int | None
    stakeholder_id: int | None
    purpose: str
    language: str
    recipient_email: str
    recipient_name: str | None
    rendered: Rendered
    unsubscribe_url: str | None = None
    reply_to: str | None = None  # the consultation's contact: replies reach the secretariat
    deadline_at: datetime | None = None  # the deadline it counts on (superseded if it moves)


def mime(m: Outgoing, *, now: datetime, sender: str, installation: str) -> tuple[str, str, bytes]:
    """(idempotency key, Message-ID, MIME bytes) of a message: what is queued, and what a
    preview shows — the very same bytes."""
    domain = sender.rsplit("@", 1)[-1].strip(" >") or "localhost"
    key = idempotency_key(consultation_id=m.consultation_id, recipient=m.recipient_email, purpose=m.purpose)
    mid = message_id(key, domain, installation)
    raw = build_bytes(
        message_id=mid, sender=sender, recipient_name=m.recipient_name, recipient_email=m.recipient_email,
        subject=m.rendered.subject, text=m.rendered.text, html=m.rendered.html, language=m.language,
        purpose=m.purpose, unsubscribe_url=m.unsubscribe_url, date=now, reply_to=m.reply_to,
    )  # fmt: skip
    return key, mid, raw


def enqueue(*, session: Session, messages: Sequence[Outgoing], now: datetime, sender: str) -> int:
    """Queue messages whose key is new; returns how many were queued (others already were).

    The MIME bytes are built here, once: delivery only reads and sends them.
    """
    if not messages:
        return 0
    installation = installation_key(session)
    connection = session.connection()
    if len(messages) == 1:  # a receipt, an alert: the statement compiled once per process
        (m,) = messages
        key, mid, raw = mime(m, now=now, sender=sender, installation=installation)
        row = dict(zip(_COLUMNS, _row(m, key, mid, now, now, m.deadline_at), strict=True))
        if connection.dialect.name == "postgresql":
            body = OutboxBody.__table__  # type: ignore[attr-defined]
            both = insert_new_with(OutboxMessage.__table__, columns=_COLUMNS, conflict=("idempotency_key",),  # type: ignore[attr-defined]
                                   child=body, child_key="outbox_id", child_columns=("outbox_id", "raw"))  # fmt: skip
            return int(first_row(connection=connection, statement=both, values={**row, "raw": raw}) is not None)
        added = first_row(connection=connection, statement=_add_one(), values=row)
        if added is not None:
            connection.execute(_add_body(), {"outbox_id": added[0], "raw": raw})
        return int(added is not None)
    # A fan-out: rows and bodies in the driver's own terms, 1,000 to a statement.
    table, dialect = OutboxMessage.__table__, connection.dialect  # type: ignore[attr-defined]
    at = bound_value(table.c.created_at, now, dialect)
    deadlines: dict[datetime | None, Any] = {}
    queued = 0
    for start in range(0, len(messages), 1000):
        rows: list[tuple] = []
        bodies: dict[str, bytes] = {}
        for m in messages[start : start + 1000]:
            key, mid, raw = mime(m, now=now, sender=sender, installation=installation)
            if m.deadline_at not in deadlines:
                deadlines[m.deadline_at] = bound_value(table.c.deadline_at, m.deadline_at, dialect)
            rows.append(_row(m, key, mid, at, at, deadlines[m.deadline_at]))
            bodies[key] = raw
        new = insert_new_rows(connection=connection, table=table, columns=_COLUMNS, conflict=("idempotency_key",),
                              returning="id, idempotency_key", rows=rows)  # fmt: skip
        body = OutboxBody.__table__  # type: ignore[attr-defined]
        raws = [(outbox_id, bodies[k]) for outbox_id, k in new]
        insert_rows(connection=connection, table=body, columns=("outbox_id", "raw"), rows=raws)
        queued += len(new)
    return queued


_COLUMNS = ("idempotency_key", "message_id", "consultation_id", "stakeholder_id", "purpose", "language",
            "recipient_email", "recipient_name", "subject", "unsubscribe_url", "status", "attempts",
            "next_attempt_at", "created_at", "deadline_at")  # fmt: skip


def _row(m: Outgoing, key: str, mid: str, next_attempt_at: Any, created_at: Any, deadline_at: Any) -> tuple:
    return (key, mid, m.consultation_id, m.stakeholder_id, m.purpose, m.language, m.recipient_email,
            m.recipient_name, m.rendered.subject, m.unsubscribe_url, Status.PENDING.value, 0, next_attempt_at,
            created_at, deadline_at)  # fmt: skip


def _add_one():
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    return insert_new(table, columns=_COLUMNS, conflict=("idempotency_key",), returning="id")


@cache
def _add_body():
    return sa_insert(OutboxBody.__table__)  # type: ignore[attr-defined]


def messages(
    *, session: Session, status: str | None = None, limit: int = 200, consultation_id: int | None = None
) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    if consultation_id is not None:
        query = query.where(OutboxMessage.consultation_id == consultation_id)
    return list(session.exec(query))


def counts(*, session: Session, consultation_id: int | None = None) -> dict[str, int]:
    query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if consultation_id is not None:
        query = query.where(OutboxMessage.consultation_id == consultation_id)
    return {status: n for status, n in session.exec(query)}


def by_notice(*, session: Session, consultation_id: int) -> dict[str, dict[str, int]]:
    """A consultation's mail per notice (reminders per offset, receipts together) and status."""
    query = (
        select(OutboxMessage.purpose, OutboxMessage.status, func.count())
        .where(OutboxMessage.consultation_id == consultation_id)
        .group_by(OutboxMessage.purpose, OutboxMessage.status)
    )
    table: dict[str, dict[str, int]] = {}
    for purpose, status, n in session.exec(query):
        notice = "receipt" if purpose.startswith("receipt:") else purpose
        row = table.setdefault(notice, {})
        row[status] = row.get(status, 0) + n
    return table


def _move(*, session: Session, consultation_id: int, source: Status, target: Status, now: datetime) -> int:
    query = (
        update(OutboxMessage)
        .where(col(OutboxMessage.consultation_id) == consultation_id, col(OutboxMessage.status) == source.value)
        .values(status=target.value, next_attempt_at=now, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(query).rowcount)  # type: ignore[attr-defined]


def retry_failed(*, session: Session, consultation_id: int, now: datetime) -> int:
    """Failed messages go again at the next delivery (their last error is kept until then)."""
    return _move(session=session, consultation_id=consultation_id, source=Status.FAILED, target=Status.PENDING, now=now)


def hold(*, session: Session, consultation: Consultation, now: datetime) -> None:
    """Stop a consultation's mail from going out — what is queued and what is queued later —
    until it is resumed (a wrong text, a question to settle). Delivery leaves it pending."""
    consultation.mail_held_at = consultation.mail_held_at or now


def resume(*, session: Session, consultation: Consultation, now: datetime) -> int:
    """Held mail goes out at the next delivery (checked for staleness as always); returns
    how many messages are waiting."""
    consultation.mail_held_at = None
    return counts(session=session, consultation_id=consultation.id).get(Status.PENDING.value, 0)


def raw_of(*, session: Session, message: OutboxMessage) -> bytes:
    return session.get_one(OutboxBody, message.id).raw

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
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, func, select

from notifications.mime import build_bytes
from notifications.render import Rendered
from store.statements import insert_new
from store.tables import OutboxBody, OutboxMessage


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a deliverer, under a lease
    SENT = "sent"
    FAILED = "failed"  # permanent (5xx) or gave up after the retries
    SKIPPED = "skipped"  # the address bounced or opted out before delivery


def idempotency_key(*, consultation_id: int | None, recipient: str, purpose: str) -> str:
    return f"{consultation_id or '-'}|{recipient.lower()}|{purpose}"


def message_id(key: str, domain: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


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


def enqueue(*, session: Session, messages: Sequence[Outgoing], now: datetime, sender: str) -> int:
    """Queue messages whose key is new; returns how many were queued (others already were).

    The MIME bytes are built here, once: delivery only reads and sends them.
    """
    domain = sender.rsplit("@", 1)[-1].strip(" >") or "localhost"
    if not messages:
        return 0
    rows: list[dict[str, Any]] = []
    bodies: dict[str, bytes] = {}
    for m in messages:
        key = idempotency_key(consultation_id=m.consultation_id, recipient=m.recipient_email, purpose=m.purpose)
        mid = message_id(key, domain)
        raw = build_bytes(
            message_id=mid, sender=sender, recipient_name=m.recipient_name, recipient_email=m.recipient_email,
            subject=m.rendered.subject, text=m.rendered.text, html=m.rendered.html, language=m.language,
            purpose=m.purpose, unsubscribe_url=m.unsubscribe_url, date=now,
        )  # fmt: skip
        bodies[key] = raw
        rows.append(
            {
                "idempotency_key": key, "message_id": mid,
                "consultation_id": m.consultation_id, "stakeholder_id": m.stakeholder_id, "purpose": m.purpose,
                "language": m.language, "recipient_email": m.recipient_email, "recipient_name": m.recipient_name,
                "subject": m.rendered.subject,
                "unsubscribe_url": m.unsubscribe_url, "status": Status.PENDING.value, "attempts": 0,
                "next_attempt_at": now, "created_at": now,
            }
        )  # fmt: skip
    connection = session.connection()
    if len(rows) == 1:  # a receipt, an alert: the statement compiled once per process
        new_id = connection.execute(_add_one(tuple(rows[0])), rows[0]).scalar()
        if new_id is not None:
            connection.execute(_add_body(), {"outbox_id": new_id, "raw": raw})
        return int(new_id is not None)
    add_many = _add_many(session.get_bind().dialect.name)
    queued = 0
    for start in range(0, len(rows), 1000):
        # A fan-out: compiled once per chunk of 1,000, negligible per message.
        new = connection.execute(add_many, rows[start : start + 1000]).all()
        if new:
            connection.execute(_add_body(), [{"outbox_id": i, "raw": bodies[k]} for i, k in new])
        queued += len(new)
    return queued


@cache
def _add_many(dialect: str):
    """Insert-or-skip for many rows (executemany with RETURNING needs the Core construct)."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.id, table.c.idempotency_key)
    )


def _add_one(columns: tuple[str, ...]):
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    return insert_new(table, columns=columns, conflict=("idempotency_key",), returning="id")


@cache
def _add_body():
    return sa_insert(OutboxBody.__table__)  # type: ignore[attr-defined]


def messages(*, session: Session, status: str | None = None, limit: int = 200) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    return list(session.exec(query))


def counts(*, session: Session) -> dict[str, int]:
    query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    return {status: n for status, n in session.exec(query)}


def raw_of(*, session: Session, message: OutboxMessage) -> bytes:
    return session.get_one(OutboxBody, message.id).raw

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
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, func, select

from notifications.render import Rendered
from store.tables import OutboxMessage


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


def enqueue(*, session: Session, messages: Sequence[Outgoing], now: datetime, domain: str) -> int:
    """Queue messages whose key is new; returns how many were queued (others already were)."""
    if not messages:
        return 0
    rows: list[dict[str, Any]] = []
    for m in messages:
        key = idempotency_key(consultation_id=m.consultation_id, recipient=m.recipient_email, purpose=m.purpose)
        rows.append(
            {
                "idempotency_key": key, "message_id": message_id(key, domain),
                "consultation_id": m.consultation_id, "stakeholder_id": m.stakeholder_id, "purpose": m.purpose,
                "language": m.language, "recipient_email": m.recipient_email, "recipient_name": m.recipient_name,
                "subject": m.rendered.subject, "body_text": m.rendered.text, "body_html": m.rendered.html,
                "unsubscribe_url": m.unsubscribe_url, "status": Status.PENDING.value, "attempts": 0,
                "next_attempt_at": now, "created_at": now,
            }
        )  # fmt: skip
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    queued = 0
    for start in range(0, len(rows), 1000):
        statement = insert(OutboxMessage).on_conflict_do_nothing(index_elements=["idempotency_key"])
        queued += len(session.execute(statement.returning(OutboxMessage.id), rows[start : start + 1000]).all())
    return queued


def messages(*, session: Session, status: str | None = None, limit: int = 200) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    return list(session.exec(query))


def counts(*, session: Session) -> dict[str, int]:
    query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    return {status: n for status, n in session.exec(query)}

"""A response and its receipt, in one transaction (the receipt is one message, so it is
queued with the response itself; a transition's notices are fanned out after the commit
instead, notifications/fanout.py)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from config import Settings
from notifications.notices import queue_receipt
from store import submissions
from store.models import SubmissionCreate
from store.submissions import Received
from store.tables import Consultation


def receive(
    *, session: Session, consultation: Consultation, data: SubmissionCreate, now: datetime, settings: Settings,
    channel: str, attachment_name: str | None = None, attachment_path: str | None = None,
) -> Received:  # fmt: skip
    """Store a response and queue its receipt, in one transaction (the caller commits)."""
    received = submissions.submit(
        session=session, consultation=consultation, data=data, now=now, channel=channel,
        attachment_name=attachment_name, attachment_path=attachment_path,
    )  # fmt: skip
    if received.created and received.link:
        queue_receipt(session=session, consultation=consultation, submission=received.submission,
                      link=received.link, now=now, mail=settings.mail,
                      expire_days=settings.policy.unconfirmed_expire_days)  # fmt: skip
    return received

"""The stakeholder registry: CSV import (idempotent on e-mail, all or nothing) and listing."""

from __future__ import annotations

import csv
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import insert
from sqlmodel import Session, col, select

from states.errors import ConsultError, NotFound
from store.models import Audience, StakeholderCreate, first_error
from store.tables import Consultation, Stakeholder

REQUIRED = ("name", "email", "category")
OPTIONAL = ("organisation", "country", "language", "lists")
UPDATABLE = ("name", "organisation", "category", "country", "language", "lists")


@dataclass(frozen=True, slots=True)
class ImportReport:
    created: int
    updated: int
    unchanged: int


def read_csv(path: Path) -> list[StakeholderCreate]:
    """Validate the whole file first: a bad row names its line, and nothing is imported."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise ConsultError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConsultError(f"{path}: cannot read: {exc.strerror}") from None
    rows: list[StakeholderCreate] = []
    seen: dict[str, int] = {}
    errors: list[str] = []
    with handle:
        reader = csv.DictReader(handle)
        headers = [h.strip().lower() for h in reader.fieldnames or []]
        missing = [h for h in REQUIRED if h not in headers]
        unknown = [h for h in headers if h not in REQUIRED + OPTIONAL]
        if missing or unknown:
            problem = f"missing column(s) {', '.join(missing)}" if missing else ""
            problem = problem or f"unknown column(s) {', '.join(unknown)}"
            raise ConsultError(f"{path}:1: {problem}; columns are {', '.join(REQUIRED + OPTIONAL)}")
        reader.fieldnames = headers
        try:
            for record in reader:
                line = reader.line_num
                if None in record:
                    errors.append(f"{path}:{line}: more fields than columns")
                    continue
                values = {k: v for k, v in record.items() if v not in (None, "")}
                try:
                    row = StakeholderCreate.model_validate(values)
                except ValidationError as exc:
                    errors.append(f"{path}:{line}: {first_error(exc)}")
                    continue
                if row.email in seen:
                    errors.append(f"{path}:{line}: e-mail {row.email} already on line {seen[row.email]}")
                    continue
                seen[row.email] = line
                rows.append(row)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ConsultError(f"{path}:{reader.line_num}: not readable as UTF-8 CSV: {exc}") from None
    if errors:
        more = f" (and {len(errors) - 1} more bad row(s); nothing was imported)" if len(errors) > 1 else ""
        raise ConsultError(errors[0] + (more or " (nothing was imported)"))
    return rows


def import_stakeholders(*, session: Session, rows: list[StakeholderCreate], now: datetime) -> ImportReport:
    """Insert new e-mails, update the details of known ones; opt-out and bounce flags stay."""
    existing: dict[str, Stakeholder] = {}
    emails = [r.email for r in rows]
    for start in range(0, len(emails), 500):
        chunk = emails[start : start + 500]
        for s in session.exec(select(Stakeholder).where(col(Stakeholder.email).in_(chunk))):
            existing[s.email] = s
    new, updated, unchanged = [], 0, 0
    for row in rows:
        known = existing.get(row.email)
        if known is None:
            new.append(
                {**row.model_dump(), "lists": list(row.lists), "opted_out": False, "bounced": False,
                 "created_at": now, "updated_at": now, "unsubscribe_token": secrets.token_urlsafe(24)}
            )  # fmt: skip
            continue
        wanted = {k: list(row.lists) if k == "lists" else getattr(row, k) for k in UPDATABLE}
        changes = {k: v for k, v in wanted.items() if getattr(known, k) != v}
        if changes:
            for key, value in changes.items():
                setattr(known, key, value)
            known.updated_at = now
            updated += 1
        else:
            unchanged += 1
    if new:
        session.execute(insert(Stakeholder), new)
    session.flush()
    return ImportReport(created=len(new), updated=updated, unchanged=unchanged)


def list_stakeholders(*, session: Session) -> list[Stakeholder]:
    return list(session.exec(select(Stakeholder).order_by(col(Stakeholder.id))))


def reachable(*, session: Session, audience: Audience | None = None) -> list[Stakeholder]:
    """Those mail may go to: not opted out, not bounced, and in the audience if one is given."""
    query = select(Stakeholder).where(col(Stakeholder.opted_out).is_(False), col(Stakeholder.bounced).is_(False))
    if audience is not None and audience.categories:
        query = query.where(col(Stakeholder.category).in_(audience.categories))
    if audience is not None and audience.countries:
        query = query.where(col(Stakeholder.country).in_(audience.countries))
    found = list(session.exec(query.order_by(col(Stakeholder.id))))
    if audience is not None and audience.lists:
        found = [s for s in found if set(audience.lists) & set(s.lists or ())]
    return found


def audience_of(c: Consultation) -> Audience | None:
    return Audience.model_validate(c.audience) if c.audience else None


def opt_out(*, session: Session, token: str, now: datetime) -> Stakeholder:
    stakeholder = session.exec(select(Stakeholder).where(Stakeholder.unsubscribe_token == token)).first()
    if stakeholder is None:
        raise NotFound("unknown or expired unsubscribe link")
    stakeholder.opted_out, stakeholder.updated_at = True, now
    return stakeholder

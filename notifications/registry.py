"""The stakeholder registry: CSV import (idempotent on e-mail, all or nothing, previewed on
the web), search, re-subscription for a reason, and the registry's own log."""

from __future__ import annotations

import csv
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import Text, cast, func, null, or_
from sqlmodel import Session, col, select

from notifications import registry_csv
from states.errors import ConsultError, NotFound
from states.stages import SYSTEM_ACTOR
from store.models import Audience, StakeholderCreate, first_error
from store.statements import bound_value, contains, insert_rows, to_driver
from store.tables import Consultation, RegistryEntry, Stakeholder

UPDATABLE = ("name", "organisation", "category", "country", "language", "lists")


@dataclass(frozen=True, slots=True)
class ImportReport:
    created: int
    updated: int
    unchanged: int


def read_csv(path: Path) -> list[StakeholderCreate]:
    """Validate the whole file first: a bad row names its line, and nothing is imported."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConsultError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConsultError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_rows(data, str(path))


def _validated(record: dict[str, Any], line: int, source: str) -> StakeholderCreate | str | None:
    """One record: the stakeholder, or what is wrong with it, or None for a blank line."""
    if None in record:
        return f"{source}:{line}: more fields than columns"
    values = {k: v.strip() for k, v in record.items() if v and v.strip() and not k.startswith("_ignored_")}
    if not values:
        return None  # a blank line (Excel writes `;;;` for one)
    try:
        return StakeholderCreate.model_validate(values)
    except ValidationError as exc:
        return f"{source}:{line}: {first_error(exc)}"


def parse_rows(data: bytes, source: str) -> list[StakeholderCreate]:
    """A stakeholder file's rows, validated (registry_csv.py reads what Excel writes)."""
    reader, _ = registry_csv.rows(data, source)
    rows: list[StakeholderCreate] = []
    seen: dict[str, int] = {}
    errors: list[str] = []
    try:
        for record in reader:
            line = reader.line_num
            row = _validated(record, line, source)
            if row is None:
                continue
            if isinstance(row, str):
                errors.append(row)
                continue
            if row.email in seen:
                errors.append(f"{source}:{line}: e-mail {row.email} already on line {seen[row.email]}")
                continue
            seen[row.email] = line
            rows.append(row)
    except csv.Error as exc:
        raise ConsultError(f"{source}:{reader.line_num}: not readable as CSV: {exc}") from None
    if errors:
        more = f" (and {len(errors) - 1} more bad row(s); nothing was imported)" if len(errors) > 1 else ""
        raise ConsultError(errors[0] + (more or " (nothing was imported)"))
    if not rows:
        raise ConsultError(f"{source}: no stakeholders in the file (only its header line)")
    return rows


@dataclass(frozen=True, slots=True)
class Planned:
    """What an import would do, before it does: shown for confirmation on the web."""

    new: list[StakeholderCreate]
    updated: list[tuple[StakeholderCreate, dict[str, tuple[Any, Any]]]]  # row, {field: (old, new)}
    unchanged: int


def plan_import(*, session: Session, rows: list[StakeholderCreate]) -> Planned:
    existing = _existing(session=session, emails=[r.email for r in rows])
    new, updated, unchanged = [], [], 0
    for row in rows:
        known = existing.get(row.email)
        if known is None:
            new.append(row)
            continue
        wanted = {k: list(row.lists) if k == "lists" else getattr(row, k) for k in UPDATABLE}
        changes = {k: (getattr(known, k), v) for k, v in wanted.items() if getattr(known, k) != v}
        if changes:
            updated.append((row, changes))
        else:
            unchanged += 1
    return Planned(new, updated, unchanged)


def _existing(*, session: Session, emails: list[str]) -> dict[str, Stakeholder]:
    found: dict[str, Stakeholder] = {}
    for start in range(0, len(emails), 500):
        chunk = emails[start : start + 500]
        for s in session.exec(select(Stakeholder).where(col(Stakeholder.email).in_(chunk))):
            found[s.email] = s
    return found


def import_stakeholders(
    *, session: Session, rows: list[StakeholderCreate], now: datetime, actor: str = SYSTEM_ACTOR, source: str = ""
) -> ImportReport:
    """Insert new e-mails, update the details of known ones; opt-out and bounce flags stay
    (a stakeholder's own opt-out is theirs: `resubscribe` only when they ask)."""
    report = _apply(session=session, rows=rows, now=now)
    return _logged(session=session, report=report, now=now, actor=actor, source=source)


CHUNK = 5000  # rows of a streamed file checked and written at a time


def import_file(
    *,
    session: Session,
    path: Path,
    now: datetime,
    actor: str = SYSTEM_ACTOR,
    progress=None,
    preview: Callable[[Planned], None] | None = None,
) -> ImportReport:
    """A stakeholder file streamed into the registry a chunk at a time, in the session's one
    transaction: memory stays flat for a registry of a million addresses. Every record is
    still checked (the first bad one is named, with how many more there are) before the
    caller can commit; on any error the transaction is rolled back. An address twice in
    the file is found in the database (one this import added), not in a set of every one.
    `preview`: told each chunk's plan before it is written (a dry run: the caller then rolls
    back, and has said every change without holding the file)."""
    source = str(path)
    reader, text = registry_csv.stream(path, source)
    before = session.exec(select(func.max(Stakeholder.id))).one() or 0
    total = ImportReport(created=0, updated=0, unchanged=0)
    first_error_, more, records = "", 0, 0
    try:
        chunk: list[tuple[int, StakeholderCreate]] = []
        try:
            for record in reader:
                row = _validated(record, reader.line_num, source)
                if isinstance(row, str):
                    first_error_, more = first_error_ or row, more + (1 if first_error_ else 0)
                elif row is not None:
                    chunk.append((reader.line_num, row))
                    records += 1
                if len(chunk) >= CHUNK:
                    total = _streamed_chunk(session, chunk, now, before, source, total, writing=not first_error_,
                                            preview=preview)  # fmt: skip
                    chunk = []
                    if progress is not None:
                        progress(records, text.buffer.tell())
        except csv.Error as exc:
            raise ConsultError(f"{source}:{reader.line_num}: not readable as CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConsultError(f"{source}:{reader.line_num + 1}: not readable as {text.encoding} text "
                               f"({exc.reason}); save it as “CSV UTF-8”") from None  # fmt: skip
        if first_error_:
            suffix = f" (and {more} more bad row(s); nothing was imported)" if more else " (nothing was imported)"
            raise ConsultError(first_error_ + suffix)
        total = _streamed_chunk(session, chunk, now, before, source, total, writing=True, preview=preview)
        if not records:
            raise ConsultError(f"{source}: no stakeholders in the file (only its header line)")
        return _logged(session=session, report=total, now=now, actor=actor, source=path.name)
    except BaseException:
        session.rollback()
        raise
    finally:
        text.close()


def _streamed_chunk(session: Session, chunk: list[tuple[int, StakeholderCreate]], now: datetime, before: int,
                    source: str, total: ImportReport, writing: bool,
                    preview: Callable[[Planned], None] | None = None) -> ImportReport:  # fmt: skip
    """Check a chunk for addresses met earlier in the file, then write it (unless a bad
    record was found: the rest of the file is still checked, nothing more written)."""
    seen: dict[str, int] = {}
    emails = [row.email for _, row in chunk]
    ours = col(Stakeholder.id) > before  # added by this import
    added = {e for start in range(0, len(emails), 500) for e in session.exec(
        select(Stakeholder.email).where(col(Stakeholder.email).in_(emails[start:start + 500]), ours)
    )}  # fmt: skip
    for line, row in chunk:
        if row.email in seen or row.email in added:
            where = f"line {seen[row.email]}" if row.email in seen else "an earlier line"
            raise ConsultError(f"{source}:{line}: e-mail {row.email} already on {where} (nothing was imported)")
        seen[row.email] = line
    if not writing:
        return total
    rows = [row for _, row in chunk]
    if preview is not None:
        preview(plan_import(session=session, rows=rows))
    report = _apply(session=session, rows=rows, now=now)
    return ImportReport(created=total.created + report.created, updated=total.updated + report.updated,
                        unchanged=total.unchanged + report.unchanged)  # fmt: skip


def _apply(*, session: Session, rows: list[StakeholderCreate], now: datetime) -> ImportReport:
    existing = _existing(session=session, emails=[r.email for r in rows])
    table, dialect = Stakeholder.__table__, session.get_bind().dialect  # type: ignore[attr-defined]
    at, no = bound_value(table.c.created_at, now, dialect), bound_value(table.c.bounced, False, dialect)
    as_json = to_driver(table.c.lists, dialect)
    new: list[tuple] = []
    updated = unchanged = 0
    for row in rows:
        known = existing.get(row.email)
        if known is None:
            new.append((row.email, row.name, row.organisation, row.category, row.country, row.language,
                        as_json(list(row.lists)), no, no, secrets.token_urlsafe(24), at, at))  # fmt: skip
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
    # New rows through the driver (values converted once above): SQLAlchemy's bulk insert
    # converted each row's parameters in Python, half of a 1,000,000-address import.
    insert_rows(connection=session.connection(), table=table, columns=_NEW_COLUMNS, rows=new)
    session.flush()  # written: the identity map holds them weakly now, so each chunk is let go
    return ImportReport(created=len(new), updated=updated, unchanged=unchanged)


_NEW_COLUMNS = ("email", "name", "organisation", "category", "country", "language", "lists", "opted_out", "bounced",
                "unsubscribe_token", "created_at", "updated_at")  # fmt: skip


def _logged(*, session: Session, report: ImportReport, now: datetime, actor: str, source: str) -> ImportReport:
    session.add(
        RegistryEntry(
            action="import",
            actor=actor,
            at=now,
            details={
                "source": source,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
            },
        )
    )
    session.flush()
    return report


def list_stakeholders(*, session: Session) -> list[Stakeholder]:
    return list(session.exec(select(Stakeholder).order_by(col(Stakeholder.id))))


def reachable(*, session: Session, audience: Audience | None = None) -> list[Stakeholder]:
    """Those mail may go to: not opted out, not bounced, and in the audience if one is given."""
    return [s for batch in _batches(session, select(Stakeholder), audience, 5000) for s in batch]


class Recipient(NamedTuple):
    """What a message needs of a stakeholder. A fan-out reads these, not whole rows: loading
    100,000 ORM objects (their JSON decoded, each put in the identity map) took a quarter
    of the time it took to queue their reminders (bench/mail_delivery.py)."""

    id: int
    name: str
    email: str
    language: str
    unsubscribe_token: str
    lists: list[str] | None  # read only when the audience names lists


def recipient_batches(*, session: Session, audience: Audience | None = None,
                      size: int = 5000) -> Iterator[list[Recipient]]:  # fmt: skip
    """`reachable`, `size` at a time in id order (keyset paging): a fan-out to a registry of
    a million addresses holds one batch, not the registry."""
    s = Stakeholder
    lists = col(s.lists) if audience is not None and audience.lists else null()
    query = select(s.id, s.name, s.email, s.language, s.unsubscribe_token, lists)  # type: ignore[call-overload]
    for batch in _batches(session, query, audience, size):
        yield [Recipient(*row) for row in batch]


def count_reachable(*, session: Session, audience: Audience | None = None) -> int:
    """How many `reachable` gives, counted by the database; lists (JSON) are matched here,
    reading that column alone. The staff board counted each consultation's audience by
    loading every stakeholder as a whole row."""
    if audience is None or not audience.lists:
        return session.exec(_reachable_where(select(func.count()).select_from(Stakeholder), audience)).one()
    return sum(len(batch) for batch in _batches(session, select(Stakeholder.id, Stakeholder.lists), audience, 5000))


def count_reachable_by_group(
    *, session: Session, audience: Audience | None = None
) -> list[tuple[str, str | None, int]]:
    """`count_reachable` by (category, country): the staff responses page's "invited" before
    the letter. It loaded every reachable stakeholder as a whole row for each view."""
    if audience is None or not audience.lists:
        by = (col(Stakeholder.category), col(Stakeholder.country))
        query = _reachable_where(select(*by, func.count()).select_from(Stakeholder), audience).group_by(*by)
        return [(category, country, n) for category, country, n in session.exec(query)]
    counted: dict[tuple[str, str | None], int] = {}
    columns = select(Stakeholder.id, Stakeholder.lists, Stakeholder.category, Stakeholder.country)
    for batch in _batches(session, columns, audience, 5000):
        for row in batch:
            counted[(row.category, row.country)] = counted.get((row.category, row.country), 0) + 1
    return [(category, country, n) for (category, country), n in counted.items()]


def _reachable_where(query: Any, audience: Audience | None) -> Any:
    query = query.where(col(Stakeholder.opted_out).is_(False), col(Stakeholder.bounced).is_(False))
    if audience is not None and audience.categories:
        query = query.where(col(Stakeholder.category).in_(audience.categories))
    if audience is not None and audience.countries:
        query = query.where(col(Stakeholder.country).in_(audience.countries))
    return query


def _batches(session: Session, query: Any, audience: Audience | None, size: int) -> Iterator[list[Any]]:
    query = _reachable_where(query, audience)
    after = 0
    while batch := list(session.exec(query.where(col(Stakeholder.id) > after).order_by(col(Stakeholder.id))
                                     .limit(size))):  # fmt: skip
        after = batch[-1].id or after
        if audience is not None and audience.lists:
            yield [s for s in batch if set(audience.lists) & set(s.lists or ())]
        else:
            yield batch


def audience_of(c: Consultation) -> Audience | None:
    return Audience.model_validate(c.audience) if c.audience else None


def opt_out(*, session: Session, token: str, now: datetime) -> Stakeholder:
    stakeholder = session.exec(select(Stakeholder).where(Stakeholder.unsubscribe_token == token)).first()
    if stakeholder is None:
        raise NotFound("unknown or expired unsubscribe link")
    stakeholder.opted_out, stakeholder.updated_at = True, now
    return stakeholder


def resubscribe(*, session: Session, stakeholder_id: int, reason: str, actor: str, now: datetime) -> Stakeholder:
    """Mail reaches this stakeholder again (opted out, or bounced and since fixed). Their
    opt-out was theirs: staff undo it only when they ask, and say so in the reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ConsultError("give a reason (e.g. “asked by e-mail on 3 May to be mailed again”): it is kept in the "
                           "registry's log")  # fmt: skip
    person = session.get(Stakeholder, stakeholder_id)
    if person is None:
        raise NotFound(f"no stakeholder {stakeholder_id}")
    if not person.opted_out and not person.bounced:
        raise ConsultError(f"{person.email} already receives mail")
    details = {"email": person.email, "was_opted_out": person.opted_out, "was_bounced": person.bounced}
    person.opted_out = person.bounced = False
    person.bounce_reason, person.updated_at = None, now
    session.add(RegistryEntry(stakeholder_id=person.id, action="resubscribe", actor=actor, at=now,
                              reason=reason[:500], details=details))  # fmt: skip
    return person


def history(*, session: Session, stakeholder_id: int | None = None, limit: int = 50) -> list[RegistryEntry]:
    query = select(RegistryEntry).order_by(col(RegistryEntry.id).desc()).limit(limit)
    if stakeholder_id is not None:
        query = query.where(RegistryEntry.stakeholder_id == stakeholder_id)
    return list(session.exec(query))


@dataclass(frozen=True, slots=True)
class RegistryFilter:
    q: str = ""
    category: str = ""
    country: str = ""
    language: str = ""
    list: str = ""
    mail: str = ""  # reachable | opted_out | bounced


def search(*, session: Session, wanted: RegistryFilter, before: int | None = None,
           limit: int = 50) -> tuple[list[Stakeholder], int, int | None]:  # fmt: skip
    """A page of the registry (newest first, by id), the number matching, and where the next page starts."""
    S = Stakeholder
    query = select(S)
    if wanted.q:
        pattern = contains(wanted.q)
        query = query.where(or_(*(func.lower(c).like(func.lower(pattern), escape="\\")
                                  for c in (col(S.name), col(S.email), col(S.organisation)))))  # fmt: skip
    if wanted.category:
        query = query.where(S.category == wanted.category)
    if wanted.country:
        query = query.where(S.country == wanted.country.upper())
    if wanted.language:
        query = query.where(S.language == wanted.language)
    if wanted.list:
        query = query.where(cast(col(S.lists), Text).like(f'%"{wanted.list}"%'))
    if wanted.mail == "reachable":
        query = query.where(col(S.opted_out).is_(False), col(S.bounced).is_(False))
    elif wanted.mail == "opted_out":
        query = query.where(col(S.opted_out).is_(True))
    elif wanted.mail == "bounced":
        query = query.where(col(S.bounced).is_(True))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    if before is not None:
        query = query.where(col(S.id) < before)
    found = list(session.exec(query.order_by(col(S.id).desc()).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    return found, total, (found[-1].id if more and found else None)

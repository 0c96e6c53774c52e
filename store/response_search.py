"""Responses as staff look for them: filtered, searched, paged by id, and streamed out for
an export. Withheld ones included — moderation reads them in full.

Paging is by id (keyset), never by OFFSET: the 2,000th page of a 100,000-response
consultation costs what the first does (bench/staff_responses.py measures it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

from sqlalchemy import Text, and_, cast, func, or_
from sqlmodel import Session, col, select

from store.counts import ONLINE
from store.statements import contains
from store.submissions import public
from store.tables import OutboxMessage, Stakeholder, Submission

PAGE = 50
STATUSES = ("published", "withheld", "unconfirmed", "withdrawn", "private")  # store.submissions.status_of
ATTACHMENT = ("yes", "no")


@dataclass(frozen=True, slots=True)
class ResponseFilter:
    """What the staff table's form asks for; empty strings mean "any"."""

    q: str = ""
    category: str = ""
    country: str = ""
    language: str = ""
    channel: str = ""
    status: str = ""  # one of STATUSES
    attachment: str = ""  # yes | no

    @classmethod
    def of(cls, values: dict[str, str]) -> ResponseFilter:
        return cls(**{f.name: (values.get(f.name) or "").replace("\x00", "").strip()[:200] for f in fields(cls)})

    def query_string(self) -> str:
        from urllib.parse import urlencode

        return urlencode({f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)})


def _status(status: str):
    """store.submissions.status_of, as SQL."""
    S = Submission
    confirmed, live = col(S.confirmed_at).is_not(None), col(S.withdrawn_at).is_(None)
    return {
        "withdrawn": ~live,
        "unconfirmed": and_(live, ~confirmed),
        "withheld": and_(live, confirmed, col(S.published).is_(False)),
        "private": and_(live, confirmed, col(S.published).is_(True), col(S.publication) == "private"),
        "published": public(),
    }[status]


def _where(query, consultation_id: int, wanted: ResponseFilter):
    S = Submission
    query = query.where(S.consultation_id == consultation_id)
    if wanted.q:
        pattern = contains(wanted.q)
        text_of = [col(S.name), col(S.organisation), col(S.summary), col(S.email), col(S.reference),
                   cast(col(S.answers), Text)]  # fmt: skip
        query = query.where(or_(*(func.lower(c).like(func.lower(pattern), escape="\\") for c in text_of)))
    if wanted.category:
        query = query.where(S.category == wanted.category)
    if wanted.country:
        query = query.where(S.country == wanted.country.upper())
    if wanted.language:
        query = query.where(S.language == wanted.language)
    if wanted.channel == "online":
        query = query.where(col(S.channel).in_(ONLINE))
    elif wanted.channel:
        query = query.where(S.channel == wanted.channel)
    if wanted.status in STATUSES:
        query = query.where(_status(wanted.status))
    if wanted.attachment in ATTACHMENT:
        has = col(S.attachment_path).is_not(None)
        query = query.where(has if wanted.attachment == "yes" else ~has)
    return query


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Submission]
    total: int  # matching the filter, all pages
    next_before: int | None  # the id to page on from (None: this is the last page)


def search(
    *, session: Session, consultation_id: int, wanted: ResponseFilter, before: int | None = None, limit: int = PAGE
) -> Page:
    """Newest first, `limit` at a time, from below id `before`."""
    query = _where(select(Submission), consultation_id, wanted)
    if before is not None:
        query = query.where(col(Submission.id) < before)
    rows = list(session.exec(query.order_by(col(Submission.id).desc()).limit(limit + 1)))
    total = session.exec(_where(select(func.count()).select_from(Submission), consultation_id, wanted)).one()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, total, rows[-1].id if more and rows else None)


def stream(
    *, session: Session, consultation_id: int, wanted: ResponseFilter, chunk: int = 1000
) -> Iterator[Submission]:
    """Every matching response, oldest first, read `chunk` rows at a time (constant memory)."""
    after = 0
    while True:
        query = _where(select(Submission), consultation_id, wanted).where(col(Submission.id) > after)
        rows = list(session.exec(query.order_by(col(Submission.id)).limit(chunk)))
        if not rows:
            return
        yield from rows
        after = rows[-1].id or after
        session.expunge_all()  # what was read leaves the identity map


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Invited against responded, by category and by country."""

    invited_total: int
    responded_total: int
    by_category: list[tuple[str, int, int]]  # (category, invited, responded)
    by_country: list[tuple[str, int, int]]


def breakdown(
    *, session: Session, consultation_id: int, invited_before_letter: list[tuple[str, str | None, int]] | None
) -> Breakdown:
    """Invited: those the invitation was queued to (after the letter), else those it would
    go to now (`invited_before_letter`: the audience's reachable stakeholders, counted by
    category and country)."""
    S = Submission
    responded_cat = dict(session.exec(select(S.category, func.count()).where(S.consultation_id == consultation_id)
                                      .group_by(S.category)).all())  # fmt: skip
    responded_cty = dict(session.exec(select(S.country, func.count()).where(S.consultation_id == consultation_id)
                                      .group_by(S.country)).all())  # fmt: skip
    if invited_before_letter is None:
        sent = (
            select(Stakeholder.category, Stakeholder.country, func.count(func.distinct(OutboxMessage.stakeholder_id)))
            .join(Stakeholder, col(Stakeholder.id) == col(OutboxMessage.stakeholder_id))
            .where(OutboxMessage.consultation_id == consultation_id, OutboxMessage.purpose == "invitation")
            .group_by(col(Stakeholder.category), col(Stakeholder.country))
        )
        invited_rows = [(cat, cty, n) for cat, cty, n in session.exec(sent)]
    else:
        invited_rows = invited_before_letter
    inv_cat: dict[str, int] = {}
    inv_cty: dict[str, int] = {}
    for cat, cty, n in invited_rows:
        inv_cat[cat] = inv_cat.get(cat, 0) + n
        inv_cty[cty or "—"] = inv_cty.get(cty or "—", 0) + n

    def table(invited: dict[str, int], responded: dict[str, int]) -> list[tuple[str, int, int]]:
        keys = sorted(set(invited) | set(responded), key=lambda k: (-responded.get(k, 0), -invited.get(k, 0), k))
        return [(k, invited.get(k, 0), responded.get(k, 0)) for k in keys]

    return Breakdown(sum(inv_cat.values()), sum(responded_cat.values()), table(inv_cat, responded_cat),
                     table(inv_cty, responded_cty))  # fmt: skip

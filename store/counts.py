"""How many responses a consultation has, from one query: the compilation, the public
page, the board, `show --json`, the API and the chairman's report all read their
numbers here, so they cannot disagree (a report once said 7 "online" while the
compilation held 6: it had counted a withheld response and the e-mailed ones)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from store.tables import Submission

ONLINE = frozenset({"web", "api"})  # the form and the API; anything imported is "other"


@dataclass(frozen=True, slots=True)
class Counts:
    received: int = 0  # every response stored, in whatever state
    published: int = 0  # what the public sees (store.submissions.public)
    withheld: int = 0  # confirmed, but withheld by a moderator
    unconfirmed: int = 0  # waiting for its respondent (or a moderator): counted apart
    withdrawn: int = 0
    private: int = 0  # confirmed, for the secretariat only (the respondent's choice)
    online: int = 0
    other: int = 0
    published_online: int = 0
    published_by_category: dict[str, int] = field(default_factory=dict)


def response_counts(conn: Connection, consultation_id: int) -> Counts:
    S = Submission.__table__.c  # type: ignore[attr-defined]
    confirmed, withdrawn = S.confirmed_at.is_not(None), S.withdrawn_at.is_not(None)
    rows = conn.execute(
        select(S.published, confirmed, withdrawn, S.publication, S.channel, S.category, func.count())
        .where(S.consultation_id == consultation_id)
        .group_by(S.published, confirmed, withdrawn, S.publication, S.channel, S.category)
    ).all()
    received = published = online = published_online = unconfirmed = gone = private = withheld = 0
    by_category: dict[str, int] = {}
    for is_published, is_confirmed, is_withdrawn, publication, channel, category, n in rows:
        received += n
        online += n if channel in ONLINE else 0
        if is_withdrawn:
            gone += n
        elif not is_confirmed:
            unconfirmed += n
        elif not is_published:
            withheld += n
        elif publication == "private":
            private += n
        else:
            published += n
            published_online += n if channel in ONLINE else 0
            by_category[category] = by_category.get(category, 0) + n
    return Counts(received=received, published=published, withheld=withheld, unconfirmed=unconfirmed,
                  withdrawn=gone, private=private, online=online, other=received - online,
                  published_online=published_online, published_by_category=by_category)  # fmt: skip

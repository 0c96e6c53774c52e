"""This database's random id (a row its migration wrote): Message-IDs are made from it, so
two installations never give one address two different messages under the same id."""

from __future__ import annotations

from sqlmodel import Session, select

from store.tables import Installation

_known: dict[str, str] = {}  # by database URL: the id never changes once written


def installation_key(session: Session) -> str:
    url = str(session.get_bind().engine.url)
    if url not in _known:
        key = session.exec(select(Installation.key).where(Installation.id == 1)).first()
        if key is None:  # a database older than the migration that writes it: run `consult init`
            raise RuntimeError("this database has no installation id: run `consult init` to upgrade its schema")
        _known[url] = key
    return _known[url]

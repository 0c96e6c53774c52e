"""Response references ("R-" and ten hex digits), unique by construction at any scale.

Each reference is a number taken once from the installation's counter (migration 0013),
put through a 40-bit permutation keyed by the installation's random key: distinct numbers
give distinct references, and a reference says nothing of how many came before it. The
permutation is a Feistel network (four rounds over two 20-bit halves), a bijection whatever
its round function; references are public identifiers, not secrets (the private link is
the secret), so a cheap integer mix serves as the round function — a million references
cost about a second.

References written before this scheme were random; a new one can meet an old one (rarely:
the importer draws again, store/submissions.py).
"""

from __future__ import annotations

import hashlib
import threading
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, text
from sqlmodel import Session

from store.installation import installation_key

SPACE = 1 << 40
_HALF, _MASK = 20, (1 << 20) - 1
_keys: dict[str, tuple[int, ...]] = {}
# On PostgreSQL single references come from a block of BLOCK numbers drawn at once and kept
# by the process: a round trip fewer for 31 web submissions in 32. Numbers a process holds
# when it stops are never used (the sequence never gives them again): a gap, no repeat.
BLOCK = 32
_spare: WeakKeyDictionary[Engine, list[int]] = WeakKeyDictionary()  # by database (tests use many)
_spare_lock = threading.Lock()


def _round_keys(session: Session) -> tuple[int, ...]:
    key = installation_key(session)
    if key not in _keys:
        digest = hashlib.blake2b(key.encode(), digest_size=16, person=b"consult-refs").digest()
        _keys[key] = tuple(int.from_bytes(digest[i : i + 4], "big") for i in range(0, 16, 4))
    return _keys[key]


def permute(number: int, keys: tuple[int, ...]) -> int:
    """The keyed bijection of [0, 2^40) onto itself."""
    left, right = number >> _HALF, number & _MASK
    for k in keys:
        mixed = ((right * 0x9E3779B1) ^ k) & 0xFFFFFFFF
        mixed = ((mixed ^ (mixed >> 15)) * 0x85EBCA6B) & 0xFFFFFFFF
        left, right = right, left ^ ((mixed ^ (mixed >> 13)) & _MASK)
    return (left << _HALF) | right


def numbers(*, session: Session, count: int) -> range | list[int]:
    """`count` numbers nobody else gets: from the PostgreSQL sequence (outside any
    transaction's rollback: a rolled-back import only skips numbers), or from SQLite's
    counter row, inside the caller's transaction (SQLite has one writer at a time)."""
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        if count >= BLOCK:
            return _next_values(session, count)
        with _spare_lock:  # a web submission takes one of a block this process drew before
            spare = _spare.setdefault(session.get_bind().engine, [])
            if len(spare) < count:
                spare += _next_values(session, BLOCK)
            taken, spare[:] = spare[:count], spare[count:]
            return taken
    end = session.execute(
        text("UPDATE reference_counter SET next = next + :n WHERE id = 1 RETURNING next"), {"n": count}
    ).scalar_one()
    return range(end - count, end)


def _next_values(session: Session, count: int) -> list[int]:
    rows = session.execute(text("SELECT nextval('reference_number') FROM generate_series(1, :n)"), {"n": count})
    return [r[0] for r in rows]


def draw(*, session: Session, count: int) -> list[str]:
    """`count` new references."""
    keys = _round_keys(session)
    taken = numbers(session=session, count=count)
    if taken and max(taken) >= SPACE:
        raise RuntimeError("the reference space (2^40) is used up")
    return [f"R-{permute(n, keys):010X}" for n in taken]

"""Staff accounts: login names with argon2 password hashes. Here, not in web/, because the
CLI (`consult staff add`, `consult demo`) creates them without loading the web stack."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlmodel import Session, select

from states.errors import ConsultError
from store.tables import StaffUser

_hasher = PasswordHasher()


def find_staff(*, session: Session, name: str) -> StaffUser | None:
    return session.exec(select(StaffUser).where(StaffUser.name == name.strip())).first()


def add_staff(*, session: Session, name: str, password: str, now: datetime) -> StaffUser:
    name = name.strip()
    if not name or len(name) > 80 or not name.isprintable():
        raise ConsultError("a staff name is 1–80 printable characters")
    if len(password) < 10:
        raise ConsultError("a staff password needs at least 10 characters")
    existing = find_staff(session=session, name=name)
    if existing is not None:
        existing.password_hash = _hasher.hash(password)
        return existing
    user = StaffUser(name=name, password_hash=_hasher.hash(password), created_at=now)
    session.add(user)
    return user


def verify_staff(*, session: Session, name: str, password: str) -> StaffUser | None:
    user = find_staff(session=session, name=name)
    if user is None:
        _hasher.hash(password)  # spend the same time whether or not the name exists
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except VerificationError:
        return None
    return user

"""Staff accounts: login names with argon2 password hashes, and their sessions, held here
on the server. Here, not in web/, because the CLI (`consult staff add|remove`, `consult
demo`) manages them without loading the web stack."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import delete
from sqlmodel import Session, col, select

from states.contract import Role
from states.errors import ConsultError, NotFound
from store.tables import StaffSession, StaffUser

_hasher = PasswordHasher()


def find_staff(*, session: Session, name: str) -> StaffUser | None:
    if "\x00" in name:  # never a login name, and PostgreSQL refuses it in a query
        return None
    return session.exec(select(StaffUser).where(StaffUser.name == name.strip())).first()


def add_staff(*, session: Session, name: str, password: str, now: datetime, role: str | None = None) -> StaffUser:
    """A new account (role: editor unless given), or a new password — and the role, if
    given — for an existing one."""
    name = name.strip()
    if role is not None and role not in {r.value for r in Role}:
        raise ConsultError(f"unknown role {role!r}; roles are {', '.join(r.value for r in Role)}")
    if not name or len(name) > 80 or not name.isprintable():
        raise ConsultError("a staff name is 1–80 printable characters")
    if len(password) < 10:
        raise ConsultError("a staff password needs at least 10 characters")
    existing = find_staff(session=session, name=name)
    if existing is not None:
        existing.password_hash = _hasher.hash(password)
        if role is not None:
            existing.role = role
        _end_sessions(session=session, user=existing)  # a new password logs every browser out
        return existing
    user = StaffUser(name=name, password_hash=_hasher.hash(password), created_at=now, role=role or Role.EDITOR.value)
    session.add(user)
    return user


def verify_staff(*, session: Session, name: str, password: str) -> StaffUser | None:
    """The user if the password is theirs. An unknown name costs no argon2 at all (64 MiB
    and ~50 ms a check): the callers throttle attempts per name and per address first."""
    user = find_staff(session=session, name=name)
    if user is None:
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except VerificationError:
        return None
    return user


def list_staff(*, session: Session) -> list[StaffUser]:
    return list(session.exec(select(StaffUser).order_by(col(StaffUser.name))))


def set_role(*, session: Session, name: str, role: str, by: str) -> StaffUser:
    """Change an account's role (takes effect on its next request). The last admin cannot
    step down: someone must still be able to manage accounts."""
    if role not in {r.value for r in Role}:
        raise ConsultError(f"unknown role {role!r}; roles are {', '.join(r.value for r in Role)}")
    user = find_staff(session=session, name=name)
    if user is None:
        raise NotFound(f"no staff user {name!r}")
    if user.role == Role.ADMIN.value and role != Role.ADMIN.value and _admins(session) <= 1:
        raise ConsultError(f"{name} is the last admin: make someone else admin first")
    user.role = role
    return user


def _admins(session: Session) -> int:
    return len(list(session.exec(select(StaffUser.id).where(StaffUser.role == Role.ADMIN.value))))


def remove_staff(*, session: Session, name: str) -> bool:
    """Remove a staff user and end every session of theirs; False if there was none."""
    user = find_staff(session=session, name=name)
    if user is None:
        return False
    _end_sessions(session=session, user=user)
    session.delete(user)
    return True


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(*, session: Session, user: StaffUser, now: datetime) -> str:
    """A new session's token (for the cookie); only its digest is kept."""
    token = secrets.token_urlsafe(32)
    assert user.id is not None
    session.add(StaffSession(token_sha256=_digest(token), staff_user_id=user.id, created_at=now))
    return token


def session_user(*, session: Session, token: str) -> StaffUser | None:
    """Whose session this is, while it lasts (ended by logout, removal, a new password)."""
    query = (
        select(StaffUser)
        .join(StaffSession, col(StaffSession.staff_user_id) == StaffUser.id)
        .where(StaffSession.token_sha256 == _digest(token))
    )
    return session.exec(query).first()


def end_session(*, session: Session, token: str) -> None:
    session.execute(delete(StaffSession).where(col(StaffSession.token_sha256) == _digest(token)))


def _end_sessions(*, session: Session, user: StaffUser) -> None:
    session.execute(delete(StaffSession).where(col(StaffSession.staff_user_id) == user.id))

"""Who a staff request comes from and what their role lets them do (issue 13).

A route names the least role it needs with `Needs(role)` (pages, by the session cookie)
or `ApiNeeds(role)` (web/api.py: HTTP Basic or the cookie with X-CSRF-Token); a trigger's
least role is its row's in the lifecycle table, checked with `ensure_may`. The role is
read from the database on every request (web/security.StaffSessions), so a changed role
or a removed account takes effect at once. The role × route matrix test
(tests/test_roles.py) reads these declarations off the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from states.contract import Role, Transition
from states.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    role: Role

    @property
    def actor(self) -> str:
        """As the audit log names people."""
        return f"staff:{self.name}"

    def may(self, needed: Role) -> bool:
        return self.role.covers(needed)

    def may_fire(self, row: Transition) -> bool:
        return row.role is not None and self.may(row.role)


class LoginRequired(Exception):
    """No staff session: pages send the browser to the login form."""


def identity(request: Request) -> Identity | None:
    """The staff user behind the session cookie (checked against the server's sessions)."""
    found = request.scope.get("state", {}).get("staff_identity")
    return found if isinstance(found, Identity) else None


def refuse(who: Identity, needed: Role, what: str) -> Forbidden:
    return Forbidden(f"{what} needs the {needed.value} role; {who.name} is {who.role.value}")


def ensure_may(who: Identity, row: Transition) -> None:
    if row.role is None:
        raise Forbidden(f"{row.trigger.dashed} is fired by the clock, not by staff")
    if not who.may(row.role):
        raise refuse(who, row.role, row.trigger.dashed)


class Needs:
    """A staff page's least role: anonymous → the login form, too low a role → 403."""

    def __init__(self, role: Role) -> None:
        self.role = role

    def __call__(self, request: Request) -> Identity:
        who = identity(request)
        if who is None:
            raise LoginRequired()
        if not who.may(self.role):
            raise refuse(who, self.role, f"{request.method} {request.url.path}")
        return who


# What a page handler takes to say who may call it: `who: Editor`, and so on.
Viewer = Annotated[Identity, Depends(Needs(Role.VIEWER))]
Moderator = Annotated[Identity, Depends(Needs(Role.MODERATOR))]
Editor = Annotated[Identity, Depends(Needs(Role.EDITOR))]
Admin = Annotated[Identity, Depends(Needs(Role.ADMIN))]

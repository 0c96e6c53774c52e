"""Errors the domain raises, by kind. Each carries one line a person can act on.

The kind is what the edges map, once each: the CLI to an exit code (cli/context.py), the
web to an HTTP status and an HTML or JSON body (web/errors.py). Nothing else translates.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Kind(StrEnum):
    BAD_INPUT = "bad_input"  # the request itself is wrong: fix it and retry (422, exit 2)
    NOT_FOUND = "not_found"  # what it names does not exist (404, exit 2)
    REFUSED = "refused"  # well-formed, but a rule of the lifecycle says no (422, exit 2)
    CONFLICT = "conflict"  # the state moved, or is taken, under the caller (409, exit 1)
    BUSY = "busy"  # the database could not answer in time: retry later (503, exit 1)
    INTEGRITY = "integrity"  # the record contradicts itself: a fault to investigate (500, exit 1)
    FORBIDDEN = "forbidden"  # the staff user's role does not allow it (403, exit 2)


class ConsultError(Exception):
    kind = Kind.BAD_INPUT

    @property
    def exit_code(self) -> int:
        return 1 if self.kind in (Kind.CONFLICT, Kind.BUSY, Kind.INTEGRITY) else 2


class NotFound(ConsultError):
    kind = Kind.NOT_FOUND


class Forbidden(ConsultError):
    """The staff user is known, but their role does not cover this action."""

    kind = Kind.FORBIDDEN


class Conflict(ConsultError):
    """Someone else changed it first, or the name/number is already taken; nothing of this
    attempt was written."""

    kind = Kind.CONFLICT


class Busy(ConsultError):
    kind = Kind.BUSY


class UnknownTrigger(ConsultError):
    def __init__(self, text: str, known: Iterable[str]) -> None:
        super().__init__(f"unknown trigger {text!r}; triggers are: {', '.join(known)}")


class TriggerNotAllowed(Conflict):
    """The trigger exists but not from the consultation's current stage: a conflict with
    where it stands now (another person may just have moved it)."""

    def __init__(self, *, stage: str, trigger: str, allowed: Iterable[str]) -> None:
        allowed = sorted(allowed)
        self.stage, self.trigger, self.allowed = stage, trigger, allowed
        listed = ", ".join(allowed) if allowed else "none (final stage)"
        super().__init__(f"trigger {trigger!r} is not allowed in stage {stage!r}; allowed there: {listed}")


class GuardRefused(ConsultError):
    """A guard of the lifecycle table said no; the message says which rule and why."""

    kind = Kind.REFUSED

    def __init__(self, *, trigger: str, rule: str, explanation: str) -> None:
        self.trigger, self.rule = trigger, rule
        super().__init__(f"{trigger} refused by rule {rule}: {explanation}")


class TimingError(ConsultError):
    """A consultation's dates break a timing rule of DESIGN §2."""

    kind = Kind.REFUSED

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(f"timing rule {rule}: {message}")

"""What a row of the lifecycle table is made of: everything one trigger is.

A `Transition` declares its trigger and stages, who may fire it (the clock, a flow, or
staff with a role), the parameters it takes (typed), its guards, the pure `apply` step
that says what changes on the consultation, the notice it causes and when it falls due.
A row may also issue a document, archived as issued. The lifecycle service
(store/lifecycle.py) carries a row out; the CLI's options, the web's
buttons and form fields, the API's allowed triggers, the clock and the diagram are all
read off the rows. Adding a trigger is adding a row (and its wording).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from states.guards import Facts
from states.stages import Document, Notice, Stage, Trigger
from states.timing import Plan

Guard = Callable[[Facts, datetime], bool]
Due = Callable[[Plan], datetime | None]


class Actor(StrEnum):
    """Who fires a trigger in the normal course: staff by hand, the clock at its timer, or
    a flow as soon as the stage is entered."""

    STAFF = "staff"
    TIMER = "timer"
    FLOW = "flow"


class Role(StrEnum):
    """Staff roles, from most to least powerful (DESIGN §9). A row names the least role
    that may fire it; a higher one may too."""

    ADMIN = "admin"
    EDITOR = "editor"
    MODERATOR = "moderator"
    VIEWER = "viewer"

    def covers(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) <= order.index(needed)


class ParamKind(StrEnum):
    TEXT = "text"  # one line
    LONG_TEXT = "long_text"  # paragraphs (a meeting summary)
    DEADLINE = "deadline"  # a date (the end of that day in the zone) or a date-time with offset
    LETTER_NUMBER = "letter_number"  # CL-YY/NN, from the secretariat's registry


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: ParamKind
    help: str
    required: bool = False
    max_length: int = 200

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True, slots=True)
class Request:
    """A trigger's parameters, typed. Each row says which of them it takes."""

    reason: str | None = None
    new_deadline: datetime | None = None
    letter_number: str | None = None
    meeting_summary: str | None = None

    def given(self) -> set[str]:
        return {name for name in self.__slots__ if getattr(self, name) not in (None, "")}


@dataclass(frozen=True, slots=True)
class Changes:
    """What `apply` changes on the consultation: column values and the audit row's details.
    `allocate_letter_number_from`: the store gives the year's next number, not below this one
    (it needs the database to know which are taken). `free_slug`: the store renames the
    slug out of the way (it needs the row's id), so a new consultation may take it."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    allocate_letter_number_from: int | None = None
    free_slug: bool = False


Apply = Callable[[Facts, Request, datetime], Changes]


def no_changes(facts: Facts, request: Request, now: datetime) -> Changes:
    return Changes()


@dataclass(frozen=True, slots=True)
class Transition:
    trigger: Trigger
    sources: tuple[Stage, ...]
    dest: Stage
    by: Actor
    role: Role | None = Role.EDITOR  # staff who may fire it by hand (None: nobody, the clock only)
    params: tuple[Param, ...] = ()
    guards: tuple[Guard, ...] = ()
    apply: Apply = no_changes
    notice: Notice | None = None  # told to stakeholders, recorded in the same transaction
    notice_if: Guard | None = None  # ... only when this holds (before the change)
    issues: Document | None = None  # archived as issued, in the same transaction
    due: Due | None = None  # when it falls due: the clock fires TIMER/FLOW rows then; staff see it
    late: Due | None = None  # when it is overdue (None: as soon as it falls due)
    creates: bool = False  # also creates a new consultation in `dest`
    side: bool = False  # an action beside the main path (cancel, extend, re-run), never "what is next"
    irreversible: bool = False  # the web asks for confirmation first

    @property
    def by_clock(self) -> bool:
        return self.by is not Actor.STAFF

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

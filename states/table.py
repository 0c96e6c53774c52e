"""The lifecycle, declared once (DESIGN §2). Everything else derives from this table:
the machine, the allowed-trigger lists, the audit replay and the README diagram."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from states import guards as g
from states.stages import FINAL_STAGES, Notice, Stage, Trigger

Guard = Callable[[g.Facts, datetime], bool]


class Actor(StrEnum):
    """Who normally fires a trigger: staff by hand, or the clock's flows."""

    STAFF = "staff"
    TIMER = "timer"
    FLOW = "flow"


@dataclass(frozen=True, slots=True)
class Transition:
    trigger: Trigger
    sources: tuple[Stage, ...]
    dest: Stage
    by: Actor
    guards: tuple[Guard, ...] = ()
    creates: bool = False  # also creates a new consultation in `dest`
    notice: Notice | None = None  # told to stakeholders, in the same transaction


NON_FINAL = tuple(s for s in Stage if s not in FINAL_STAGES)

TRANSITIONS: tuple[Transition, ...] = (
    Transition(Trigger.PROPOSE, (), Stage.PROPOSED, Actor.STAFF, creates=True),
    Transition(
        Trigger.DECIDE, (Stage.PROPOSED,), Stage.DECIDED, Actor.STAFF, (g.plan_complete, g.plan_in_order), creates=True
    ),
    Transition(
        Trigger.ISSUE_LETTER,
        (Stage.DECIDED,),
        Stage.LETTER_ISSUED,
        Actor.STAFF,
        (g.plan_complete, g.plan_in_order, g.decision_taken, g.deadline_not_passed),
        notice=Notice.INVITATION,
    ),
    Transition(Trigger.OPEN_SUBMISSIONS, (Stage.LETTER_ISSUED,), Stage.OPEN, Actor.TIMER, (g.opening_reached,)),
    Transition(Trigger.CLOSE_SUBMISSIONS, (Stage.OPEN,), Stage.CLOSED, Actor.TIMER, (g.deadline_passed,)),
    # Staff may re-run the compilation: compiled → compiled records the re-run.
    Transition(Trigger.COMPILE, (Stage.CLOSED, Stage.COMPILED), Stage.COMPILED, Actor.FLOW, notice=Notice.COMPILATION),
    Transition(
        Trigger.HOLD_MEETING,
        (Stage.COMPILED,),
        Stage.MEETING_HELD,
        Actor.STAFF,
        (g.meeting_day_reached, g.summary_recorded),
    ),
    Transition(Trigger.REPORT, (Stage.MEETING_HELD,), Stage.REPORTED, Actor.STAFF),
    # Stakeholders hear of a cancellation only if a letter had invited them.
    Transition(Trigger.CANCEL, NON_FINAL, Stage.CANCELLED, Actor.STAFF, (g.reason_given,), notice=Notice.CANCELLATION),
    # From closed only until compiled: reopening after the compilation would orphan it.
    Transition(
        Trigger.EXTEND_DEADLINE,
        (Stage.OPEN, Stage.CLOSED),
        Stage.OPEN,
        Actor.STAFF,
        (g.new_deadline_later, g.extended_plan_in_order),
        notice=Notice.DEADLINE_EXTENDED,
    ),
)


def transition_for(stage: Stage | None, trigger: Trigger) -> Transition | None:
    """The row that lets `trigger` fire from `stage` (None: creating a consultation)."""
    for t in TRANSITIONS:
        if t.trigger is trigger and (stage in t.sources or (stage is None and t.creates)):
            return t
    return None


def allowed_triggers(stage: Stage) -> list[Trigger]:
    return [t.trigger for t in TRANSITIONS if stage in t.sources]


def creation_stage(trigger: Trigger) -> Stage | None:
    t = transition_for(None, trigger)
    return t.dest if t else None
